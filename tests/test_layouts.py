"""Every place a model lives: the layout contract suite (round trips) and the conversions racers meet."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from drmodel import api, paramsfile
from drmodel.testing.synth import (
    console_export,
    legacy_bucket,
    legacy_keys,
    legacy_prefix,
    placeholder,
    placeholder_prefix,
    put_all,
    synth_model,
)
from helpers import cli, folder_digests, snapshot, write_folder

LOCATION_KEYS = set(api.LOCATION_KEYS)
EXPORT_TS = "Wed, 27 Oct 2021 19:42:10 GMT"
P1 = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")


def canonical(files: dict[str, bytes]) -> dict[str, str]:
    """sha256 per canonical path; training params compared without the keys that name their location."""
    out = {}
    for path, data in files.items():
        if path.startswith("training_params"):
            doc = {k: v for k, v in paramsfile.load(data, path).items() if k not in LOCATION_KEYS}
            out[path] = json.dumps(doc, sort_keys=True)
        else:
            out[path] = hashlib.sha256(data).hexdigest()
    return out


def read_back(address: str, profile: str | None = None) -> dict[str, bytes]:
    loc = api.open_model(address, profile=profile)
    return {p: loc.read(p) for p in loc.files}


def source_model() -> dict[str, bytes]:
    return synth_model("Apex-Hunter", bucket="aws-deepracer-src", prefix=P1, timestamp="20200427103015",
                       scale=0.01)


# -- the contract: write a canonical model into each layout, read it back, same files and sha256 ----------------
def _targets(request, tmp_path) -> tuple[str, str | None]:
    kind = request.param
    if kind == "local-prefix":
        return str(tmp_path / "out" / "Apex-Hunter"), None
    if kind == "archive":
        return str(tmp_path / "Apex-Hunter.tar.gz"), None
    if kind.startswith("moto"):
        _, _, dst = request.getfixturevalue("moto_buckets")
        return (f"s3://{dst}/models/Apex-Hunter" if kind == "moto-prefix" else f"s3://{dst}/Apex-Hunter"), None
    acc = request.getfixturevalue("two_accounts")
    bucket = acc.target_bucket
    return (f"s3://{bucket}/models/Apex-Hunter" if kind == "seaweed-prefix" else f"s3://{bucket}/Apex-Hunter"), "dst"


@pytest.fixture(params=["local-prefix", "archive", "moto-prefix", "moto-legacy", "seaweed-prefix", "seaweed-legacy"])
def target(request, tmp_path):
    return _targets(request, tmp_path)


def test_layout_round_trip(target, tmp_path):
    address, profile = target
    files = source_model()
    src = write_folder(tmp_path / "src" / "Apex-Hunter", files)
    args = ["copy", str(src), address, "--checkpoint", "all", "--create", "--account-id", "210987654321", "--yes"]
    if profile:
        args += ["--target-profile", profile]
    code, out, err = cli(*args)
    assert code == 0, err
    back = read_back(address, profile)
    back.pop("drmodel-manifest.json", None)
    assert canonical(back) == canonical(files)
    # and out again, into a folder: the same bytes
    again = tmp_path / "again"
    args = ["copy", address, str(again), "--checkpoint", "all"] + (["--source-profile", profile] if profile else [])
    assert cli(*args)[0] == 0
    digests = folder_digests(again)
    assert {p: d for p, d in digests.items() if not p.startswith("training_params") and p != "drmodel-manifest.json"} \
        == {p: d for p, d in canonical(files).items() if not p.startswith("training_params")}
    assert cli("verify", str(src), str(again))[0] == 0


# -- conversions ------------------------------------------------------------------------------------------------
def test_legacy_to_prefix_rewrites_training_params(moto_buckets):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    # a plain name in an aws-deepracer-* bucket defaults to the legacy layout: say prefix
    code, out, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/rl-deepracer-sagemaker", "--yes",
                         "--target-layout", "prefix")
    assert code == 0, err
    assert "(legacy layout -> prefix layout)" in out
    params = paramsfile.load(client.get_object(Bucket=dst, Key="rl-deepracer-sagemaker/training_params_1.yaml")
                             ["Body"].read(), "x")
    assert params["SAGEMAKER_SHARED_S3_BUCKET"] == dst
    assert params["SAGEMAKER_SHARED_S3_PREFIX"] == "rl-deepracer-sagemaker"
    assert params["MODEL_METADATA_FILE_S3_KEY"] == "rl-deepracer-sagemaker/model_metadata.json"
    assert params["REWARD_FILE_S3_KEY"] == "rl-deepracer-sagemaker/reward_function.py"
    assert params["TRACK_DIRECTION_CLOCKWISE"] == "false"  # untouched values keep their type
    code, out, _ = cli("diff", f"s3://{src}/Apex-Hunter", f"s3://{dst}/rl-deepracer-sagemaker")
    assert code == 0 and "same weights" in out
    code, out, _ = cli("ls", f"s3://{dst}")
    assert "prefix layout" in out and "rl-deepracer-sagemaker" in out


def test_console_export_to_local_folder(moto_buckets, tmp_path):
    client, src, _ = moto_buckets
    files = source_model()
    put_all(client, src, console_export("exports", "Apex-Hunter", EXPORT_TS, files))
    put_all(client, src, console_export("exports", "Apex-Hunter", "Thu, 28 Oct 2021 08:00:00 GMT", files))
    put_all(client, src, console_export("exports", "Other-Model", EXPORT_TS, files))
    code, out, _ = cli("ls", f"s3://{src}", "--json")
    rows = json.loads(out)
    assert len(rows) == 3 and {r["layout"] for r in rows} == {"export"}
    code, _, err = cli("show", f"s3://{src}/exports/Apex-Hunter")
    assert code == 6 and "--training-job" in err
    code, out, err = cli("pull", f"s3://{src}/exports/Apex-Hunter", str(tmp_path / "m"), "--training-job",
                         "20211027", "--checkpoint", "all")
    assert code == 0, err
    pulled = folder_digests(tmp_path / "m")
    assert not [p for p in pulled if p.startswith(("metrics/", "logs/", "sagemaker-artifacts/"))]
    assert "training_params_5b3f1e2a-8c4d-4e6f-9a0b-1c2d3e4f5a6b.yaml" in pulled
    assert "model/coach_checkpoint" in pulled  # copied as it is; check flags it, repair fixes it
    code, report = cli("check", str(tmp_path / "m"), "--json")[:2]
    assert "without its dot" in report
    assert cli("repair", str(tmp_path / "m"), "--yes")[0] == 0
    assert cli("check", str(tmp_path / "m"))[0] == 0
    address = f"s3://{src}/exports/Apex-Hunter/{EXPORT_TS}"
    code, out, _ = cli("show", address)
    assert code == 0 and "(export layout)" in out
    code, _, err = cli("copy", str(tmp_path / "m"), address, "--yes")
    assert code == 2 and "read-only" in err


def test_prefix_to_legacy_replacing_a_placeholder(moto_buckets, tmp_path):
    client, src, dst = moto_buckets
    files = source_model()
    put_all(client, src, {f"drfc/rl-deepracer-1/{p}": d for p, d in files.items()})
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.01))
    pt = placeholder_prefix("Apex-Hunter")
    code, out, err = cli("copy", f"s3://{src}/drfc/rl-deepracer-1", f"s3://{dst}/Apex-Hunter", "--yes",
                         "--backup-to", str(tmp_path))
    assert code == 0, err
    assert "(prefix layout -> legacy layout)" in out
    params = paramsfile.load(client.get_object(Bucket=dst, Key=f"{pt}/training_params_1.yaml")["Body"].read(), "x")
    assert params["SAGEMAKER_SHARED_S3_PREFIX"] == pt
    assert params["MODEL_METADATA_FILE_S3_KEY"] == "model-metadata/Apex-Hunter/model_metadata.json"
    assert not any("1_Step-1021" in k for k in snapshot(client, dst))
    code, out, _ = cli("diff", f"s3://{src}/drfc/rl-deepracer-1", f"s3://{dst}/Apex-Hunter")
    assert code == 0, out


def test_folder_to_archive_and_back_and_archive_to_prefix(moto_buckets, tmp_path):
    client, _, dst = moto_buckets
    files = source_model()
    src = write_folder(tmp_path / "Apex-Hunter", files)
    bundle = tmp_path / "Apex-Hunter.tar.gz"
    assert cli("copy", str(src), str(bundle), "--checkpoint", "all")[0] == 0
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("drmodel-manifest.json").read())  # type: ignore[union-attr]
    assert "model_metadata.json" in names and "drmodel-manifest.json" in names
    assert {f["path"] for f in manifest["files"]} == set(files)
    code, _, err = cli("copy", str(src), str(bundle))
    assert code == 2 and "already exists" in err
    assert cli("copy", str(bundle), str(tmp_path / "back"), "--checkpoint", "all")[0] == 0
    assert cli("verify", str(src), str(tmp_path / "back"))[0] == 0
    code, out, err = cli("copy", str(bundle), f"s3://{dst}/imports/Apex-Hunter", "--checkpoint", "all")
    assert code == 0, err
    assert cli("diff", str(bundle), f"s3://{dst}/imports/Apex-Hunter")[0] == 0


def test_droa_virtualmodel_archive_is_read(tmp_path):
    files = source_model()
    bundle = tmp_path / "virtualmodel-Apex-Hunter.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    code, out, _ = cli("show", str(bundle), "--json")
    assert code == 0 and json.loads(out)["name"] == "Apex-Hunter"
    assert cli("check", str(bundle))[0] == 0


@pytest.mark.parametrize("source_kind", ["legacy", "archive", "folder"])
def test_any_to_car_package(moto_buckets, tmp_path, source_kind):
    client, src, _ = moto_buckets
    files = source_model()
    if source_kind == "legacy":
        put_all(client, src, legacy_keys("Apex-Hunter", P1, files))
        address = f"s3://{src}/Apex-Hunter"
    else:
        folder = write_folder(tmp_path / "Apex-Hunter", files)
        address = str(folder)
        if source_kind == "archive":
            address = str(tmp_path / "bundle.tar.gz")
            assert cli("copy", str(folder), address, "--checkpoint", "all")[0] == 0
    out_file = tmp_path / "car.tar.gz"
    code, out, err = cli("car", address, str(out_file), "--checkpoint", "last")
    assert code == 0, err
    with tarfile.open(out_file) as tar:
        assert sorted(tar.getnames()) == ["agent/model.pb", "model_metadata.json"]
        assert tar.extractfile("agent/model.pb").read() == files["model/model_145.pb"]  # type: ignore[union-attr]
        assert tar.extractfile("model_metadata.json").read() == files["model/model_metadata.json"]  # type: ignore
    assert hashlib.sha256(files["model/model_145.pb"]).hexdigest() in out
    code, _, err = cli("car", address, str(out_file))
    assert code == 2 and "already exists" in err
    code, _, err = cli("car", address, str(tmp_path / "c2.tar.gz"), "--checkpoint", "both")
    assert code == 2


def test_ambiguous_address_lists_candidates(moto_buckets):
    client, src, _ = moto_buckets
    files = source_model()
    put_all(client, src, legacy_keys("Apex-Hunter", P1, files))
    put_all(client, src, {f"Apex-Hunter/{p}": d for p, d in files.items()})  # a prefix model of the same name
    code, _, err = cli("show", f"s3://{src}/Apex-Hunter")
    assert code == 6 and "legacy (model)" in err and "prefix (model)" in err and "--layout" in err
    assert cli("show", f"s3://{src}/Apex-Hunter", "--layout", "prefix")[0] == 0
    assert cli("show", f"s3://{src}/Apex-Hunter", "--layout", "legacy")[0] == 0


def test_export_detection_does_not_list_the_console_folders(moto_buckets, monkeypatch):
    """A legacy bucket's training prefixes hold most of its objects: finding exports must not list them."""
    from drmodel.layouts.export import ConsoleExportLayout
    from drmodel.stores.s3 import S3Store

    client, src, _ = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    put_all(client, src, console_export("exports", "Apex-Hunter", EXPORT_TS, source_model()))
    listed = []
    real_list = S3Store.list

    def recording_list(self, prefix="", delimiter=None):
        listed.append(prefix)
        return real_list(self, prefix, delimiter)

    monkeypatch.setattr(S3Store, "list", recording_list)
    exports = ConsoleExportLayout()._exports(S3Store(src), "")
    assert exports == {f"exports/Apex-Hunter/{EXPORT_TS}/": "Apex-Hunter"}
    assert listed == ["exports/"]


