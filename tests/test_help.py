"""`--help` of every script works without importing nexla_sdk (fast start-up, SDK-free).

A fake `nexla_sdk` package that raises on import is put first on PYTHONPATH; any script whose
--help path imports the SDK then fails. Scripts are discovered, so new ones are covered.
"""

from __future__ import annotations

import os
import subprocess
import sys

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
