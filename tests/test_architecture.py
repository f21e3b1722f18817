"""The shape the project promises: thin scripts over one importable package, and installable
commands (`nexla-ops <command>`, `nexla-sandbox`) that work outside a checkout."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, SCRIPTS
from nexla_ops.commands import COMMANDS, main

SCRIPT_FILES = sorted(SCRIPTS.glob("*.py"))
MAX_SCRIPT_LINES = 250
MAX_MODULE_LINES = 600


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _imported_top_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_script_imports_another_script():
    stems = {p.stem for p in SCRIPT_FILES}
    offenders = {p.name: sorted(_imported_top_names(p) & stems) for p in SCRIPT_FILES}
    assert not {name: found for name, found in offenders.items() if found}


MAX_COMMAND_LINES = 250
def _limit(relative: str) -> int:
    return MAX_COMMAND_LINES if relative.startswith("nexla_ops/commands/") else MAX_MODULE_LINES


def test_scripts_are_thin_and_modules_small():
    too_long = [f"{p.relative_to(ROOT)}: {_line_count(p)}" for p in SCRIPT_FILES
                if _line_count(p) > MAX_SCRIPT_LINES]
    for package in ("nexla_ops", "nexla_sandbox"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            ceiling = _limit(relative)
            if _line_count(path) > ceiling:
                too_long.append(f"{relative}: {_line_count(path)} lines (limit {ceiling})")
    assert not too_long


def test_every_script_is_a_subcommand():
    modules = {module for module, _summary in COMMANDS.values()}
    assert modules == {p.stem for p in SCRIPT_FILES}
    for name, (module, _summary) in COMMANDS.items():
        assert name == module.removeprefix("nexla_").replace("_", "-")
        assert (ROOT / "nexla_ops" / "commands" / f"{module}.py").exists()


def _nexla_ops(*args, cwd, env=None, python=sys.executable):
    return subprocess.run([python, "-m", "nexla_ops", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env=env)


def test_top_level_help_lists_every_command(tmp_path):
    proc = _nexla_ops("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert listed == set(COMMANDS)
    assert _nexla_ops(cwd=tmp_path).returncode == 2  # no command: usage, bad input


def test_help_into_a_closed_pipe_is_quiet(tmp_path):
    """`nexla-ops --help | head -1` where head is gone before we write: no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "nexla_ops", "--help"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # long before the interpreter has started and printed
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_unknown_command_is_bad_input(tmp_path):
    proc = _nexla_ops("deploy-flw", "--plan", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "unknown command 'deploy-flw'" in proc.stderr and "deploy-flow" in proc.stderr


HEAVY = ("nexla_sdk", "pydantic", "tenacity", "dotenv")
PROBE = """
import contextlib, io, json, sys
from nexla_ops.commands import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main([sys.argv[1], "--help"])
    except SystemExit:
        pass
print(json.dumps({"usage": out.getvalue()[:6],
                  "heavy": sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))}))
"""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help_is_light(command, tmp_path):
    """`nexla-ops X --help` prints usage without importing the SDK, pydantic, tenacity or
    dotenv (start-up stays fast)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, command, *HEAVY], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {"usage": "usage:", "heavy": []}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`pip install .` (not editable) into a fresh target directory: the package as an operator
    gets it, with its console commands, and no checkout on the path."""
    target = tmp_path_factory.mktemp("installed")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--target", str(target), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target


@pytest.mark.slow
def test_installed_commands_work_outside_the_checkout(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    env["PYTHONPATH"] = str(installed)  # dependencies come from this interpreter's site
    bin_dir = installed / "bin"

    def run(*argv):
        return subprocess.run([str(bin_dir / argv[0]), *argv[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    where = subprocess.run([sys.executable, "-c", "import nexla_ops, nexla_sandbox; "
                            "print(nexla_ops.__file__); print(nexla_sandbox.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert all(line.startswith(str(installed)) for line in where.stdout.split()), where.stdout
    listing = run("nexla-ops", "--help")
    assert listing.returncode == 0 and "health-check" in listing.stdout
    quickstart = run("nexla-ops", "quickstart", "--sandbox", "--json")
    assert quickstart.returncode == 0, quickstart.stderr
    suggested = json.loads(quickstart.stdout)["next_commands"]
    assert suggested and all(cmd.startswith("nexla-ops ") for cmd in suggested), suggested
    assert (tmp_path / ".nexla-sandbox" / "state.db").is_file()
    sandbox_help = run("nexla-sandbox", "--help")
    assert sandbox_help.returncode == 0 and sandbox_help.stdout.startswith("usage:")
    plan = run("nexla-ops", "health-check", "--all", "--sandbox", "--format", "json")
    assert plan.returncode == 2, plan.stderr  # the demo seed has one CRITICAL flow
    assert json.loads(plan.stdout)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40).filter(
    lambda name: name not in COMMANDS and name not in ("-h", "--help", "help", "--version")
    and name.replace("_", "-").removeprefix("nexla-") not in COMMANDS))
def test_any_unknown_command_name_is_one_line_of_bad_input(name):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        code = main([name, "--plan"])
    assert code == 2
    assert out.getvalue() == ""
    assert err.getvalue().count("\n") == 1 and "unknown command" in err.getvalue()


@pytest.mark.parametrize("package", ["nexla_ops", "nexla_ops.health"])
def test_lazy_exports_resolve_to_their_definitions_not_to_submodules(package):
    """Every public name of a lazily exporting package is what its module defines, even once
    every submodule is imported (a submodule binds its name in the package)."""
    import importlib
    import pkgutil
    import types

    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name != "__main__":
            importlib.import_module(f"{package}.{info.name}")
    for name in pkg.__all__:
        assert not isinstance(getattr(pkg, name), types.ModuleType), f"{package}.{name}"