def test_detection_lists_each_folder_once(moto_buckets, monkeypatch):
    from drmodel.layouts import detect
    from drmodel.stores.s3 import S3Store

    client, src, _ = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    asked = []
    real_list_dirs = S3Store.list_dirs

    def recording_list_dirs(self, prefix=""):
        asked.append(prefix)
        return real_list_dirs(self, prefix)

    monkeypatch.setattr(S3Store, "list_dirs", recording_list_dirs)
    store = S3Store(src)
    layout, kind = detect(store, "")
    assert (layout.name, kind) == ("legacy", "container")
    assert asked.count("") == 1 and len(asked) == len(set(asked))
    assert "list_dirs" not in vars(store)  # the memo is gone once detection is over


def test_a_name_missing_from_the_top_level_is_not_probed_inside(moto_buckets, monkeypatch):
    """A console model NAME has no NAME/ folder: detection decides from the top-level listing alone, while a
    prefix-layout model at the top level (a NAME/ folder) and the same name in another bucket still detect."""
    from drmodel.layouts import detect
    from drmodel.stores.s3 import S3Store

    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    put_all(client, dst, {f"Apex-Hunter/{k}": v for k, v in source_model().items()})
    asked: list[tuple[str, str]] = []
    for name in ("head", "list", "list_dirs"):
        real = getattr(S3Store, name)

        def recording(self, *args, _real=real, _name=name, **kwargs):
            asked.append((_name, str(args[0]) if args else ""))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(S3Store, name, recording)
    assert [(lay.name, kind) for lay, kind in [detect(S3Store(src), "Apex-Hunter")]] == [("legacy", "model")]
    # nothing probed inside Apex-Hunter/; what is listed besides the top level is the console bucket's index,
    # read ahead while detection runs
    assert [a for a in asked if a[0] != "list"] == [("list_dirs", "")]
    assert {prefix for op, prefix in asked if op == "list"} <= {"model-metadata/", "reward-functions/",
                                                                "DeepRacer-SageMaker-RoboMaker-comm-"}
    asked.clear()
    assert [(lay.name, kind) for lay, kind in [detect(S3Store(dst), "Apex-Hunter")]] == [("prefix", "model")]
    assert ("head", "Apex-Hunter/model_metadata.json") in asked


