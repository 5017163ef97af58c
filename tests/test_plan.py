"""A Plan is a frozen, typed value: planning decides, execution reads it, and what happens while it runs is on the
Result. Runs on the in-memory store and local folders: no server."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pytest

from drmodel import api
from drmodel.errors import AccessDeniedError
from drmodel.layouts import TargetRequest, get_layout
from drmodel.plan import Plan
from drmodel.planning import ModelRef, TransferRequest
from drmodel.stores.base import SMALL_FILE_LIMIT, ProgressFn, Store, WriteResult
from drmodel.stores.memory import MemoryStore
from drmodel.testing.synth import legacy_bucket, placeholder, synth_model
from helpers import write_folder


def _replace(source: MemoryStore, target: MemoryStore, tmp_path: Path) -> Plan:
    legacy = get_layout("legacy")
    return api.plan_between("copy", legacy.open_model(source, "Apex-Hunter"),
                            legacy.resolve_target(target, "Apex-Hunter", TargetRequest(name=None)),
                            checkpoint="all", backup_to=str(tmp_path / "bk"))


def _memory_pair(target_cls: type[MemoryStore] = MemoryStore) -> tuple[MemoryStore, MemoryStore]:
    return (MemoryStore("src", legacy_bucket("aws-deepracer-src", scale=0.001)),
            target_cls("dst", placeholder("aws-deepracer-dst", "Apex-Hunter", scale=0.001)))


def test_a_plan_and_its_actions_are_frozen(tmp_path: Path) -> None:
    plan = _replace(*_memory_pair(), tmp_path)
    assert isinstance(plan.actions, tuple) and isinstance(plan.allowed_keys, frozenset) and plan.lock is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.server_side = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.actions[0].data = b"x"  # type: ignore[misc]
    summary = plan.summary()  # what --dry-run --json shows besides the actions
    assert summary["lock_key"] == plan.lock.key and summary["allowed_keys"] == sorted(plan.allowed_keys)
    assert summary["server_side"] is False and summary["transfer"] is None and summary["target"]["layout"] == "legacy"


def test_running_a_plan_leaves_it_as_it_was_and_the_backup_folder_is_on_the_result(tmp_path: Path) -> None:
    """The folder the plan asks for is taken already: the backup goes into a new one beside it (a backup never
    writes into another), which the Result names; the plan still names the folder it asked for."""
    source, target = _memory_pair()
    plan = _replace(source, target, tmp_path)
    before = dataclasses.replace(plan)
    assert plan.backup_root is not None
    plan.backup_root.mkdir(parents=True)
    result = api.execute(plan)
    assert plan == before and result.backup == plan.backup_root.with_name(plan.backup_root.name + "-2")
    assert (result.backup / "drmodel-backup.json").is_file() and not any(plan.backup_root.iterdir())
    assert len(result.written) == len(plan.writes) and result.relayed is None


class _SharedBucket(MemoryStore):
    """A target whose credentials can read the source, but whose copies are refused (a KMS key not shared)."""

    refused: list[str] = []

    def can_read_from(self, source: Store, key: str) -> bool:
        return True

    def copy_from(self, source: Store, source_key: str, key: str, size: int, *, source_etag: str | None = None,
                  progress: ProgressFn | None = None, metadata: Mapping[str, str] | None = None) -> WriteResult:
        self.refused.append(key)
        raise AccessDeniedError(f"may not copy_object on {self.describe(key)} (AccessDenied)")


def test_a_refused_server_side_copy_is_relayed_and_the_result_says_why(tmp_path: Path) -> None:
    source, target = _memory_pair(_SharedBucket)
    plan = _replace(source, target, tmp_path)
    assert plan.server_side and plan.transfer == "server-side copy: the target's credentials can read the source"
    result = api.execute(plan)
    assert plan.server_side  # the plan is what was planned; the run's fallback is on the result
    assert result.relayed is not None and "may not copy_object" in result.relayed
    assert _SharedBucket.refused and len(result.written) == len(plan.writes)
    assert _replace(source, target, tmp_path).by_op("create") == []  # the relay wrote everything


def test_a_request_plans_as_the_keyword_form_does(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "src", synth_model("Apex-Hunter", bucket="b", prefix="p", timestamp="1",
                                                         scale=0.001))
    request = TransferRequest("pull", ModelRef(str(folder)), ModelRef(str(tmp_path / "out")), checkpoint="best")
    planned = api.plan_request(request)
    legacy = api.plan_transfer("pull", str(folder), str(tmp_path / "out"), checkpoint="best")
    assert planned.actions == legacy.actions and planned.summary() == legacy.summary()
    assert planned.write_manifest and not planned.destructive and planned.lock is not None
    assert dataclasses.replace(request, checkpoint="all") != request  # a request is a value too


class _CountingStore(MemoryStore):
    """An in-memory store that counts the objects read whole (read_bytes), by key."""

    def __init__(self, name: str, objects: Mapping[str, bytes]) -> None:
        super().__init__(name, objects)
        self.reads: list[str] = []

    def read_bytes(self, key: str, max_size: int = SMALL_FILE_LIMIT) -> bytes:
        self.reads.append(key)
        return super().read_bytes(key, max_size)


def test_files_with_the_same_size_and_md5_etag_are_read_once(tmp_path: Path) -> None:
    """A model's two copies of its metadata (root and model/) have one MD5 ETag: planning reads one of them, and
    both the check and the write use those bytes. A copy that differs, or an ETag not of MD5 form, is read."""
    from drmodel.model import EVAL_COPY, METADATA

    objects = legacy_bucket("aws-deepracer-src", scale=0.001)
    store = _CountingStore("src", objects)
    src = get_layout("legacy").open_model(store, "Apex-Hunter")
    assert src.files[METADATA].md5_etag == src.files[EVAL_COPY].md5_etag is not None
    api.plan_between("copy", src, get_layout("prefix").resolve_target(MemoryStore("dst"), "Apex-Hunter",
                                                                       TargetRequest(name=None, create=True)))
    metadata_reads = [k for k in store.reads if k.endswith("model_metadata.json")]
    assert len(metadata_reads) == 1 and src.read(EVAL_COPY) == src.read(METADATA)

    store.reads.clear()
    eval_key = src.key_for(EVAL_COPY)
    changed = {**objects, eval_key: objects[eval_key].replace(b"{", b"{ ", 1)}
    other = _CountingStore("src", changed)
    src = get_layout("legacy").open_model(other, "Apex-Hunter")
    assert src.read(EVAL_COPY) != src.read(METADATA) and len(other.reads) >= 2

    src = get_layout("legacy").open_model(_CountingStore("src", objects), "Apex-Hunter")
    multipart = dataclasses.replace(src.files[METADATA], etag="0123456789abcdef0123456789abcdef-2")
    src.files[METADATA] = multipart
    src.files[EVAL_COPY] = dataclasses.replace(src.files[EVAL_COPY], etag=multipart.etag)
    src.read(METADATA), src.read(EVAL_COPY)
    assert len([k for k in src.store.reads if k.endswith("model_metadata.json")]) == 2  # type: ignore[attr-defined]

def test_writes_go_biggest_first_without_a_first_wave_of_equal_files() -> None:
    """Files before the metadata and reward function, biggest first; when the first wave of big files would all be
    of one size (they would end together and leave the line idle while every worker starts its next file), one of
    another size takes the wave's last place; small files and a wave of mixed sizes keep their order."""
    from drmodel.plan import Action, write_stages

    def a(path: str, size: int) -> Action:
        return Action("create", path, path, size)

    data = [a(f"model/{n}.ckpt.data", 47) for n in range(5)]
    pb = [a(f"model/model_{n}.pb", 23) for n in range(5)]
    small = [a("model/.coach_checkpoint", 1), a("training_params.yaml", 2)]
    finals = [a("model_metadata.json", 3), a("reward_function.py", 4)]
    files, last = write_stages([*small, *finals, *pb, *data], 4, 10)
    assert last == finals and sorted(x.path for x in files) == sorted(x.path for x in [*data, *pb, *small])
    assert [x.size for x in files] == [47, 47, 47, 23, 47, 47, 23, 23, 23, 23, 2, 1]
    assert [x.size for x in write_stages([*data, *pb], 8, 10)[0]][:8] == [47] * 5 + [23] * 3  # mixed already
    assert [x.size for x in write_stages(data, 4, 10)[0]] == [47] * 5  # nothing else to stagger with
    assert [x.size for x in write_stages([*data[:3], *small], 4, 1)[0]] == [47, 47, 47, 2, 1]
