#!/usr/bin/env python3
"""Set up and run drmodel on a fresh machine with only Python 3.11+.

    python3 tasks.py demo           # create .venv, install the locked demo set, run `drmodel demo` (SeaweedFS)
    python3 tasks.py demo --droa    # the same with the DeepRacer on AWS stand-in, then `drmodel demo --droa`
    python3 tasks.py test           # create .venv, install the locked test set, run the whole test suite (2 workers)
    python3 tasks.py test --latest  # the suite against the newest releases of every dependency (.venv-latest)
    python3 tasks.py bench          # create .venv, install the locked peer tools, run the benchmark in bench/
    python3 tasks.py setup          # only create .venv and install everything (the dev set: test and bench)
    python3 tasks.py lock           # rewrite requirements/*.txt from pyproject.toml (newest versions that fit)

Extra arguments after the task go to the command it runs (e.g. `python3 tasks.py test -k legacy`).
The locks (requirements/<set>.txt) pin every package with its hashes; `lock` writes them with uv (pinned below,
installed into .venv-tools), for Python 3.11 and newer on every platform. One .venv holds one set at a time:
switching tasks reinstalls (pip only adds what is missing).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REQ = ROOT / "requirements"
UV = "uv==0.13.10"
# The locked sets: requirements/<name>.txt pins drmodel's dependencies with these extras of pyproject.toml
LOCKS = {"demo": ["demo"], "demo-droa": ["demo", "droa-standin"], "test": ["test"], "bench": ["bench"],
         "dev": ["test", "bench"]}
TASKS = {"demo": "demo", "test": "test", "bench": "bench", "setup": "dev"}  # task -> the set it installs


def venv_dir(latest: bool = False) -> Path:
    if latest:
        return ROOT / ".venv-latest"
    return Path(os.environ.get("DRMODEL_VENV", ROOT / ".venv"))


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def run(cmd: list[str], **kw: object) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, **kw)  # type: ignore[arg-type]  # kw: Popen's keywords, passed on


def pip(env: Path, *args: str) -> None:
    code = run([str(bin_dir(env) / "python"), "-m", "pip", "--disable-pip-version-check", *args])
    if code:
        sys.exit(f"pip {args[0]} failed (exit {code}); see pip's output above")


def new_venv(env: Path) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  # tasks.py runs under any python3; this tells an older one why not
        sys.exit(f"drmodel needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (bin_dir(env) / "python").exists():
        print(f"creating {env}", flush=True)
        venv.EnvBuilder(with_pip=True).create(env)


def setup(name: str) -> Path:
    """.venv with exactly the locked set `name`, then drmodel itself (editable, without dependencies)."""
    env = venv_dir()
    new_venv(env)
    lock_file = REQ / f"{name}.txt"
    digest = hashlib.sha256(lock_file.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = env / f".drmodel-installed-{name}-{digest}"
    if stamp.exists():
        return env
    pip(env, "install", "--quiet", "--require-hashes", "--only-binary", ":all:", "-r", str(lock_file))
    pip(env, "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", ".")
    # An editable install is not byte-compiled: compile once, or every drmodel command compiles its modules
    subprocess.call([str(bin_dir(env) / "python"), "-m", "compileall", "-q", str(ROOT / "src")], cwd=ROOT)
    for old in env.glob(".drmodel-installed-*"):
        old.unlink()
    stamp.touch()
    return env


def setup_latest(extras: str) -> Path:
    """.venv-latest with the newest release of every dependency that pyproject.toml's ranges allow."""
    env = venv_dir(latest=True)
    new_venv(env)
    pip(env, "install", "--quiet", "--upgrade", "--upgrade-strategy", "eager", "setuptools>=77")
    pip(env, "install", "--quiet", "--upgrade", "--upgrade-strategy", "eager", "--no-build-isolation",
        "-e", f".[{extras}]")
    run([str(bin_dir(env) / "python"), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"])
    return env


def lock() -> int:
    """Rewrite requirements/<set>.txt for every set, with uv, from pyproject.toml and requirements/*.in."""
    tools = ROOT / ".venv-tools"
    new_venv(tools)
    uv = bin_dir(tools) / "uv"
    if not uv.exists() or UV.split("==")[1] not in subprocess.run([str(uv), "--version"], capture_output=True,
                                                                  text=True).stdout:
        pip(tools, "install", "--quiet", UV)
    for old in REQ.glob("*.txt"):
        old.unlink()
    for name, extras_of in LOCKS.items():
        extras = [a for e in extras_of for a in ("--extra", e)]
        code = run([str(uv), "pip", "compile", "--quiet", "pyproject.toml", str(REQ / "build.in"), *extras,
                    "--constraint", str(REQ / "constraints.in"), "--universal", "--python-version", "3.11",
                    "--generate-hashes", "--no-header", "--upgrade", "--output-file", str(REQ / f"{name}.txt")],
                   env={**os.environ, "UV_NO_CONFIG": "1"})
        if code:
            return code
        text = (REQ / f"{name}.txt").read_text()
        (REQ / f"{name}.txt").write_text(f"# drmodel's locked '{name}' set: written by `python3 tasks.py lock`; do not"
                                         f" edit.\n{text}")
    return 0


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist's options for the suite: one worker per CPU, at most two (each worker starts its own moto and
    SeaweedFS; a module's tests stay on one worker, so its module fixtures start once). None when the arguments
    choose for themselves (-n, --numprocesses, -p no:xdist) or ask for a debugger."""
    own = ("-n", "--numprocesses", "--dist", "--pdb", "--trace")
    if any(a.startswith(own) or a == "no:xdist" for a in args):
        return []
    return ["--numprocesses", "auto", "--maxprocesses", "2", "--dist", "loadscope"]


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in (*TASKS, "lock"):
        print(__doc__)
        return 2
    task, rest = sys.argv[1], sys.argv[2:]
    if task == "lock":
        return lock()
    if task == "test" and "--latest" in rest:
        rest.remove("--latest")
        env = setup_latest("test")
    elif task == "demo" and "--droa" in rest:
        env = setup("demo-droa")
    else:
        env = setup(TASKS[task])
    py = str(bin_dir(env) / "python")
    if task == "demo":
        return run([str(bin_dir(env) / "drmodel"), "demo", *rest])
    if task == "test":
        code = run([py, "-m", "pytest", "-q", *parallel(rest), *rest])
        if code == 5:
            print("pytest collected no tests: that is a failure", file=sys.stderr)
            return 1
        return code
    if task == "bench":
        return run([py, "bench/run.py", *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main())