def test_a_console_buckets_index_is_read_ahead_once_while_detection_runs(moto_buckets, monkeypatch):
    """In an aws-deepracer-* bucket, detection starts building the legacy index in the background and opening the
    model takes that index: each index prefix is listed once, and the model is the one opened without it."""
    import threading
    from collections import Counter

    from drmodel.layouts.legacy import LegacyConsoleLayout
    from drmodel.stores.s3 import S3Store

    client, src, _ = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    listed: list[str] = []
    built_on: list[str] = []
    real_list, real_build = S3Store.list, LegacyConsoleLayout._build_index
    monkeypatch.setattr(S3Store, "list", lambda self, prefix="", *a, **k: listed.append(prefix) or real_list(
        self, prefix, *a, **k))
    monkeypatch.setattr(LegacyConsoleLayout, "_build_index", lambda self, store: built_on.append(
        threading.current_thread().name) or real_build(self, store))
    ahead = api.open_model(f"s3://{src}/Apex-Hunter")
    assert Counter(listed) == {"model-metadata/": 1, "reward-functions/": 1,
                               "DeepRacer-SageMaker-RoboMaker-comm-": 1}
    assert built_on and all(name.startswith("index") for name in built_on)
    monkeypatch.setattr(LegacyConsoleLayout, "read_ahead", lambda self, store: None)
    inline = api.open_model(f"s3://{src}/Apex-Hunter")
    assert built_on[-1] == threading.current_thread().name
    assert (ahead.files, ahead.details, ahead.listed) == (inline.files, inline.details, inline.listed)


