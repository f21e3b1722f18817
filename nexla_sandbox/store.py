"""SQLite document store: the sandbox's only persistent state.

Every object is one JSON row keyed by (kind, id). SQLite (stdlib) is the source of truth; a
write-through in-memory copy of the decoded rows keeps a page-of-100 read free of JSON
decoding. One connection guarded by one re-entrant lock: the whole request runs under it, so
"database is locked" cannot happen (there is no second writer). A file database is also locked
against other processes (`<db>.lock`): a second server would serve from its own stale cache.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections import defaultdict
from contextlib import contextmanager

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class DatabaseInUse(RuntimeError):
    """Another sandbox (process or Store) is serving this database file."""


def _lock_file(path: str) -> int:
    """Hold an exclusive flock on `<path>.lock` (released when the fd closes, also on a crash);
    the file names the holder's pid for the error message."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DatabaseInUse(f"another sandbox is serving {path} (pid {pid})") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def to_json(obj) -> str:
    """The one JSON text form: stored rows and every response (so cached fragments join
    byte-identically). NaN/Infinity are refused: they are not JSON."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class Store:
    """Documents by kind and id, plus small meta values, with transactional writes.

    Docs returned by `get`/`all` are the cached objects: treat them as read-only and write
    changes back with `put` (callers copy before editing).
    """

    def __init__(self, path: str | None = None):
        self.path = path
        self.lock = threading.RLock()
        self._lock_fd = _lock_file(path) if path else None
        if path:
            # Owner-only from the start (SQLite gives -wal/-shm the db file's mode): the state
            # holds credentials and service keys.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False,
                                   isolation_level=None)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._depth = 0
        self._begun = False
        self._undo: list = []
        self.version = 0  # bumped on every write: lets callers cache derived data safely
        self._load()

    # -- loading ------------------------------------------------------------------------------
    def _load(self):
        self.version += 1
        self._docs: dict[str, dict[int, dict]] = _Kinds(self._load_kind)
        self._meta: dict[str, object] = {}
        self._indexes: dict[tuple[str, str], dict] = {}
        self._max_id: dict[str, int] = {}
        self._order: dict[str, list[int]] = {}  # cached sorted ids per kind
        for key, value in self._db.execute("SELECT key, value FROM meta"):
            self._meta[key] = json.loads(value)

    def _load_kind(self, kind: str) -> dict[int, dict]:
        """One kind's documents, read on its first use: a command that makes a few requests
        reads only the kinds they touch (the audit log and run history grow without bound)."""
        docs = {doc_id: json.loads(body) for doc_id, body in self._db.execute(
            "SELECT id, body FROM docs WHERE kind = ? ORDER BY id", (kind,))}
        if docs:
            self._max_id[kind] = max(self._max_id.get(kind, 0), max(docs))
        return docs

    def is_empty(self) -> bool:
        return not self._meta.get("seeded")

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def tx(self):
        """One atomic unit: on any exception the SQLite rows and the cache are both rolled back.
        BEGIN is issued lazily at the first write, so read-only requests run no SQL at all."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._begun = False
                self._undo = []
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    if self._begun:
                        self._db.execute("ROLLBACK")
                    self._revert()
                raise
            self._depth -= 1
            if outer:
                if self._begun:
                    self._db.execute("COMMIT")
                self._undo = []

    def touched(self) -> list[tuple[str, int, dict | None]]:
        """(kind, id, doc before this transaction) for every doc written so far in it, in first
        write order: the audit log diffs these against the current docs."""
        seen: dict = {}
        for kind, key, old in self._undo:
            if kind is not None and (kind, key) not in seen:
                seen[(kind, key)] = old
        return [(kind, key, old) for (kind, key), old in seen.items()]

    def _revert(self):
        self.version += 1
        for kind, key, old in reversed(self._undo):
            if kind is None:
                if old is _MISSING:
                    self._meta.pop(key, None)
                else:
                    self._meta[key] = old
            elif old is None:
                self._cache_remove(kind, key)
            else:
                self._cache_set(kind, old)
        self._undo = []

    def _need_tx(self):
        if self._depth == 0:
            raise RuntimeError("store writes must run inside store.tx()")
        if not self._begun:
            self._db.execute("BEGIN")
            self._begun = True

    # -- documents ----------------------------------------------------------------------------
    def get(self, kind: str, doc_id) -> dict | None:
        return self._docs[kind].get(doc_id) if isinstance(doc_id, int) else None

    def all(self, kind: str) -> list[dict]:
        """All docs of a kind in ascending id order."""
        return list(self.iter_all(kind))

    def iter_all(self, kind: str):
        """Like all(), lazily (a page of a big list does not build the whole list)."""
        docs = self._docs[kind]
        order = self._order.get(kind)
        if order is None:
            order = self._order[kind] = sorted(docs)
        return (docs[k] for k in order if k in docs)

    def count(self, kind: str) -> int:
        return len(self._docs[kind])

    def put(self, kind: str, doc: dict) -> dict:
        self._need_tx()
        doc_id = doc["id"]
        self._undo.append((kind, doc_id, self._docs[kind].get(doc_id)))
        self._db.execute("INSERT OR REPLACE INTO docs (kind, id, body) VALUES (?, ?, ?)",
                         (kind, doc_id, to_json(doc)))
        self._cache_set(kind, doc)
        return doc

    def delete(self, kind: str, doc_id: int):
        self._need_tx()
        old = self._docs[kind].get(doc_id)
        if old is None:
            return
        self._undo.append((kind, doc_id, old))
        self._db.execute("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, doc_id))
        self._cache_remove(kind, doc_id)

    def find(self, kind: str, field: str, value) -> list[dict]:
        """Docs whose `field` equals `value`, via a lazily built in-memory index."""
        index = self._indexes.get((kind, field))
        if index is None:
            index = defaultdict(set)
            for doc in self._docs[kind].values():
                index[_index_key(doc.get(field))].add(doc["id"])
            self._indexes[(kind, field)] = index
        ids = index.get(_index_key(value), ())
        docs = self._docs[kind]
        return [docs[i] for i in sorted(ids)]

    def _cache_set(self, kind, doc):
        self.version += 1
        old = self._docs[kind].get(doc["id"])
        if old is None:
            self._order.pop(kind, None)
        self._docs[kind][doc["id"]] = doc
        if doc["id"] > self._max_id.get(kind, 0):
            self._max_id[kind] = doc["id"]
        for (ikind, field), index in self._indexes.items():
            if ikind == kind:
                if old is not None:
                    index[_index_key(old.get(field))].discard(doc["id"])
                index[_index_key(doc.get(field))].add(doc["id"])

    def _cache_remove(self, kind, doc_id):
        self.version += 1
        old = self._docs[kind].pop(doc_id, None)
        if old is None:
            return
        self._order.pop(kind, None)
        for (ikind, field), index in self._indexes.items():
            if ikind == kind:
                index[_index_key(old.get(field))].discard(doc_id)

    # -- meta values and id counters ----------------------------------------------------------
    def meta(self, key: str, default=None):
        return self._meta.get(key, default)

    def set_meta(self, key: str, value):
        self._need_tx()
        self.version += 1
        self._undo.append((None, key, self._meta.get(key, _MISSING)))
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, to_json(value)))
        self._meta[key] = value

    def next_id(self, kind: str, floor: int = 0) -> int:
        """Next id for `kind`: above both the counter and every stored id (seeds use fixed ids)."""
        key = f"counter:{kind}"
        self._docs[kind]  # loaded, so that its highest stored id is known
        current = max(self._meta.get(key, 0), floor, self._max_id.get(kind, 0))
        self.set_meta(key, current + 1)
        return current + 1

    def wipe(self):
        """Delete everything (used by reset)."""
        self.restore(([], []))

    def snapshot(self) -> tuple[list, list]:
        """All rows as stored text: cheap to keep, and restoring from text cannot share objects."""
        with self.lock:
            return (self._db.execute("SELECT kind, id, body FROM docs").fetchall(),
                    self._db.execute("SELECT key, value FROM meta").fetchall())

    def restore(self, snap: tuple[list, list]):
        rows, meta = snap
        with self.lock:
            with self.tx():
                self._need_tx()
                self._db.execute("DELETE FROM docs")
                self._db.execute("DELETE FROM meta")
                self._db.executemany("INSERT INTO docs (kind, id, body) VALUES (?, ?, ?)", rows)
                self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta)
            self._load()

    def close(self):
        with self.lock:
            self._db.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


_MISSING = object()


class _Kinds(dict):
    """kind -> {id: doc}, each kind loaded by `load(kind)` when first looked up (callers hold
    the store's lock, so two threads never load one kind at once)."""

    def __init__(self, load):
        super().__init__()
        self._load = load

    def __missing__(self, kind: str) -> dict:
        docs = self[kind] = self._load(kind)
        return docs


def _index_key(value):
    # Lists/dicts are not hashable; index them by their JSON text.
    return value if isinstance(value, (int, str, float, bool, type(None))) else to_json(value)
