"""Stores declare what they can do; the engine asks them, never probes them. Planning, safety and execution run on
the in-memory store, without a server."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from drmodel import api
from drmodel.errors import AccessDeniedError, DrmodelError
from drmodel.layouts import TargetRequest, get_layout
from drmodel.plan import Action, Plan
from drmodel.stores.base import ObjectInfo, Store
from drmodel.stores.cached import ListingCache
from drmodel.stores.memory import MemoryStore
from drmodel.testing.synth import legacy_bucket, placeholder, placeholder_prefix

SRC = Path(__file__).resolve().parent.parent / "src" / "drmodel"

# -- no capability probing outside stores/ ------------------------------------------------------------------------
STORE_NAME = re.compile(r"(^|_)store$")  # store, source_store, target_store, loc.store, plan.target_store ...
STORE_CLASS = re.compile(r"Store$|^Archive(Source|Target)$|^ListingCache$")
PROBES = ("getattr", "hasattr", "isinstance", "setattr", "delattr")


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _classes(node: ast.AST) -> list[str]:
    return [_name(n) for n in (node.elts if isinstance(node, ast.Tuple) else [node])]


def store_probes(tree: ast.AST) -> list[str]:
    """getattr/hasattr/isinstance/setattr/delattr on a store-named object, isinstance against a store class, and
    an attribute of a store assigned or deleted (a monkeypatch): what the engine must ask the Store instead."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in PROBES and isinstance(node.func, ast.Name) and node.args:
            probe, obj = node.func.id, _name(node.args[0])
            if STORE_NAME.search(obj):
                found.append((node.lineno, f"line {node.lineno}: {probe}({obj}, ...)"))
            elif probe == "isinstance" and len(node.args) > 1 and any(
                    STORE_CLASS.search(c) for c in _classes(node.args[1])):
                found.append((node.lineno, f"line {node.lineno}: isinstance(..., {ast.unparse(node.args[1])})"))
        targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete)) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            if isinstance(target, ast.Attribute) and STORE_NAME.search(_name(target.value)):
                found.append((node.lineno, f"line {node.lineno}: {ast.unparse(target)} changed"))
    return [text for _, text in sorted(found)]


def test_no_store_is_probed_outside_the_stores_package() -> None:
    """What a store can do, it declares (stores.base.Store); nothing outside stores/ asks with getattr, hasattr or
    isinstance, or patches a store's methods."""
    offenders = {str(p.relative_to(SRC)): uses for p in sorted(SRC.rglob("*.py"))
                 if p.relative_to(SRC).parts[0] != "stores"
                 and (uses := store_probes(ast.parse(p.read_text(), str(p))))}
    assert not offenders, offenders


def test_the_store_probe_scan_finds_what_it_looks_for() -> None:
    code = ('abort = getattr(plan.target_store, "abort_unfinished_uploads", None)\n'
            'lock = None if hasattr(tgt.store, "finalize") else key\n'
            'local = isinstance(target, LocalStore)\n'
            'both = isinstance(x, (S3Store, int))\n'
            'store.list_dirs = list_dirs\n'
            'del store.list_dirs\n'
            'loc.store.denied_probe = exc\n'
            'ok = getattr(stream, "expected_sha256", None) and isinstance(layout, LegacyConsoleLayout)\n')
    assert store_probes(ast.parse(code)) == [
        "line 1: getattr(target_store, ...)", "line 2: hasattr(store, ...)", "line 3: isinstance(..., LocalStore)",
        "line 4: isinstance(..., (S3Store, int))", "line 5: store.list_dirs changed", "line 6: store.list_dirs changed",
        "line 7: loc.store.denied_probe changed"]


# -- the in-memory store ------------------------------------------------------------------------------------------
def test_the_memory_store_derives_what_it_does_not_implement() -> None:
    store = MemoryStore("m", {"a/b/c.txt": b"abc", "a/d.txt": b"d", "e.txt": b""})
    assert store.list_dirs("") == ["a/"] and store.list_dirs("a/") == ["a/b/"]
    assert store.read_bytes("a/d.txt") == b"d"
    with pytest.raises(DrmodelError, match="more than the 1"):
        store.read_bytes("a/b/c.txt", max_size=1)
    done = store.write_stream("f.txt", io.BytesIO(b"hello"), 5, metadata={"k": "v"})
    info = store.head("f.txt")
    assert info is not None and done.confirmed and info.sha256 == done.sha256 and info.metadata == {"k": "v"}
    assert store.put_if_absent("lock", b"1") and not store.put_if_absent("lock", b"2")
    with pytest.raises(DrmodelError, match="changed since the plan was made"):
        store.open_read("f.txt", etag="0" * 32)
    assert not store.can_read_from(MemoryStore("other"), "f.txt") and store.abort_unfinished_uploads({"x"}) == 0