def test_a_rerun_into_a_prefix_proves_the_rewritten_training_params_by_md5_etag(moto_buckets, monkeypatch):
    """The target's training params are the source's rewritten (they name the target's bucket and prefix): a rerun
    compares the planned bytes' MD5 with the target listing's ETag and reads nothing from the target. An ETag not
    of MD5 form (SSE-KMS) proves nothing: the file is read and compared."""
    import dataclasses

    from drmodel.stores.s3 import S3Store

    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    first = api.plan_transfer("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/club/Apex-Hunter", create=True)
    assert any(a.path.startswith("training_params") and a.data is not None and b"club/Apex-Hunter" in a.data
               for a in first.writes)
    api.execute(first)
    reads: list[str] = []
    real_read = S3Store.read_bytes
    monkeypatch.setattr(S3Store, "read_bytes", lambda self, key, *a, **k: reads.append(f"{self.bucket}/{key}")
                        or real_read(self, key, *a, **k))
    rerun = api.plan_transfer("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/club/Apex-Hunter")
    assert not rerun.writes and not [k for k in reads if k.startswith(dst)]

    real_list = S3Store.list
    monkeypatch.setattr(S3Store, "list", lambda self, prefix="", delimiter=None: (
        dataclasses.replace(o, etag="kms-" + (o.etag or "")) if "training_params" in o.key else o
        for o in real_list(self, prefix, delimiter)))
    again = api.plan_transfer("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/club/Apex-Hunter")
    assert not again.writes and [k for k in reads if k.startswith(dst) and "training_params" in k]


def test_detecting_a_console_bucket_probes_none_of_its_own_folders(moto_buckets, monkeypatch):
    """A console bucket has a folder per training job: none is a model folder, so the prefix layout's detection
    sends no HEAD into them (legacy.CONSOLE_ROOTS); a folder of models beside them is still probed, and found."""
    from drmodel.errors import AmbiguousError
    from drmodel.layouts import detect
    from drmodel.layouts.legacy import CONSOLE_ROOTS
    from drmodel.stores.s3 import S3Store

    client, src, _ = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    heads: list[str] = []
    real_head = S3Store.head
    monkeypatch.setattr(S3Store, "head", lambda self, key, **k: heads.append(key) or real_head(self, key, **k))
    assert [(lay.name, kind) for lay, kind in [detect(S3Store(src), "")]] == [("legacy", "container")]
    assert heads and not [k for k in heads if k.startswith(CONSOLE_ROOTS)]
    put_all(client, src, {f"Other-Model/{p}": d for p, d in source_model().items()})
    heads.clear()
    with pytest.raises(AmbiguousError, match="several layouts"):
        detect(S3Store(src), "")
    assert "Other-Model/model_metadata.json" in heads and not [k for k in heads if k.startswith(CONSOLE_ROOTS)]
