"""Pure pieces: addresses, names and training-job choice, params rewriting, checksums, plans."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drmodel import paramsfile
from drmodel.address import parse
from drmodel.checkpoints import inventory
from drmodel.errors import AmbiguousError, InvalidModelError, NotFoundError, UsageError
from drmodel.hashing import HashingReader, b64, composite_checksum
from drmodel.layouts.names import check_name, choose_job
from drmodel.model import is_model_file, metadata_summary, parse_json, role
from drmodel.plan import build_plan
from drmodel.stores.base import ObjectInfo
from drmodel.testing.synth import model_metadata, training_params

P1 = "DeepRacer-SageMaker-RoboMaker-comm-123456789012-20200427103015-4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17"
P2 = "DeepRacer-SageMaker-RoboMaker-comm-123456789012-20200503081244-b81d2e07-3c9a-4f15-8e6d-0a7c4b2f9e58"
JOBS = {P1: "20200427103015", P2: "20200503081244"}


def test_parse_s3_and_local_addresses(tmp_path):
    a = parse("s3://aws-deepracer-abc/Apex-Hunter")
    assert (a.scheme, a.bucket, a.path) == ("s3", "aws-deepracer-abc", "Apex-Hunter")
    assert parse("s3://aws-deepracer-abc").path == ""
    local = parse(str(tmp_path / "m"))
    assert local.scheme == "file" and local.root == tmp_path / "m"


@pytest.mark.parametrize("bad", ["s3://Bad_Bucket/x", "s3://ab", "s3://bucket-ok/../other", "s3://bucket-ok/a/./b",
                                 "gs://bucket/x", "s3://bucket-ok/a\nb", "", "~no-such-user-here/model"])
def test_bad_addresses_are_usage_errors(bad):
    with pytest.raises(UsageError):
        parse(bad)


@pytest.mark.parametrize("bad", ["a/b", "..", "x..y", "bad\x07name", "", "-x"])
def test_bad_model_names(bad):
    with pytest.raises(UsageError):
        check_name(bad)


def test_choose_job_single_needs_no_flag():
    assert choose_job("m", {P1: JOBS[P1]}, None) == P1


def test_choose_job_several_is_ambiguous_and_lists_timestamps():
    with pytest.raises(AmbiguousError) as exc:
        choose_job("m", JOBS, None)
    assert "20200427103015" in str(exc.value) and "20200503081244" in str(exc.value)
    assert "--training-job" in str(exc.value)


@pytest.mark.parametrize("wanted,expected", [("20200427", P1), ("202005", P2), (P2[:60], P2), ("b81d2e07", P2),
                                             # the console's timestamp differs in its last characters
                                             ("20200427103021", P1), ("20200503081299", P2)])
def test_choose_job_by_prefix_or_close_timestamp(wanted, expected):
    assert choose_job("m", JOBS, wanted) == expected


def test_choose_job_errors():
    with pytest.raises(AmbiguousError):
        choose_job("m", JOBS, "2020")
    with pytest.raises(NotFoundError):
        choose_job("m", JOBS, "2019")


def test_rewrite_training_params_keeps_quotes_and_booleans():
    data = training_params("old-bucket", P1, "Apex-Hunter", "20200427103015") + b"FLAG: true\nPLAIN: value # c\n"
    new = paramsfile.rewrite(data, {"SAGEMAKER_SHARED_S3_BUCKET": "new-bucket", "PLAIN": "other"})
    doc = paramsfile.load(new, "x")
    assert doc["SAGEMAKER_SHARED_S3_BUCKET"] == "new-bucket"
    assert doc["FLAG"] is True and doc["TRACK_DIRECTION_CLOCKWISE"] == "false"
    assert b'SAGEMAKER_SHARED_S3_BUCKET: "new-bucket"' in new and b"PLAIN: other # c" in new
    assert paramsfile.changed_keys(data, new) == ["PLAIN", "SAGEMAKER_SHARED_S3_BUCKET"]


def test_broken_yaml_and_json_are_invalid_model_errors():
    with pytest.raises(InvalidModelError):
        paramsfile.load(b"a: [1, 2\n", "training_params.yaml")
    with pytest.raises(InvalidModelError):
        parse_json(b"{not json", "model_metadata.json")


def test_metadata_summary_discrete_and_continuous():
    d = metadata_summary(parse_json(model_metadata("discrete"), "m"), "m")
    assert d["action_space"].startswith("discrete, 5 actions") and d["sensor"] == ["FRONT_FACING_CAMERA"]
    c = metadata_summary(parse_json(model_metadata("continuous"), "m"), "m")
    assert c["action_space"].startswith("continuous, speed 1.1-3.8")
    with pytest.raises(InvalidModelError):
        metadata_summary({"sensor": []}, "m")


def test_hashing_reader_predicts_single_and_composite_checksums():
    data = bytes(range(256)) * 1000  # 256,000 bytes
    r = HashingReader(io.BytesIO(data), part_size=100_000)
    while r.read(7_777):
        pass
    assert r.sha256 == hashlib.sha256(data).hexdigest()
    assert r.expected_s3_checksum(False) == b64(hashlib.sha256(data).digest())
    parts = [hashlib.sha256(data[i:i + 100_000]).digest() for i in range(0, len(data), 100_000)]
    assert r.expected_s3_checksum(True) == composite_checksum(parts)
    assert r.expected_s3_checksum(True).endswith("-3")


def test_roles_and_model_files():
    assert role("model/140_Step-123889.ckpt.index") == "checkpoint"
    assert role("model/model_140.pb") == "frozen graph"
    assert role("training_params_1.yaml") == "training params"
    assert is_model_file("model/.coach_checkpoint") and not is_model_file("model/.DS_Store")
    # metrics/ travels with the model (DRfC's dr-upload-model requires a file there); evaluation params do not
    assert is_model_file("metrics/TrainingMetrics.json") and role("metrics/TrainingMetrics.json") == "metrics"
    assert not is_model_file("metrics/") and not is_model_file("eval_params_1.yaml")


def test_checkpoint_numbers_match_exactly():
    files = ["model/1_Step-100.ckpt.index", "model/14_Step-1400.ckpt.index", "model/model_1.pb", "model/model_14.pb"]
    inv = inventory(files)
    assert {n: sorted(ck.files) for n, ck in inv.items()} == {
        1: ["model/1_Step-100.ckpt.index", "model/model_1.pb"],
        14: ["model/14_Step-1400.ckpt.index", "model/model_14.pb"]}


def test_plan_deletes_only_stale_checkpoint_files():
    src = {"model_metadata.json": ObjectInfo("a", 10), "model/2_Step-2.ckpt.index": ObjectInfo("b", 5)}
    tgt = {"model_metadata.json": ObjectInfo("T/meta", 10), "model/1_Step-1.ckpt.index": ObjectInfo("T/model/1", 3),
           "ip/old.json": ObjectInfo("T/ip/old.json", 3)}
    plan = build_plan("copy", source_address="s", target_address="t", source_store=None, target_store=None,  # type: ignore[arg-type]
                      source_files=src, source_key_for=lambda p: p, target_files=tgt,
                      target_key_for=lambda p: "T/" + p, same={"model_metadata.json"}, rewritten={},
                      stale_candidates=[p for p in tgt if p.startswith("model/")])
    ops = {(a.op, a.key) for a in plan.actions}
    assert ops == {("skip", "T/model_metadata.json"), ("create", "T/model/2_Step-2.ckpt.index"),
                   ("delete", "T/model/1")}
    assert plan.destructive and plan.bytes_to_write == 5
    assert plan.actions[-1].op == "delete"  # deletes come after every write


def test_backups_never_share_a_folder(tmp_path):
    from drmodel.backup import new_folder as _new_folder

    wanted = tmp_path / "bk" / "target-20261128T000000Z"
    first, second = _new_folder(wanted), _new_folder(wanted)
    assert first == wanted and second != first and second.name.startswith(wanted.name)


_KEYS = st.one_of(st.from_regex(r"[A-Z0-9_]{1,8}", fullmatch=True),
                  st.sampled_from(["YES", "NO", "Y", "N", "TRUE", "NULL", "ON", "OFF", "_", "NAN", "INF", "E1"]))


@settings(max_examples=500)
@given(st.dictionaries(_KEYS, st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), max_size=6),
       st.sampled_from(['"', "'"]))
def test_params_fast_path_reads_exactly_what_yaml_reads(values: dict[str, str], quote: str) -> None:
    import yaml

    text = "".join(f"{k}: {quote}{v}{quote}\n" for k, v in values.items()).encode()
    try:
        want = yaml.safe_load(text.decode())
    except yaml.YAMLError:
        return
    assert paramsfile.load(text, "x") == (want or {})
    console = training_params("aws-deepracer-x", "DeepRacer-SageMaker-RoboMaker-comm-1-2-3", "Apex", "20200101000000")
    assert paramsfile.load(console, "x") == yaml.safe_load(console.decode())


def test_prefetched_reads_are_read_once_and_errors_surface_on_read() -> None:
    from drmodel.layouts.base import ModelLocation

    class Store:
        parallel_reads = True

        def __init__(self) -> None:
            self.reads: list[str] = []

        def read_bytes(self, key: str, max_size: int = 0) -> bytes:
            self.reads.append(key)
            if key == "k/broken":
                raise InvalidModelError("broken", fix="none")
            return key.encode()

    store = Store()
    files = {p: ObjectInfo(f"k/{p}", 1, "e") for p in ("a", "b", "broken")}
    loc = ModelLocation(store=store, layout=None, name="m", address="x", files=files,  # type: ignore[arg-type]
                        key_for=lambda p: f"k/{p}", overrides={"b": b"planned"})
    loc.prefetch(["a", "b", "broken", "not-in-model", "a"])  # no error here
    assert loc.read("a") == b"k/a" and loc.read("a") == b"k/a"
    assert loc.read("b") == b"planned"  # an override wins, and is never read from the store
    with pytest.raises(InvalidModelError):
        loc.read("broken")
    assert sorted(store.reads) == ["k/a", "k/broken"]


def test_one_botocore_loader_serves_every_profile_and_answers_like_botocores(tmp_path, monkeypatch) -> None:
    """Clients of two profiles share one loader (S3's model parsed once per process), made by botocore itself."""
    import botocore.loaders

    from drmodel.options import TransferOptions
    from drmodel.stores.s3 import make_client, shared_loader

    (tmp_path / "config").write_text("[profile a]\nregion = eu-west-1\n[profile b]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    a, b = make_client("a", TransferOptions()), make_client("b", TransferOptions())
    assert a.meta.region_name == "eu-west-1" and b.meta.region_name == "us-east-1"
    loader = shared_loader(None)
    assert type(loader) is botocore.loaders.Loader
    assert loader.load_service_model("s3", "service-2") is loader.load_service_model("s3", "service-2")
    plain = botocore.loaders.create_loader().load_service_model("s3", "service-2")
    assert loader.load_service_model("s3", "service-2")["operations"].keys() == plain["operations"].keys()


def test_a_local_file_is_reserved_at_its_size_but_holds_only_what_was_read(tmp_path: Any) -> None:
    from drmodel.stores.local import LocalStore

    store = LocalStore(tmp_path)
    res = store.write_stream("a/full", io.BytesIO(b"x" * 5000), 5000)
    assert (tmp_path / "a/full").read_bytes() == b"x" * 5000 and res.info.size == 5000
    res = store.write_stream("a/short", io.BytesIO(b"y" * 100), 5000)  # the stream ended early
    assert (tmp_path / "a/short").read_bytes() == b"y" * 100 and res.info.size == 100
    assert [p.name for p in (tmp_path / "a").iterdir() if "drmodel-tmp" in p.name] == []


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31)),
       st.sampled_from(["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f+00:00",
                        "%a, %d %b %Y %H:%M:%S GMT"]), st.integers(0, 6))