def test_a_store_with_only_the_primitives_gets_the_cautious_defaults() -> None:
    """The base class derives list_dirs and read_bytes, answers every capability with the cautious default, and
    says "not supported" (a NotImplementedError) for what a store must declare to offer."""

    class Primitives(Store):
        def __init__(self) -> None:
            self.inner = MemoryStore("p", {"a/b": b"xy"})

        def describe(self, key: str = "") -> str:
            return f"p://{key}"

        def exists(self) -> bool:
            return True

        def list(self, prefix: str = "", delimiter: str | None = None):  # type: ignore[no-untyped-def]
            return self.inner.list(prefix)

        def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None:
            return self.inner.head(key)

        def open_read(self, key: str, *, etag: str | None = None):  # type: ignore[no-untyped-def]
            return self.inner.open_read(key)

        def write_stream(self, key, stream, size, *, progress=None, metadata=None):  # type: ignore[no-untyped-def]
            return self.inner.write_stream(key, stream, size)

        def delete(self, keys: list[str]) -> None:
            self.inner.delete(keys)

    store = Primitives()
    assert store.list_dirs("") == ["a/"] and store.read_bytes("a/b") == b"xy"
    assert not (store.parallel_reads or store.lockable or store.staged or store.local or store.remote
                or store.user_metadata)
    assert (store.bucket, store.name, store.endpoint, store.account_id(), store.retries) == (None, None, None, None, 0)
    assert not store.can_read_from(MemoryStore(), "a/b") and store.abort_unfinished_uploads({"a/b"}) == 0
    store.finalize()
    for refused in (lambda: store.put_if_absent("k", b""), lambda: store.copy_from(MemoryStore(), "a", "b", 1),
                    store.spec, lambda: store.local_path("a/b")):
        with pytest.raises(NotImplementedError):
            refused()


def test_the_listing_cache_lists_each_folder_once_and_keeps_a_refusal() -> None:
    asked: list[str] = []

    class Counting(MemoryStore):
        def list_dirs(self, prefix: str = "") -> list[str]:
            asked.append(prefix)
            return super().list_dirs(prefix)

        def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None:
            if key.startswith("secret/"):
                raise AccessDeniedError(f"may not head_object on {key}")
            return super().head(key, checksums=checksums)

    cached = ListingCache(Counting("m", {"a/x": b"1", "b/y": b"2"}))
    assert cached.list_dirs("") == cached.list_dirs("") == ["a/", "b/"] and asked == [""]
    with pytest.raises(AccessDeniedError):
        cached.head("secret/k")
    assert cached.refused is not None and cached.head("a/x") is not None


# -- planning and safety without a server -------------------------------------------------------------------------
SRC_BUCKET, DST_BUCKET = "aws-deepracer-src", "aws-deepracer-dst"


def _stores() -> tuple[MemoryStore, MemoryStore]:
    source = MemoryStore("src", legacy_bucket(SRC_BUCKET, scale=0.001))
    target = MemoryStore("dst", {**placeholder(DST_BUCKET, "Apex-Hunter", scale=0.001),
                                 **placeholder(DST_BUCKET, "Apex-Hunter-2", scale=0.001)})
    return source, target


def source_paths(source: MemoryStore) -> set[str]:
    return set(get_layout("legacy").open_model(source, "Apex-Hunter").files)


def _plan_replace(source: MemoryStore, target: MemoryStore, tmp_path: Path) -> Plan:
    legacy = get_layout("legacy")
    src = legacy.open_model(source, "Apex-Hunter")
    tgt = legacy.resolve_target(target, "Apex-Hunter", TargetRequest(name=None))
    return api.plan_between("copy", src, tgt, checkpoint="all", backup_to=str(tmp_path / "bk"))


def test_a_replace_into_memory_is_planned_and_run_within_the_model(tmp_path: Path) -> None:
    source, target = _stores()
    prefix = placeholder_prefix("Apex-Hunter")
    plan = _plan_replace(source, target, tmp_path)
    ops = {a.op for a in plan.actions}
    assert {"create", "overwrite", "delete"} <= ops
    assert all(a.key.startswith((f"{prefix}/", "model-metadata/Apex-Hunter/", "reward-functions/Apex-Hunter/"))
               for a in plan.actions)
    deletes = plan.by_op("delete")  # the placeholder's stale checkpoints, and nothing else
    assert deletes and all(a.key.startswith(f"{prefix}/model/") and a.path not in source_paths(source)
                           for a in deletes)
    other = {k: v for k, v in target.data().items() if "Apex-Hunter-2" in k or placeholder_prefix("Apex-Hunter-2") in k}
    result = api.execute(plan)
    after = target.data()
    assert {k: after[k] for k in other} == other  # the other model is untouched
    theirs = source.data()
    for a in plan.writes:
        assert a.source_key and (after[a.key] == theirs[a.source_key] or a.data == after[a.key]), a.key
    assert not [k for k in after if k.startswith(f"{prefix}/model/") and ("/1_Step" in k or "model_1.pb" in k)]
    assert result.backup and json.loads((result.backup / "drmodel-backup.json").read_text())[
        "store"] == {"type": "memory", "name": "dst"}
    assert f"{prefix}/drmodel.lock" not in after  # the lock was taken and released
    rerun = _plan_replace(source, target, tmp_path)
    assert {a.op for a in rerun.actions} == {"skip"}  # proven identical from the listing's sha256


def test_the_safety_guard_refuses_keys_outside_the_model(tmp_path: Path) -> None:
    source, target = _stores()
    plan = _plan_replace(source, target, tmp_path)
    before = target.data()
    for stray in (Action(op="create", path="model_metadata.json", size=3, data=b"bad",
                         key="model-metadata/Apex-Hunter-2/model_metadata.json"),
                  Action(op="delete", path="model/x", key=f"{placeholder_prefix('Apex-Hunter-2')}/model/model_1.pb",
                         size=1),
                  Action(op="create", path="model/x", key="Apex-Hunter-other/model/x", size=1, data=b"x")):
        tampered = dataclasses.replace(plan, actions=[*plan.actions, stray])
        with pytest.raises(DrmodelError, match="refusing to touch .*not a key of the target model"):
            api.execute(tampered)
        assert target.data() == before  # refused before anything was backed up, locked or written
