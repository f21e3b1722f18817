"""Executed documentation: every example in the agent's documents runs against the sandbox.

Convention (documented in REFERENCE.md, "How the examples are tested"): an HTML comment on the
line just before a fenced block can carry directives for it.

    <!-- doc-test: skip="needs a real S3 bucket" -->   not run; counted and reported
    <!-- doc-test: exit=2 -->                          the block must exit 2
    <!-- doc-test: setup=deployed -->                  run a named set-up first (SETUPS below)

Which blocks run:
- ``bash``/``sh``/``shell`` blocks that call a ``scripts/`` command or ``nexla-ops <command>``,
  with ``bash -e -o pipefail``;
- every ``python`` block, as a file, with ``scripts/`` importable.

Each block gets a freshly reset demo sandbox and its own working directory in which ``scripts/``,
``examples/`` and ``nexla_sandbox/`` are visible, with NEXLA_API_URL and NEXLA_SERVICE_KEY set as
a ``.env`` would, and dummy values for the secrets examples read from the environment
(DEMO_SECRETS). No block may print a service key, the webhook API key or one of those secrets.

With NEXLA_OPS_REQUEST_LOG_DIR set, each block's sandbox request log (method, path, query,
status and write body) is written there as ``<doc>-<line>.jsonl``, with clock readings and random
name suffixes replaced by placeholders: two runs of the suite, before and after a restructuring,
can then be compared with ``diff -r``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import CANARY, ROOT, SCRIPTS, _script_env
from nexla_ops.commands import COMMANDS

DOCS = ["SKILL.md", "REFERENCE.md", "TRANSFORMS.md", "ACCESS_CONTROL.md", "EXAMPLES.md"]
SHELL_LANGS = {"bash", "sh", "shell"}
MAX_SKIPPED_SHARE = 0.10
BLOCK_TIMEOUT = 100  # seconds; pytest's own per-test timeout is 120
DIRECTIVE_KEYS = {"skip", "exit", "setup"}
# Helper modules in scripts/ that are not commands of their own.
NOT_COMMANDS: set[str] = set()
# Secrets that examples read from the environment (as a user would export them). Canary values:
# a block that prints one of them fails.
DEMO_SECRETS = {
    "ORDERS_PG_PASSWORD": f"{CANARY}-pg",
    "ORDERS_S3_SECRET_KEY": f"{CANARY}-s3",
    "GENAI_API_KEY": f"{CANARY}-genai",
}
# SDK 1.0.8 accessor methods crash on non-empty lists (contract §23.3): docs must not use them.
SDK_ACCESSOR_CALL = re.compile(r"\.(get|add|replace|delete)_accessors\(")

FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
DIRECTIVE = re.compile(r"<!--\s*doc-test:(.*?)-->\s*$", re.S)
SCRIPT_CALL = re.compile(r"scripts/([\w-]+)\.py")
NEXLA_OPS_CALL = re.compile(r"(?<![\w/.-])nexla-ops ([a-z][a-z-]*)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclass
class Block:
    doc: str
    line: int
    lang: str
    code: str
    directives: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def runnable(self) -> bool:
        if self.lang == "python":
            return True
        return self.lang in SHELL_LANGS and bool(SCRIPT_CALL.search(self.code)
                                                 or NEXLA_OPS_CALL.search(self.code))


def _directives(text_before: str) -> dict:
    lines = text_before.rstrip().splitlines()
    if not lines:
        return {}
    match = DIRECTIVE.search(lines[-1])
    if not match:
        return {}
    return {key: value for key, _, value in (
        part.partition("=") for part in shlex.split(match.group(1))
    )}


def extract_blocks(doc: str) -> list[Block]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        blocks.append(
            Block(
                doc=doc,
                line=before.count("\n") + 1,
                lang=match.group(1).lower(),
                code=match.group(2),
                directives=_directives(before),
            )
        )
    return blocks


def all_blocks() -> list[Block]:
    return [block for doc in DOCS if (ROOT / doc).exists() for block in extract_blocks(doc)]


RUNNABLE = [block for block in all_blocks() if block.runnable]


# --- set-ups a block can ask for -------------------------------------------------------------

def _run_setup(cmd: list[str], workdir: Path, env: dict) -> None:
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"set-up {cmd[1:]} exited {proc.returncode}: {proc.stderr}"


def _setup_deployed(workdir: Path, env: dict) -> None:
    """A deployment of examples/deploy/minimal.json exists (for blocks that inspect one)."""
    _run_setup([sys.executable, str(SCRIPTS / "deploy_flow.py"), "--config",
                str(ROOT / "examples" / "deploy" / "minimal.json")], workdir, env)


def _setup_env_file(workdir: Path, env: dict) -> None:
    """A `.env` in the working directory instead of exported variables."""
    (workdir / ".env").write_text(
        f"NEXLA_API_URL={env.pop('NEXLA_API_URL')}\n"
        f"NEXLA_SERVICE_KEY={env.pop('NEXLA_SERVICE_KEY')}\n"
    )


NEW_CREDENTIAL = """
import argparse, os
import nexla_ops
ctx = nexla_ops.Context(argparse.Namespace())
ctx.call(ctx.client.credentials.create, {
    "name": "orders-s3-cred-v2", "credentials_type": "s3",
    "credentials": {"access_key_id": "AKIDEXAMPLEV2",
                    "secret_key": os.environ["ORDERS_S3_SECRET_KEY"]}}, idempotent=False)
