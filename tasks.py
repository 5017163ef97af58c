#!/usr/bin/env python3
"""Set up and run drmodel on a fresh machine with only Python 3.11+.

    python3 tasks.py demo    # create .venv, install drmodel, run `drmodel demo` on an embedded local S3
    python3 tasks.py test    # create .venv, install drmodel with test extras, run the whole test suite
    python3 tasks.py bench   # create .venv, install the peer tools, run the benchmark in bench/
    python3 tasks.py setup   # only create .venv and install everything

Extra arguments after the task go to the command it runs (e.g. `python3 tasks.py test -k legacy`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("DRMODEL_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
EXTRAS = {"demo": "demo", "test": "test", "bench": "test,bench", "setup": "test,bench"}


def run(cmd: list[str]) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


def setup(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"drmodel needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".drmodel-installed-{extras.replace(',', '-')}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    code = run([str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e",
                f".[{extras}]"])
    if code:
        sys.exit(f"installing drmodel failed (exit {code}); see pip's output above")
    # An editable install is not byte-compiled: compile once, or every drmodel command compiles its modules
    subprocess.call([str(BIN / "python"), "-m", "compileall", "-q", str(ROOT / "src")], cwd=ROOT)
    stamp.touch()


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in EXTRAS:
        print(__doc__)
        return 2
    task, rest = sys.argv[1], sys.argv[2:]
    setup(EXTRAS[task])
    if task == "demo":
        return run([str(BIN / "drmodel"), "demo", *rest])
    if task == "test":
        code = run([str(BIN / "python"), "-m", "pytest", "-q", *rest])
        if code == 5:
            print("pytest collected no tests: that is a failure", file=sys.stderr)
            return 1
        return code
    if task == "bench":
        return run([str(BIN / "python"), "bench/run.py", *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main())
