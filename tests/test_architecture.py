"""The house rules of ARCHITECTURE.md, checked: layers import only downward, no import cycles, and no function over
60 lines or module over 500 lines without a reason written at its top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "drmodel"

# ARCHITECTURE.md's layers, lowest first: a module may import its own layer and the ones below it. The first
# matching prefix decides a module's layer.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "units", "cancel", "progress", "redact", "options", "address", "access", "model", "paramsfile", "simapp",
     "hashing", "archive"),                                      # 0: plain values and rules, no I/O of their own
    ("stores",),                                                 # 1: bytes only
    ("layouts", "checkpoints", "plan", "lock", "compare", "grant"),  # 2: where a model's files live; the plan's
    #                                                                 shape; the expiring read grant
    ("checks", "car", "droa"),                                   # 3: judging a model; DeepRacer on AWS (client,
    #                                                                 pre-flight, the import a plan may end with)
    ("execute", "batchrun", "backup"),                           # 4: running a plan (its DRoA import included),
    #                                                                 and a batch of plans
    ("reading", "planning", "verification"),                     # 5: opening models, planning, verify and diff
    ("api",),                                                    # 6: the library facade
    ("policy", "batchops", "batchreport"),                       # 7: features built on the facade
    ("cli", "__main__"),                                         # 8: the command line
    ("testing",),                                                # 9: stand-ins for tests and the demo
]


def layer_of(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} has no layer in tests/test_architecture.py (and ARCHITECTURE.md)")


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name or "drmodel"] = path
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The drmodel modules a file imports (at module level or inside functions), as names relative to drmodel."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "drmodel":
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "drmodel"]
        for name in names:
            parts = name.split(".")[1:]
            for k in range(len(parts), 0, -1):
                if ".".join(parts[:k]) in known:
                    found.add(".".join(parts[:k]))
                    break
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, known) - {name} for name, path in mods.items()}


# The one upward import, with its reason: the demo command runs drmodel on the test stand-ins.
ALLOWED_UPWARD = {("cli.commands.demo", "testing.demo")}


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
                  for m, deps in edges.items() if m != "drmodel" for d in deps
                  if layer_of(d) > layer_of(m) and (m, d) not in ALLOWED_UPWARD)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(edges.get(node, ())):
            if dep in edges and state.get(dep) == "open" and not (node.startswith(dep + ".") or dep == "drmodel"):
                found.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return found


def test_every_module_imports_only_its_layer_and_below() -> None:
    assert upward(graph()) == []


def test_no_import_cycles_between_modules() -> None:
    """A package's __init__ may be imported by its own modules; no other cycle."""
    assert cycles(graph()) == []


def test_the_layer_check_catches_an_upward_import_and_a_cycle() -> None:
    edges = {"stores.s3": {"api"}, "api": {"stores.s3"}, "errors": set()}
    assert upward(edges) == ["stores.s3 (layer 1) imports api (layer 6)"]
    assert cycles(edges) == [["api", "stores.s3", "api"]]


MODULE_LIMIT, FUNCTION_LIMIT = 500, 60
REASON = "Over the size limit:"  # what a long module's docstring, or a long function's first lines, must say why


def oversized() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        rel = path.relative_to(SRC)
        if len(lines) > MODULE_LIMIT and REASON not in "\n".join(lines[:30]):
            found.append(f"{rel}: {len(lines)} lines")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                head = "\n".join(lines[node.lineno - 1:node.lineno + 8])
                if length > FUNCTION_LIMIT and REASON not in head:
                    found.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    return found


@pytest.mark.parametrize("limit", ["modules and functions"])
def test_no_function_over_60_lines_and_no_module_over_500_without_a_reason(limit: str) -> None:
    assert oversized() == []