"""


def _setup_new_credential(workdir: Path, env: dict) -> None:
    """An unused s3 credential named orders-s3-cred-v2 exists (a rotation target for 11)."""
    _run_setup([sys.executable, "-c", NEW_CREDENTIAL], workdir, env)


SETUPS = {"deployed": _setup_deployed, "env-file": _setup_env_file,
          "new-credential": _setup_new_credential}


def _workdir(tmp_path: Path) -> Path:
    for name in ("scripts", "examples", "nexla_sandbox"):
        if (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _secrets(sandbox) -> dict[str, str]:
    """Every secret a block could leak: service keys, webhook API keys, DEMO_SECRETS."""
    found = {f"service key ({role})": key for role, key in sandbox.service_keys.items()}
    found["service key"] = sandbox.service_key
    for source in sandbox.app.store.all("data_sources"):  # control.state() masks secrets
        for entry in source.get("api_keys") or []:
            found[f"webhook api key of source {source['id']}"] = entry["api_key"]
    found.update(DEMO_SECRETS)
    return found


# What differs between two runs of the same block: the sandbox's clock (seeded from the wall
# clock) and validate_transform's random temporary-nexset names.
UNSTABLE = [(re.compile(r"\b1[67]\d{11}\b"), "<epoch-ms>"),
            (re.compile(r"\b1[67]\d{8}(\.\d+)?\b"), "<epoch-s>"),
            (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "<iso-time>"),
            (re.compile(r"nexla-ops-validate-[0-9a-f]{12}"), "nexla-ops-validate-<hex>")]


def _stable(line: str) -> str:
    for pattern, placeholder in UNSTABLE:
        line = pattern.sub(placeholder, line)
    return line


def _save_request_log(block: Block, sandbox) -> None:
    target = os.environ.get("NEXLA_OPS_REQUEST_LOG_DIR")
    if not target:
        return
    keys = ("method", "path", "query", "status", "fault", "body")
    lines = [_stable(json.dumps({key: entry.get(key) for key in keys}, sort_keys=True))
             for entry in sandbox.control.requests()]
    name = f"{block.doc.removesuffix('.md')}-{block.line}.jsonl"
    Path(target, name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.mark.parametrize("block", [b for b in RUNNABLE if "skip" not in b.directives],
                         ids=lambda b: b.id)
def test_doc_block_runs(block, sandbox, tmp_path):
    workdir = _workdir(tmp_path)
    secrets = _secrets(sandbox)
    env = _script_env(sandbox, {"PYTHONPATH": str(SCRIPTS), **DEMO_SECRETS})
    setup = block.directives.get("setup")
    if setup:
        assert setup in SETUPS, f"{block.id}: unknown setup {setup!r}; known: {sorted(SETUPS)}"
        SETUPS[setup](workdir, env)
    if block.lang == "python":
        (workdir / "block.py").write_text(block.code)
        cmd = [sys.executable, "block.py"]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    # Inside a block, `python` means the interpreter running the tests.
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT)
    _save_request_log(block, sandbox)
    expected = int(block.directives.get("exit", 0))
    assert proc.returncode == expected, (
        f"{block.id} exited {proc.returncode}, expected {expected}\n"
        f"--- code ---\n{block.code}\n--- stdout ---\n{proc.stdout[-3000:]}\n"
        f"--- stderr ---\n{proc.stderr[-3000:]}"
    )
    leaked = [name for name, value in secrets.items()
              if value in proc.stdout or value in proc.stderr]
    assert not leaked, f"{block.id} printed secrets: {leaked}"


def test_few_blocks_are_skipped():
    skipped = [b.id for b in RUNNABLE if "skip" in b.directives]
    print(f"\ndoc blocks: {len(RUNNABLE)} runnable, {len(skipped)} skipped: {skipped}")
    assert RUNNABLE, "no runnable examples found in the documents"
    assert len(skipped) <= MAX_SKIPPED_SHARE * len(RUNNABLE)


def test_directives_are_well_formed():
    for block in all_blocks():
        unknown = set(block.directives) - DIRECTIVE_KEYS
        assert not unknown, f"{block.id}: unknown doc-test directive(s) {sorted(unknown)}"
        if block.directives and not block.runnable:
            raise AssertionError(f"{block.id}: directives on a block that is never run")
        if "skip" in block.directives:
            assert block.directives["skip"].strip(), f"{block.id}: skip needs a reason"
        if "exit" in block.directives:
            assert block.directives["exit"].isdigit(), f"{block.id}: exit must be a number"
        if "setup" in block.directives:
            assert block.directives["setup"] in SETUPS, f"{block.id}: unknown setup"


def test_python_blocks_are_complete_and_use_the_workarounds():
    for block in all_blocks():
        if block.lang != "python":
            continue
        ast.parse(block.code, filename=block.id)  # skipped blocks must still be valid Python
        assert not re.search(r"<[A-Za-z_ -]+>", block.code), f"{block.id}: placeholder"
        assert "..." not in block.code, f"{block.id}: elided code ('...')"
        assert not SDK_ACCESSOR_CALL.search(block.code), (
            f"{block.id}: SDK accessor methods crash in 1.0.8; use client.request or "
            "scripts/manage_access.py")
        if "NexlaClient(" in block.code or "RequestsHttpClient(" in block.code:
            assert "max_retries=0" in block.code, (
                f"{block.id}: a hand-built client must switch SDK retries off "
                "(RequestsHttpClient(max_retries=0)), or use make_client()/nexla_ops")


# --- static checks ---------------------------------------------------------------------------

def test_skill_frontmatter_and_length():
    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front, sep, _ = text[4:].partition("\n---\n")
    assert sep, "SKILL.md: frontmatter is not closed by ---"
    meta = yaml.safe_load(front)
    assert meta["name"] == "nexla-data-flows-operator"
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", meta["name"]) and len(meta["name"]) <= 64
    description = meta["description"]
    assert isinstance(description, str) and 0 < len(description) <= 1024
    assert "Use when" in description, "the description must say when to use the skill"
    assert len(text.splitlines()) <= 500
    for ref in DOCS[1:]:
        assert f"({ref})" in text, f"SKILL.md does not link {ref}"


def test_skill_documents_every_script():
    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    for path in sorted(SCRIPTS.glob("*.py")):
        if path.stem in NOT_COMMANDS:
            continue
        assert f"### `{path.name}`" in text, f"SKILL.md has no section for scripts/{path.name}"


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc):
    text = FENCE.sub("", (ROOT / doc).read_text(encoding="utf-8"))
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (ROOT / path).exists(), f"{doc}: broken link {target}"
        if anchor:
            assert anchor in _anchors(path or doc), f"{doc}: link {target} names no heading"


def _anchors(doc: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", (ROOT / doc).read_text(encoding="utf-8"))  # '# ...' in code is no heading
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.+)$", text, re.M)}


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"doc_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def _options(parser: argparse.ArgumentParser) -> set[str]:
    options = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= _options(sub)
    return options


def _flags(tokens) -> set[str]:
    flags = set()
    for token in tokens:
        if token == "--":  # what follows is another command (retry_helpers)
            break
        if token.startswith("--"):
            flags.add(token.split("=", 1)[0])
    return flags


def _python_list_commands(code: str):
    """(script, flags) for list literals such as [sys.executable, "scripts/x.py", "--flag"]."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if not isinstance(node, ast.List):
            continue
        strings = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else ""
                   for e in node.elts]
        for i, value in enumerate(strings):
            match = SCRIPT_CALL.fullmatch(value)
            if match:
                yield match.group(1), _flags(strings[i + 1:])


