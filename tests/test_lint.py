"""The lint and the type check are part of the suite: `python3 tasks.py test` (and .ci/run) fails on a ruff finding
or a mypy error. Both read their settings from pyproject.toml ([tool.ruff], [tool.mypy]); alone, from the project root:

    python -m ruff check src tests bench tasks.py
    python -m mypy

Every `# type: ignore[code]` and `# noqa: CODE` left in src/ names its codes and says why on its line, in a comment
after the directive: `# type: ignore[attr-defined]  # boto3 clients are built at run time`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# a directive anywhere in a comment, as ruff and mypy find it
DIRECTIVE = re.compile(r"#\s*(?:type:\s*ignore|noqa)\b", re.IGNORECASE)
# a directive with its codes, then a comment of its own: the reason
JUSTIFIED = re.compile(r"#\s*(?:type:\s*ignore\[[a-z-]+(?:\s*,\s*[a-z-]+)*\]"
                       r"|noqa:\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)\s+#\s*\S")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "src", "tests", "bench", "tasks.py")
    assert done.returncode == 0, f"ruff check (exit {done.returncode}):\n{done.stdout}{done.stderr}"


def test_mypy_finds_nothing() -> None:
    done = _run("mypy")
    assert done.returncode == 0, f"mypy (exit {done.returncode}):\n{done.stdout}{done.stderr}"


def unjustified(comment: str) -> bool:
    """Whether a comment holds a type: ignore or noqa without its codes or without a reason after it."""
    return bool(DIRECTIVE.search(comment)) and not JUSTIFIED.search(comment)


@pytest.mark.parametrize(("comment", "bad"), [
    ("# type: ignore", True),
    ("# type: ignore[attr-defined]", True),
    ("# type: ignore  # a reason, but which codes?", True),
    ("# noqa", True),
    ("# noqa: E402", True),
    ("# noqa: S310 (a reason, but not a comment of its own)", True),
    ("# type: ignore[attr-defined]  # boto3 clients are built at run time", False),
    ("# type: ignore[arg-type, union-attr]  # both, for one reason", False),
    ("# noqa: E402  # after the path is set", False),
    ("# noqa: E401,F401  # as the command imports them", False),
    ("# an ordinary comment", False),
])
def test_the_reason_check_reads_directives(comment: str, bad: bool) -> None:
    assert unjustified(comment) is bad


def test_every_ignore_in_src_says_why() -> None:
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        with tokenize.open(path) as f:
            for tok in tokenize.generate_tokens(f.readline):
                if tok.type == tokenize.COMMENT and unjustified(tok.string):
                    missing.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string}")
    assert not missing, "a type: ignore[code] or noqa: CODE without a reason after it:\n" + "\n".join(missing)
