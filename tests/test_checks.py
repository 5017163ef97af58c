"""`check`, `diff`, `repair` and `--checkpoint`: which weights race, on local folders and on S3 (moto)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from drmodel.checkpoints import Pointers, evaluation_choice, inventory, read_pointers
from drmodel.testing.synth import legacy_keys, legacy_prefix, placeholder, placeholder_prefix, put_all, synth_model
from helpers import cli, folder_digests, snapshot, write_folder

PREFIX = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
BEST, LAST = "140_Step-123889.ckpt", "145_Step-136982.ckpt"


def good_model(**kw) -> dict[str, bytes]:
    return synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=PREFIX, timestamp="20200427103015",
                       scale=0.002, **kw)


def drop(files: dict[str, bytes], *needles: str) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not any(n in k for n in needles)}


@pytest.fixture(params=["local", "s3"])
def place(request, tmp_path) -> Callable[[dict[str, bytes]], str]:
    """Put a canonical model in a local folder or a legacy bucket on moto; return its address."""
    if request.param == "local":
        counter = iter(range(100))
        return lambda files: str(write_folder(tmp_path / f"m{next(counter)}", files))
    client, bucket, _ = request.getfixturevalue("moto_buckets")

    def put(files: dict[str, bytes]) -> str:
        put_all(client, bucket, legacy_keys("Apex-Hunter", PREFIX, files))
        return f"s3://{bucket}/Apex-Hunter"
    return put


def check(address: str, *extra: str) -> tuple[int, dict]:
    code, out, err = cli("check", address, "--json", *extra)
    assert out, err
    return code, json.loads(out)


def messages(report: dict, severity: str) -> str:
    return "\n".join(f["message"] for f in report["findings"] if f["severity"] == severity)


def test_good_model_is_clean_and_best_races(place):
    code, report = check(place(good_model()))
    assert code == 0 and report["ok"] and not messages(report, "warning")
    ev = report["evaluation"]
    assert ev["checkpoint"] == BEST and ev["kind"] == "best" and len(ev["sha256"]) == 64
    # the files evaluation downloads: never model_N.pb (SimApp skips .pb, tensorflow_model.py:177)
    assert sorted(Path(p).name for p in ev["files"]) == sorted([
        f"{BEST}.data-00000-of-00001", f"{BEST}.index", f"{BEST}.meta"])
    code, report = check(place(good_model()), "--eval-checkpoint", "last")
    assert report["evaluation"]["checkpoint"] == LAST


@pytest.mark.parametrize("case,severity,needle", [
    ("bad-json", "error", "not valid JSON"),
    ("list-but-continuous", "error", "action_space_type is 'continuous'"),
    ("sac-discrete", "error", "SAC needs a continuous action space"),
    ("two-cameras", "error", "exactly one camera"),
    ("two-lidars", "error", "at most one lidar"),
    ("unknown-network", "error", "unknown neural_network"),
    ("unknown-key", "warning", "unknown keys: colour"),
    # the SimApp reads model/ only and DRoA imports both as they are: advice, not an error
    ("copies-differ", "warning", "differs from model_metadata.json in: version"),
    ("no-eval-copy", "error", "model/model_metadata.json is missing"),
])
def test_metadata_problems(place, case, severity, needle):
    files = good_model()
    meta = json.loads(files["model_metadata.json"])
    if case == "bad-json":
        files["model_metadata.json"] = files["model/model_metadata.json"] = b"{not json"
    else:
        if case == "list-but-continuous":
            meta["action_space_type"] = "continuous"
        elif case == "sac-discrete":
            meta["training_algorithm"] = "sac"
        elif case == "two-cameras":
            meta["sensor"] = ["FRONT_FACING_CAMERA", "STEREO_CAMERAS"]
        elif case == "two-lidars":
            meta["sensor"] = ["FRONT_FACING_CAMERA", "LIDAR", "SECTOR_LIDAR"]
        elif case == "unknown-network":
            meta["neural_network"] = "RESNET"
        elif case == "unknown-key":
            meta["colour"] = "red"
        files["model_metadata.json"] = json.dumps(meta).encode()
        if case != "copies-differ":
            files["model/model_metadata.json"] = files["model_metadata.json"]
        else:
            meta["version"] = "3"
            files["model/model_metadata.json"] = json.dumps(meta).encode()
        if case == "no-eval-copy":
            del files["model/model_metadata.json"]
    code, report = check(place(files))
    assert needle in messages(report, severity)
    assert (code == 5) == (severity == "error")


def test_reward_function_is_parsed_never_run(place, tmp_path):
    marker = tmp_path / "PWNED"
    evil = (f"import os\nos.system('touch {marker}')\nopen('{marker}', 'w')\n\n"
            "def reward_function(params):\n    return 1.0\n")
    files = good_model() | {"reward_function.py": evil.encode()}
    code, report = check(place(files))
    assert not marker.exists()
    assert "imports: os" in messages(report, "info")
    assert ("imports os: DeepRacer on AWS accepts only math, numpy, random, scipy, shapely"
            in messages(report, "warning"))
    for source, needle in ((b"def reward_function(params:\n", "does not parse"),
                           (b"def reward(params):\n    return 1.0\n", "defines no top-level reward_function"),
                           (b"def reward_function():\n    return 1.0\n", "exactly one argument")):
        code, report = check(place(good_model() | {"reward_function.py": source}))
        assert code == 5 and needle in messages(report, "error")


def test_best_checkpoint_missing_falls_back_silently_to_the_highest(place):
    files = drop(good_model(), BEST)
    code, report = check(place(files))
    assert code == 5
    assert f"best checkpoint {BEST} has no files in model/" in messages(report, "error")
    assert "SILENTLY loads the highest-numbered" in messages(report, "warning")
    assert report["evaluation"]["checkpoint"] == LAST and report["evaluation"]["kind"] == "fallback"


def test_stale_higher_checkpoint_decides_the_fallback(place):
    files = drop(good_model(), BEST)
    files["model/200_Step-999999.ckpt.index"] = b"stale index of a placeholder"
    code, report = check(place(files))
    # SimApp falls back to 200 (a lone .index) and then fails to load it: an error, not a warning
    assert code == 5 and report["evaluation"]["kind"] == "fails" and report["evaluation"]["checkpoint"] is None
    warnings = messages(report, "warning")
    assert "belong to no kept checkpoint" in warnings
    assert "SILENTLY loads the highest-numbered checkpoint left instead, 200_Step-999999.ckpt" in warnings
    assert 'this evaluation will fail: SimApp stops with "No checkpoint found"' in messages(report, "error")


def test_dotless_coach_checkpoint_and_missing_json(place):
    files = drop(good_model(), "deepracer_checkpoints.json", ".coach_checkpoint")
    files["model/coach_checkpoint"] = BEST.encode()
    code, report = check(place(files))
    # SimApp never reads the dotless file, and with no pointer at all it stops: "Checkpoint not found"
    assert code == 5 and "without its dot" in messages(report, "warning")
    assert 'SimApp stops with "Checkpoint not found"' in messages(report, "error")
    assert report["evaluation"]["kind"] == "fails" and report["evaluation"]["checkpoint"] is None
    # version-1 metadata (neither version nor sensor) takes make_compatible's way: model/checkpoint names it
    meta = json.loads(files["model_metadata.json"])
    del meta["version"], meta["sensor"]
    files["model_metadata.json"] = files["model/model_metadata.json"] = json.dumps(meta).encode()
    files["model/checkpoint"] = f'model_checkpoint_path: "{BEST}"\n'.encode()
    code, report = check(place(files))
    assert code == 0 and report["evaluation"]["checkpoint"] == BEST and report["evaluation"]["kind"] == "compat"
    files["model_metadata.json"] = files["model/model_metadata.json"] = good_model()["model_metadata.json"]
    del files["model/checkpoint"]
    files["model/.coach_checkpoint"] = BEST.encode()
    del files["model/coach_checkpoint"]
    code, report = check(place(files))
    assert report["evaluation"]["checkpoint"] == BEST and "as it is" in messages(report, "warning")


def test_missing_pb_is_a_warning_and_coach_elsewhere(place):
    files = drop(good_model(), "model_140.pb")
    files["model/.coach_checkpoint"] = b"143_Step-131502.ckpt"
    code, report = check(place(files))
    assert code == 0
    warnings = messages(report, "warning")
    assert "missing model_140.pb" in warnings and "neither best" in warnings


def test_checkpoint_numbers_are_matched_exactly():
    files = [f"model/{n}_Step-{n}00.ckpt.{part}" for n in (1, 14) for part in ("index", "meta", "data-00000-of-00001")]
    inv = inventory(files + ["model/model_14.pb"])
    assert all(p.startswith("model/1_Step-") for p in inv[1].files)
    choice = evaluation_choice(inv, Pointers(best="1_Step-100.ckpt", last="14_Step-1400.ckpt", json_present=True))
    assert choice.number == 1 and all("/1_Step-" in p for p in choice.files)
    inv = inventory([f for f in files if "/1_" not in f] + ["model/model_1.pb"])  # only model_1.pb left of 1
    choice = evaluation_choice(inv, Pointers(best="1_Step-100.ckpt", json_present=True))
    assert choice.number == 14 and choice.kind == "fallback"


def test_eval_checkpoint_order():
    files = {f"model/{n}_Step-{n}.ckpt.{p}": b"" for n in (3, 5, 9) for p in ("index", "meta", "data-0-of-1")}
    inv = inventory(files)
    both = Pointers(best="3_Step-3.ckpt", last="5_Step-5.ckpt", json_present=True, coach="9_Step-9.ckpt")
    assert evaluation_choice(inv, both, "best").number == 3
    assert evaluation_choice(inv, both, "last").number == 5
    assert evaluation_choice(inv, both, "LAST").number == 5 and evaluation_choice(inv, both, "Best").number == 3
    no_json = Pointers(coach="5_Step-5.ckpt")
    assert evaluation_choice(inv, no_json).number == 5 and evaluation_choice(inv, no_json).kind == "coach"
    broken_json = Pointers(json_present=True, json_error="bad", coach="3_Step-3.ckpt")
    assert evaluation_choice(inv, broken_json).number == 3
    nothing = evaluation_choice(inv, Pointers())  # no pointer at all: SimApp fails, it does not fall back
    assert nothing.number is None and nothing.kind == "fails" and nothing.fatal == "Checkpoint not found"
    assert evaluation_choice({}, Pointers()).number is None


def test_read_pointers_prefers_the_dotted_file():
    data = {"model/.coach_checkpoint": b"5_Step-5.ckpt\n", "model/coach_checkpoint": b"3_Step-3.ckpt",
            "model/deepracer_checkpoints.json": b"[]", "model/checkpoint": b'model_checkpoint_path: "5_Step-5.ckpt"'}
    ptr = read_pointers(data, data.__getitem__)
    assert ptr.coach == "5_Step-5.ckpt" and not ptr.coach_dotless and ptr.json_error and ptr.tf_checkpoint


# -- --checkpoint on copies, diff -------------------------------------------------------------------------------
@pytest.fixture
def legacy_pair(moto_buckets):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_keys("Apex-Hunter", PREFIX, good_model()))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.002))
    return client, f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", dst


def test_copy_last_races_last_and_diff_proves_it(legacy_pair, tmp_path):
    client, src, dst, bucket = legacy_pair
    code, out, err = cli("copy", src, dst, "--checkpoint", "last", "--yes", "--backup-to", str(tmp_path))
    assert code == 0, err
    assert f"In the target, evaluation will load: {LAST}" in out
    keys = [k for k in snapshot(client, bucket) if k.startswith(placeholder_prefix("Apex-Hunter") + "/model/")]
    assert {k.rsplit("/", 1)[1].split("_Step")[0] for k in keys if "_Step-" in k} == {"145"}
    code, report = check(dst)
    assert code == 0 and report["evaluation"]["checkpoint"] == LAST
    pointers = json.loads(client.get_object(Bucket=bucket, Key=placeholder_prefix("Apex-Hunter") +
                                            "/model/deepracer_checkpoints.json")["Body"].read())
    assert pointers["best_checkpoint"]["name"] == pointers["last_checkpoint"]["name"] == LAST
    # evaluated as the source was trained to race last, the same weights race
    code, out, _ = cli("diff", src, dst, "--eval-checkpoint", "last")
    assert code == 0 and "Verdict: the same weights will race." in out
    # with the SimApp default (best), the source would race 140: diff says why not
    code, out, _ = cli("diff", src, dst)
    assert code == 8 and "different checkpoint chosen: A loads 140_Step-123889.ckpt (best)" in out


def test_default_both_and_a_number(legacy_pair, tmp_path):
    client, src, dst, bucket = legacy_pair
    code, out, _ = cli("copy", src, dst, "--dry-run")
    assert code == 0 and "Checkpoints: best (140_Step-123889.ckpt) and last (145_Step-136982.ckpt)" in out
    assert f"In the target, evaluation will load: {BEST} (best)" in out and "143_Step" not in out
    target = tmp_path / "pulled"
    assert cli("pull", src, str(target), "--checkpoint", "143")[0] == 0
    code, report = check(str(target))
    assert report["evaluation"]["checkpoint"] == "143_Step-131502.ckpt"
    assert not [p for p in folder_digests(target) if "_Step-14" in p and "143" not in p]
    code, _, err = cli("pull", src, str(tmp_path / "x"), "--checkpoint", "99")
    assert code == 2 and "no checkpoint 99" in err
    code, _, err = cli("pull", src, str(tmp_path / "x"), "--checkpoint", "newest")
    assert code == 2


def test_diff_reports_different_bytes_and_action_space(legacy_pair, tmp_path):
    _, src, _, _ = legacy_pair
    a = tmp_path / "a"
    assert cli("pull", src, str(a))[0] == 0
    b = write_folder(tmp_path / "b", {p: (a / p).read_bytes() for p in folder_digests(a)})
    (b / f"model/{BEST}.index").write_bytes(b"changed")
    code, out, _ = cli("diff", str(a), str(b))
    assert code == 8 and f"different bytes in the checkpoint that races ({BEST})" in out
    (b / f"model/{BEST}.index").write_bytes((a / f"model/{BEST}.index").read_bytes())
    meta = json.loads((a / "model/model_metadata.json").read_text())
    meta["action_space"][0]["speed"] = 4.0
    (b / "model/model_metadata.json").write_text(json.dumps(meta))
    code, out, _ = cli("diff", str(a), str(b))
    assert code == 8 and "different action space" in out


def test_copy_refuses_a_broken_source_unless_forced(legacy_pair, tmp_path):
    client, src, dst, bucket = legacy_pair
    client.delete_object(Bucket=src.split("/")[2], Key=f"{PREFIX}/model/{BEST}.index")
    before = snapshot(client, bucket)
    code, _, err = cli("copy", src, dst, "--checkpoint", "all", "--yes", "--backup-to", str(tmp_path))
    assert code == 5 and "the target would be broken" in err and "--force" in err
    assert snapshot(client, bucket) == before
    code, _, err = cli("copy", src, dst, "--checkpoint", "all", "--yes", "--backup-to", str(tmp_path), "--force")
    assert code == 0, err


# -- repair ---------------------------------------------------------------------------------------------------
def test_repair_fixes_what_needs_no_guess(place, tmp_path):
    files = drop(good_model(), "deepracer_checkpoints.json", ".coach_checkpoint")
    files["model/coach_checkpoint"] = LAST.encode()
    meta = json.loads(files["model_metadata.json"])
    meta["version"] = "3"
    files["model/model_metadata.json"] = json.dumps(meta).encode()
    address = place(files)
    code, out, _ = cli("repair", address, "--dry-run")
    verb = "upload" if address.startswith("s3://") else "write"  # a folder's files are written, not uploaded
    assert code == 0 and f"Would {verb} 2 new" in out and "--from root or --from model" in out
    assert check(address)[1]["evaluation"]["kind"] == "fails"  # the dry run changed nothing
    code, out, err = cli("repair", address, "--from", "root", "--yes", "--backup-to", str(tmp_path / "bk"))
    assert code == 0, err
    code, report = check(address)
    assert code == 0, messages(report, "error")
    assert report["evaluation"]["checkpoint"] == LAST
    assert list((tmp_path / "bk").iterdir())  # the overwritten model/model_metadata.json was backed up
    code, out, _ = cli("repair", address, "--yes")
    assert code == 0 and "Nothing to do" in out
