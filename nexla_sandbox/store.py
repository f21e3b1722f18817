"""SQLite document store: the sandbox's only persistent state.

Every object is one JSON row keyed by (kind, id). SQLite (stdlib) is the source of truth; a
write-through in-memory copy of the decoded rows keeps a page-of-100 read free of JSON
decoding. Run history is the exception (COLD_KINDS): it outgrows everything else (ten runs
with their logs per flow), so whole runs stay in SQLite, found through an index on their flow
id, and memory holds only each run's brief (its figures, no logs): what a page of flows shows.
Without a database file the rows live in SQLite's private temporary file, not in memory: the
process holds only the decoded copy. One connection guarded by one re-entrant lock: the whole
request runs under it, so "database is locked" cannot happen (there is no second writer). A
file database is also locked against other processes (`<db>.lock`): a second server would
serve from its own stale cache.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import sys
import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_flow ON docs (json_extract(body, '$.flow_id'))
    WHERE kind = 'runs';
"""


@dataclass(frozen=True)
class ColdKind:
    """A kind read from SQLite on each use rather than cached: found by its one `key` field
    (store.find on any other is a programming error), with the `brief` fields kept in memory."""
    key: str
    brief: tuple[str, ...]


COLD_KINDS = {"runs": ColdKind("flow_id", ("id", "flow_id", "data_source_id", "status",
                                           "started_at", "finished_at", "records", "size",
                                           "errors"))}


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
        # "" is SQLite's private temporary database: on disk, deleted on close, with a bounded
        # page cache (":memory:" would hold every row's text in this process twice over).
        self._db = sqlite3.connect(path or "", check_same_thread=False, isolation_level=None)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._depth = 0
        self._begun = False
        self._undo: list = []
        self._undone: set = set()
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
        self._briefs: dict[str, dict] = {}  # cold kind -> key value -> {id: brief tuple}
        self._brief_keys: dict[str, dict] = {}  # cold kind -> id -> its key value
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
                self._undone = set()
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
        return [entry for entry in self._undo if entry[0] is not None]

    def _remember(self, kind: str | None, key, old):
        """Keep what (kind, key) held before this transaction, once: reverting to the first
        value is all a rollback needs, and a bulk write that rewrites one doc many times does
        not keep every intermediate copy alive."""
        if (kind, key) not in self._undone:
            self._undone.add((kind, key))
            self._undo.append((kind, key, old))

    def _revert(self):
        self.version += 1
        for kind, key, old in reversed(self._undo):
            if kind is None:
                if old is _MISSING:
                    self._meta.pop(key, None)
                else:
                    self._meta[key] = old
            elif kind in COLD_KINDS:  # SQLite's ROLLBACK restored the row; the brief is ours
                self._brief_set(kind, key, old)
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
        if not isinstance(doc_id, int):
            return None
        if kind in COLD_KINDS:
            row = self._db.execute("SELECT body FROM docs WHERE kind = ? AND id = ?",
                                   (kind, doc_id)).fetchone()
            return json.loads(row[0]) if row else None
        return self._docs[kind].get(doc_id)

    def all(self, kind: str) -> list[dict]:
        """All docs of a kind in ascending id order."""
        return list(self.iter_all(kind))

    def iter_all(self, kind: str):
        """Like all(), lazily (a page of a big list does not build the whole list)."""
        if kind in COLD_KINDS:
            rows = self._db.execute("SELECT body FROM docs WHERE kind = ? ORDER BY id", (kind,))
            return (json.loads(body) for (body,) in rows.fetchall())
        docs = self._docs[kind]
        order = self._order.get(kind)
        if order is None:
            order = self._order[kind] = sorted(docs)
        return (docs[k] for k in order if k in docs)

    def count(self, kind: str) -> int:
        if kind in COLD_KINDS:
            return self._db.execute("SELECT count(*) FROM docs WHERE kind = ?", (kind,)).fetchone()[0]
        return len(self._docs[kind])

    def put(self, kind: str, doc: dict) -> dict:
        self._need_tx()
        doc_id = doc["id"]
        if (kind, doc_id) not in self._undone:
            self._remember(kind, doc_id, self.get(kind, doc_id))
        self._db.execute("INSERT OR REPLACE INTO docs (kind, id, body) VALUES (?, ?, ?)",
                         (kind, doc_id, to_json(doc)))
        if kind in COLD_KINDS:
            self.version += 1
            self._brief_set(kind, doc_id, doc)
        else:
            self._cache_set(kind, doc)
        return doc

    def delete(self, kind: str, doc_id: int):
        self._need_tx()
        old = self.get(kind, doc_id)
        if old is None:
            return
        self._remember(kind, doc_id, old)
        self._db.execute("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, doc_id))
        if kind in COLD_KINDS:
            self.version += 1
            self._brief_set(kind, doc_id, None)
        else:
            self._cache_remove(kind, doc_id)

    def find(self, kind: str, field: str, value) -> list[dict]:
        """Docs whose `field` equals `value`, via a lazily built in-memory index (for a cold
        kind, SQLite's index on its one lookup field)."""
        if kind in COLD_KINDS:
            if field != COLD_KINDS[kind].key:
                raise ValueError(f"{kind} are found by {COLD_KINDS[kind].key} only, not {field}")
            rows = self._db.execute(
                f"SELECT body FROM docs WHERE kind = ? AND json_extract(body, '$.{field}') = ? "
                "ORDER BY id", (kind, value)).fetchall()
            return [json.loads(body) for (body,) in rows]
        index = self._indexes.get((kind, field))
        if index is None:
            index = defaultdict(set)
            for doc in self._docs[kind].values():
                index[_index_key(doc.get(field))].add(doc["id"])
            self._indexes[(kind, field)] = index
        ids = index.get(_index_key(value), ())
        docs = self._docs[kind]
        return [docs[i] for i in sorted(ids)]

    def briefs(self, kind: str, field: str, value) -> list[dict]:
        """The in-memory briefs of a cold kind's docs whose key field equals `value`, in
        ascending id order: the brief fields only, without reading SQLite."""
        if field != COLD_KINDS[kind].key:
            raise ValueError(f"{kind} are found by {COLD_KINDS[kind].key} only, not {field}")
        fields = COLD_KINDS[kind].brief
        found = self._brief_index(kind).get(value, {})
        return [dict(zip(fields, found[doc_id], strict=True)) for doc_id in sorted(found)]

    def _brief_index(self, kind: str) -> dict:
        index = self._briefs.get(kind)
        if index is None:
            index = self._briefs[kind] = defaultdict(dict)
            self._brief_keys[kind] = {}
            for (body,) in self._db.execute("SELECT body FROM docs WHERE kind = ?", (kind,)):
                self._brief_set(kind, None, json.loads(body))
        return index

    def _brief_set(self, kind: str, doc_id: int | None, doc: dict | None):
        """Keep a cold doc's brief in step with its row (doc None: doc_id is gone)."""
        index = self._briefs.get(kind)
        if index is None:
            return  # not built yet: it will be read from SQLite as it is then
        keys = self._brief_keys[kind]
        if doc_id in keys:
            index[keys.pop(doc_id)].pop(doc_id, None)
        if doc is not None:
            cold = COLD_KINDS[kind]
            key = keys[doc["id"]] = doc.get(cold.key)
            # Interned: 100k runs share a few status strings instead of holding one each.
            index[key][doc["id"]] = tuple(
                sys.intern(v) if isinstance(v, str) else v for v in map(doc.get, cold.brief))

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
        self._remember(None, key, self._meta.get(key, _MISSING))
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, to_json(value)))
        self._meta[key] = value

    def next_id(self, kind: str, floor: int = 0) -> int:
        """Next id for `kind`: above both the counter and every stored id (seeds use fixed ids)."""
        key = f"counter:{kind}"
        if kind in COLD_KINDS:
            highest = self._db.execute("SELECT max(id) FROM docs WHERE kind = ?",
                                       (kind,)).fetchone()[0] or 0
        else:
            self._docs[kind]  # loaded, so that its highest stored id is known
            highest = self._max_id.get(kind, 0)
        current = max(self._meta.get(key, 0), floor, highest)
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