def test_the_fast_response_timestamp_parser_agrees_with_botocores(when: Any, form: str, digits: int) -> None:
    """S3's timestamps (ISO 8601 in listings, HTTP dates in headers) parse to what botocore's own parser gives."""
    from botocore.utils import parse_timestamp as botocore_parse

    from drmodel.stores.s3 import parse_timestamp

    text = when.strftime(form)
    if ".%f" in form:  # S3 writes milliseconds; any number of digits parses the same
        head, _, tail = text.partition(".")
        fraction = tail[:6]
        text = head + ("." + fraction[:digits] if digits else "") + tail[6:]
    assert parse_timestamp(text) == botocore_parse(text)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_users_umask(tmp_path: Any, umask: int, mode: int) -> None:
    """A pulled file gets the mode any program of the user would give it (0666 less the umask), not mkstemp's
    0600; nothing temporary is left beside it."""
    import os
    import stat

    from drmodel.stores.local import LocalStore

    old = os.umask(umask)
    try:
        LocalStore(tmp_path).write_stream("model/a.bin", io.BytesIO(b"x" * 10), 10)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "model/a.bin").stat().st_mode) == mode
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["a.bin"]


def test_a_lock_of_this_host_is_never_probed_with_os_kill_on_windows(monkeypatch: Any) -> None:
    """On Windows os.kill(pid, 0) terminates the process: the liveness probe must not call it there."""
    import os

    from drmodel import lock

    def kill(pid: int, sig: int) -> None:
        raise AssertionError("os.kill called")

    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(os, "name", "nt")
    assert lock._alive(12345) is True
    monkeypatch.setattr(os, "name", "posix")
    with pytest.raises(AssertionError):
        lock._alive(12345)
