"""`--help` of every script works without importing nexla_sdk (fast start-up, SDK-free).

A fake `nexla_sdk` package that raises on import is put first on PYTHONPATH; any script whose
--help path imports the SDK then fails. Scripts are discovered, so new ones are covered.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SCRIPTS

SCRIPT_FILES = sorted(p for p in SCRIPTS.glob("*.py")
                      if 'if __name__ == "__main__"' in p.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def poisoned_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("poisoned")
    (root / "nexla_sdk").mkdir()
    (root / "nexla_sdk" / "__init__.py").write_text(
        'raise ImportError("nexla_sdk must not be imported by --help")\n')
    return root


def test_scripts_are_discovered():
    names = {p.stem for p in SCRIPT_FILES}
    assert {"nexla_quickstart", "retry_helpers"} <= names
    assert "nexla_ops" not in names  # the helper module is not a script


@pytest.mark.parametrize("script", SCRIPT_FILES, ids=lambda p: p.stem)
def test_help_without_sdk(script, poisoned_path, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    env["PYTHONPATH"] = str(poisoned_path)
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lower().startswith("usage:")
    assert "example" in proc.stdout.lower()
    assert proc.stderr == ""


def test_poison_really_blocks_the_sdk(poisoned_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(poisoned_path)}
    proc = subprocess.run([sys.executable, "-c", "import nexla_sdk"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "must not be imported" in proc.stderr


README = SCRIPTS.parent / "README.md"


def readme_commands():
    import re
    import shlex

    text = README.read_text(encoding="utf-8")
    return [shlex.split(cmd) for cmd in re.findall(r"`(python scripts/[^`]+)`", text)]


def test_readme_starts_with_the_two_commands():
    lines = [line for line in README.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[1:4] == ["```bash",
                          "python -m pip install -e . && python scripts/nexla_quickstart.py "
                          "--sandbox",
                          "python -m pip install -e '.[test]' && python -m pytest"]


def test_readme_lists_every_script():
    text = README.read_text(encoding="utf-8")
    missing = [p.name for p in SCRIPT_FILES if f"`{p.name}`" not in text]
    assert not missing


@pytest.mark.parametrize("argv", readme_commands(), ids=lambda argv: " ".join(argv[1:3]))
def test_readme_examples_parse(argv):
    """Each example's flags are accepted by the script's own parser (nothing is run)."""
    import importlib

    module = importlib.import_module(Path(argv[1]).stem)  # scripts/ is on sys.path
    args = argv[2:]
    if args == ["--help"]:
        return
    module.build_parser().parse_args(args)
