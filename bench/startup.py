#!/usr/bin/env python3
"""Benchmark: how long each command takes to print --help, against a bare interpreter.

For every script it times, as whole processes, alternating so machine drift hits all alike:
  bare      python -c pass                      (the floor: interpreter start-up)
  script    python scripts/<name>.py --help
  command   python -m nexla_ops <command> --help (what the nexla-ops console command runs)
and prints the median wall seconds of each and its ratio to the floor, plus whether --help
imported nexla_sdk or pydantic (it must not).

  python bench/startup.py                 # 9 runs each
  python bench/startup.py --runs 5 --root /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import sys; sys.argv = {argv!r}; sys.path.insert(0, {folder!r}); "
         "import runpy; runpy.run_path({path!r}, run_name='probe'); "
         "import json; print(json.dumps(sorted(m for m in sys.modules "
         "if m.split('.')[0] in ('nexla_sdk', 'pydantic'))))")


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, timeout=60)
    return time.perf_counter() - started


def heavy_imports(root: Path, script: Path) -> list[str]:
    """Modules of the SDK or pydantic that importing the script (as for --help) loaded."""
    code = PROBE.format(argv=[str(script), "--help"], path=str(script), folder=str(script.parent))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60, check=False)
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines and lines[-1].startswith("[") else ["?"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to measure")
    args = parser.parse_args()
    root = args.root.resolve()
    scripts = sorted(p for p in (root / "scripts").glob("*.py")
                     if 'if __name__ == "__main__"' in p.read_text(encoding="utf-8"))
    has_commands = (root / "nexla_ops" / "commands" / "__init__.py").exists()
    floor = [timed([sys.executable, "-c", "pass"], root) for _ in range(args.runs)]
    rows = []
    for script in scripts:
        command = script.stem.removeprefix("nexla_").replace("_", "-")
        as_script, as_command = [], []
        for _ in range(args.runs):
            as_script.append(timed([sys.executable, str(script), "--help"], root))
            if has_commands:
                as_command.append(timed([sys.executable, "-m", "nexla_ops", command, "--help"],
                                        root))
        rows.append((script.name, statistics.median(as_script),
                     statistics.median(as_command) if as_command else None,
                     heavy_imports(root, script)))
    bare = statistics.median(floor)
    print(f"python -c pass: {bare * 1000:.0f} ms median of {args.runs} ({root})")
    print(f"{'script':24} {'script ms':>9} {'x bare':>7} {'command ms':>10} {'x bare':>7}  "
          "sdk/pydantic on --help")
    for name, script_s, command_s, heavy in rows:
        cmd = f"{command_s * 1000:10.0f} {command_s / bare:7.2f}" if command_s else f"{'-':>10} {'-':>7}"
        print(f"{name:24} {script_s * 1000:9.0f} {script_s / bare:7.2f} {cmd}  "
              f"{', '.join(heavy[:3]) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