INLINE_COMMAND = re.compile(r"`(?:python )?(?:scripts/)?([a-z_]+)\.py ([^`]*)`")


def _script_commands():
    """(where, script name, flags) for every script command written in the docs: in blocks,
    in Python subprocess argument lists, and in inline code such as `x.py --flag`."""
    for block in all_blocks():
        if block.lang == "python":
            for name, flags in _python_list_commands(block.code):
                yield block.id, name, flags
        for line in block.code.replace("\\\n", " ").splitlines():
            calls = [(m.group(1), m.end()) for m in SCRIPT_CALL.finditer(line)]
            calls += [(COMMANDS[m.group(1)][0] if m.group(1) in COMMANDS else m.group(1),
                       m.end()) for m in NEXLA_OPS_CALL.finditer(line)]
            for name, end in calls:
                rest = line[end:].split("|")[0].split("&&")[0].split(";")[0]
                yield block.id, name, _flags(rest.split())
    for doc in DOCS:
        prose = FENCE.sub("", (ROOT / doc).read_text(encoding="utf-8"))
        for match in INLINE_COMMAND.finditer(prose.replace("\n", " ")):
            if not match.group(1).startswith(("test_", "conftest")):
                yield f"{doc} (inline)", match.group(1), _flags(match.group(2).split())


def test_named_scripts_exist_and_accept_shown_flags():
    parsers = {}
    for where, name, flags in _script_commands():
        assert (SCRIPTS / f"{name}.py").exists(), f"{where}: scripts/{name}.py does not exist"
        if name not in parsers:
            parsers[name] = _options(_load_script(name).build_parser())
        unknown = flags - parsers[name]
        assert not unknown, f"{where}: scripts/{name}.py does not accept {sorted(unknown)}"


def test_scripts_named_in_prose_exist():
    """`scripts/x.py` anywhere, and a bare `x.py` in backticks, must be a file in scripts/."""
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        names = {name for name in SCRIPT_CALL.findall(text) if name.islower()} | {
            name for name in re.findall(r"`([a-z_]+)\.py\b", text)
            if not name.startswith(("test_", "conftest"))}
        for name in names:
            assert (SCRIPTS / f"{name}.py").exists(), f"{doc}: names {name}.py, which is missing"
