"""Conformance: drmodel's prediction of what DeepRacer's SimApp evaluation loads, or why it fails, rule by rule.

Every case cites the SimApp code it follows: aws-deepracer-community/deepracer-simapp at commit 01f5f015
(`git show 01f5f015:<path>`; line numbers as `cat -n` prints them). Paths are below the repository's `bundle/`
unless they say otherwise. The rules are stated in our own words; no SimApp code is copied or run. Research note:
issue 17, "Agree with the software that races" (R1-R21 and the test table there, whose row numbers these cases keep).

Baseline model B (drmodel.testing.synth): model/ holds 140, 143, 144 and 145 (N_Step-M.ckpt .data/.index/.meta and
model_N.pb), deepracer_checkpoints.json best 140 / last 145, .coach_checkpoint 145, metadata version "4" with a
sensor. Each case changes B, writes it to a folder (or a legacy bucket on moto) and runs `drmodel check --json`
(exit 5 on errors) or `drmodel diff`.

Rows not tested: 3 (a YAML integer EVAL_CHECKPOINT; drmodel's option is always a string), 41 (an action count that
differs from the checkpoint's tensors; only TensorFlow could tell) and 43 (what evaluation writes back to S3; a
side effect of running it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pytest

from drmodel.checkpoints import inventory, read_pointers, select
from drmodel.testing.synth import legacy_keys, legacy_prefix, put_all, synth_model
from helpers import cli, write_folder

PREFIX = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
B140, B143, B145 = "140_Step-123889.ckpt", "143_Step-131502.ckpt", "145_Step-136982.ckpt"
BOM = b"\xef\xbb\xbf"
NAME_ERROR = "Eval worker error: name 'timeout' is not defined"


@lru_cache(maxsize=1)
def _baseline() -> tuple[tuple[str, bytes], ...]:
    return tuple(synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=PREFIX, timestamp="20200427103015",
                             scale=0.0005).items())


def model() -> dict[str, bytes]:
    """A fresh copy of baseline model B."""
    return dict(_baseline())


def without(files: dict[str, bytes], *needles: str) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not any(n in k for n in needles)}


def set_json(files: dict[str, bytes], **names: object) -> dict[str, bytes]:
    """deepracer_checkpoints.json with these entries' names replaced."""
    doc = json.loads(files["model/deepracer_checkpoints.json"])
    for key, value in names.items():
        doc[key]["name"] = value
    files["model/deepracer_checkpoints.json"] = json.dumps(doc).encode()
    return files


def set_meta(files: dict[str, bytes], drop: tuple[str, ...] = (), **values: object) -> dict[str, bytes]:
    """Both copies of model_metadata.json, with keys dropped or set."""
    meta = json.loads(files["model/model_metadata.json"])
    for key in drop:
        meta.pop(key, None)
    meta.update(values)
    files["model_metadata.json"] = files["model/model_metadata.json"] = json.dumps(meta).encode()
    return files


@pytest.fixture
def check(tmp_path) -> Callable[..., tuple[int, dict]]:
    counter = iter(range(1000))

    def run(files: dict[str, bytes], *extra: str) -> tuple[int, dict]:
        folder = write_folder(tmp_path / f"m{next(counter)}", files)
        code, out, err = cli("check", str(folder), "--json", *extra)
        assert out, err
        return code, json.loads(out)
    return run


def found(report: dict, severity: str) -> str:
    return "\n".join(f["message"] for f in report["findings"] if f["severity"] == severity)


def loads(code: int, report: dict, name: str, kind: str | None = None) -> None:
    """The evaluation loads `name` and nothing makes the check fail."""
    ev = report["evaluation"]
    assert ev["checkpoint"] == name, (ev, found(report, "error"))
    assert kind is None or ev["kind"] == kind
    assert code == 0 and report["ok"], found(report, "error")


def fails(code: int, report: dict, simapp_message: str) -> None:
    """The evaluation fails with SimApp's message: an error finding, exit 5, nothing loads."""
    ev = report["evaluation"]
    assert code == 5 and not report["ok"]
    assert ev["kind"] == "fails" and ev["checkpoint"] is None and ev["sha256"] is None
    assert f"this evaluation will fail: SimApp stops with \"{simapp_message}" in found(report, "error")


# -- R1: EVAL_CHECKPOINT -----------------------------------------------------------------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/evaluation_worker.py:256-259 (default "best") and
# :376-381: `best` compared after lower-casing picks best_checkpoint; any other string picks last_checkpoint. (Rows 1-2.
# Row 3, a YAML integer that makes .lower() fail, cannot reach drmodel: --eval-checkpoint is a string.)
@pytest.mark.parametrize("value,expected", [
    ("best", B140), ("BEST", B140), ("Best", B140),
    ("last", B145), ("LAST", B145), ("latest", B145), ("145", B145), ("best ", B145),
])
def test_r1_best_in_any_case_means_best_anything_else_means_last(check, value, expected):
    code, report = check(model(), "--eval-checkpoint", value)
    loads(code, report, expected, "best" if expected == B140 else "last")


# -- R3: deepracer_checkpoints.json --------------------------------------------------------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/deepracer_checkpoint_json.py:106-114: the entry's "name" of the parsed
# file; any exception, or a falsy name, is logged and gives "no pick", and evaluation goes on with
# model/.coach_checkpoint as it is. aws-deepracer-community/deepracer-simapp@01f5f015 docker/Dockerfile.combined:69-71
# sets LANG=C.UTF-8, so open() decodes plain UTF-8 and a BOM makes the JSON parser fail (row 9).
def test_r3_a_bom_makes_the_json_unusable_so_coach_checkpoint_races(check):
    files = model()
    files["model/deepracer_checkpoints.json"] = BOM + files["model/deepracer_checkpoints.json"]
    code, report = check(files)
    assert report["evaluation"]["checkpoint"] == B145 and report["evaluation"]["kind"] == "coach"
    # the file names best 140 but 145 races: different weights than the pointer says, so an error
    assert code == 5 and "starts with a UTF-8 BOM" in found(report, "error")
    code, report = check(files, "--eval-checkpoint", "last")  # what races is what the file names: a warning
    loads(code, report, B145)
    assert "starts with a UTF-8 BOM" in found(report, "warning")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/deepracer_checkpoint_json.py:106-114 (row 10): JSON that does not parse
# is ignored, not fatal; drmodel only advises.
def test_r3_invalid_json_is_ignored_and_only_a_warning(check):
    files = model()
    files["model/deepracer_checkpoints.json"] = b"{not json"
    files["model/.coach_checkpoint"] = B143.encode()
    code, report = check(files)
    loads(code, report, B143, "coach")
    assert "evaluation ignores it" in found(report, "warning")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/deepracer_checkpoint_json.py:106-114 and :133-147 (row 11): evaluation
# never falls back from best to last (only the frozen-graph helper at :133-147 does); a missing entry, a non-object
# document or entry, a missing, null or empty name all mean "use .coach_checkpoint" (row 12).
@pytest.mark.parametrize("change", ["entry-null", "entry-without-name", "name-empty", "name-null", "no-entry",
                                    "not-an-object"])
def test_r3_no_usable_best_entry_uses_coach_checkpoint_not_last(check, change):
    files = model()
    files["model/.coach_checkpoint"] = B143.encode()
    doc = json.loads(files["model/deepracer_checkpoints.json"])
    if change == "entry-null":
        doc["best_checkpoint"] = None
    elif change == "entry-without-name":
        del doc["best_checkpoint"]["name"]
    elif change == "name-empty":
        doc["best_checkpoint"]["name"] = ""
    elif change == "name-null":
        doc["best_checkpoint"]["name"] = None
    elif change == "no-entry":
        del doc["best_checkpoint"]
    else:
        doc = [doc["best_checkpoint"]]
    files["model/deepracer_checkpoints.json"] = json.dumps(doc).encode()
    code, report = check(files)
    loads(code, report, B143)


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/deepracer_checkpoint_json.py:106-115 and
# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/rl_coach_checkpoint.py:170-175 (row 13): a truthy name that is not a
# string (140) is returned but never written over .coach_checkpoint, so .coach_checkpoint (145) races. drmodel used to
# crash on it (AttributeError, exit 1).
def test_r3_r4_a_numeric_name_is_not_written_and_does_not_crash(check):
    code, report = check(set_json(model(), best_checkpoint=140))
    loads(code, report, B145)
    assert "is not a string" in found(report, "warning")


# -- R4 + R7: the pick is written raw; a name rl_coach cannot read kills the job -----------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/rl_coach_checkpoint.py:176-179 writes the pick as it is;
# bundle/rl_coach/rl_coach/checkpoint.py:130-138 and :254-271 read it back (no strip); bundle/markov/
# s3_boto_data_store.py:311-321 skips the download when nothing parses and :333-355 retries 10 times, 10 s apart, then
# formats an undefined `timeout`: the job dies with a NameError through bundle/markov/evaluation_worker.py :572-576
# (rows 14 and 16).
@pytest.mark.parametrize("pick", [" 140_Step-123889.ckpt", "model/140_Step-123889.ckpt", "140_Step-123889",
                                  "\n140_Step-123889.ckpt"])
def test_r4_r7_a_pick_rl_coach_cannot_read_fails_the_job(check, pick):
    code, report = check(set_json(model(), best_checkpoint=pick))
    fails(code, report, NAME_ERROR)


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:126-139 and :142-166 (row 15): a readable pick whose
# files are absent (same number, other step) is not "present"; SimApp silently falls back to the highest number (145).
# It races other weights: an error.
def test_r10_r11_a_readable_pick_without_files_falls_back_silently(check):
    code, report = check(set_json(model(), best_checkpoint="140_Step-999.ckpt"))
    assert report["evaluation"]["checkpoint"] == B145 and report["evaluation"]["kind"] == "fallback"
    assert code == 5 and "best checkpoint 140_Step-999.ckpt has no files in model/" in found(report, "error")
    assert f"SILENTLY loads the highest-numbered checkpoint left instead, {B145}" in found(report, "warning")


# -- R5: how rl_coach reads .coach_checkpoint ------------------------------------------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/rl_coach/rl_coach/checkpoint.py:130-138 (the first 256
# characters, text mode) and :254-271 (an optional leading number and a non-digit, then the shortest text up to `.ckpt`,
# an optional `-N`; a name needs one of the two numbers). Without deepracer_checkpoints.json .coach_checkpoint is used
# as it is (rows 17-20).
@pytest.mark.parametrize("content,expected", [
    (BOM + B145.encode(), None),  # row 17
    (f"  {B145}\n".encode(), None),  # row 18
    (f"{B145}\n".encode(), B145),  # row 19: a trailing newline is fine
    (b"", None),  # row 20: present but empty is not "missing"
    (f"{B145}.index".encode(), B145),  # the name stops at .ckpt
    (f"\r\n{B145}".encode(), None),  # a blank first line
    (b"145.ckpt", None),  # the number must be followed by a non-digit before .ckpt
    (b'model_checkpoint_path: "145_Step-136982.ckpt"', None),  # TensorFlow's format is not rl_coach's
])
def test_r5_coach_checkpoint_is_read_as_rl_coach_reads_it(check, content, expected):
    files = without(model(), "deepracer_checkpoints.json")
    files["model/.coach_checkpoint"] = content
    code, report = check(files)
    if expected is None:
        fails(code, report, NAME_ERROR)
    else:
        assert report["evaluation"]["checkpoint"] == expected and report["evaluation"]["kind"] == "coach"
        assert code == 0


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/s3_boto_data_store.py:311 reads .coach_checkpoint
# inside load_from_store's try (:215-244): bytes that are not UTF-8 raise UnicodeDecodeError, reported as "Exception in
# downloading checkpoint: ...".
def test_r5_coach_checkpoint_that_is_not_utf8_fails(check):
    files = without(model(), "deepracer_checkpoints.json")
    files["model/.coach_checkpoint"] = b"\xff" + B145.encode()
    fails(*check(files), "Exception in downloading checkpoint")


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/rl_coach/rl_coach/checkpoint.py:254-271 (a `-N` suffix is the
# number) and bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:137 (present = base-name prefix): a
# TensorFlow-style name loads; and because the test is a text prefix, `model.ckpt-10` is "present" through
# `model.ckpt-100.*`, whose files then lack model.ckpt-10.index.
def test_r5_r10_tensorflow_style_names_and_prefix_collisions(check):
    files = without(model(), "_Step-", "deepracer_checkpoints.json")
    files["model/.coach_checkpoint"] = b"model.ckpt-10"
    for n in ("10", "100"):
        files[f"model/model.ckpt-{n}.index"] = b"index"
        files[f"model/model.ckpt-{n}.data-00000-of-00001"] = b"data"
    code, report = check(files)
    assert report["evaluation"]["checkpoint"] == "model.ckpt-10" and report["evaluation"]["number"] == 10
    assert sorted(Path(p).name for p in report["evaluation"]["files"]) == [
        "model.ckpt-10.data-00000-of-00001", "model.ckpt-10.index", "model.ckpt-100.data-00000-of-00001",
        "model.ckpt-100.index"]  # all of them downloaded (tensorflow_model.py:169-178)
    files = without(files, "model.ckpt-10.")
    fails(*check(files), "Couldn't find 'checkpoint' file")


# -- R6 + R8: no pointer at all ------------------------------------------------------------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/s3_boto_data_store.py:287-306: evaluation's data store
# ignores the lock (evaluation_worker.py:516-518), so a missing model/.coach_checkpoint (no usable JSON pick wrote one,
# rl_coach_checkpoint.py:170-175) is "Checkpoint not found"; there is no fallback to the highest number (rows 4 and 5).
# bundle/markov/boto/s3/constants.py:293-300: the only pointer names are .coach_checkpoint and checkpoint; a dotless
# coach_checkpoint is read by nothing.
@pytest.mark.parametrize("dotless", [False, True])
def test_r6_r8_no_pointer_at_all_fails_with_checkpoint_not_found(check, dotless):
    files = without(model(), "deepracer_checkpoints.json", ".coach_checkpoint")
    if dotless:
        files["model/coach_checkpoint"] = B140.encode()
    code, report = check(files)
    fails(code, report, "Checkpoint not found")
    assert ("without its dot" in found(report, "error")) == dotless


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/s3_boto_data_store.py:287-306 again, through S3
# (legacy console layout on moto): the same prediction as for a folder.
def test_r6_no_pointer_at_all_fails_on_s3(moto_buckets):
    client, bucket, _ = moto_buckets
    put_all(client, bucket, legacy_keys("Apex-Hunter", PREFIX, without(model(), "deepracer_checkpoints.json",
                                                                       ".coach_checkpoint")))
    code, out, _ = cli("check", f"s3://{bucket}/Apex-Hunter", "--json")
    fails(code, json.loads(out), "Checkpoint not found")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/rl_coach_checkpoint.py:170-182: a best_checkpoint name in the JSON is
# enough, it is written over .coach_checkpoint before anything is loaded, so a model without .coach_checkpoint loads
# best (and the copy pre-check agrees).
def test_r4_a_json_pick_creates_coach_checkpoint(check):
    code, report = check(without(model(), ".coach_checkpoint"))
    loads(code, report, B140, "best")


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/s3_boto_data_store.py:287-306 and
# bundle/markov/evaluation_worker.py:376-386: the copy pre-check predicts the same failure: copying a model SimApp
# cannot evaluate is refused (exit 5); a pull with
# --checkpoint N writes both pointers, and evaluation then picks N.
def test_r6_copy_precheck_refuses_a_model_evaluation_cannot_load(tmp_path):
    source = write_folder(tmp_path / "src", without(model(), "deepracer_checkpoints.json", ".coach_checkpoint"))
    code, _, err = cli("copy", str(source), str(tmp_path / "a"), "--checkpoint", "all")
    assert code == 5 and "the target would be broken" in err and "Checkpoint not found" in err
    assert not (tmp_path / "a").exists()
    code, _, err = cli("pull", str(source), str(tmp_path / "b"), "--checkpoint", "143")
    assert code == 0, err
    code, out, _ = cli("check", str(tmp_path / "b"), "--json")
    loads(code, json.loads(out), B143)


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/rl_coach/rl_coach/checkpoint.py:259-271 reads no bare number:
# narrowing a copy to a checkpoint that has only model_N.pb must not write "140" as the pointer; the pointers stay, and
# the pre-check predicts SimApp's failure on them
# (bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:156-166: nothing numbered to fall back to).
def test_r5_narrowing_never_writes_a_name_rl_coach_cannot_read(tmp_path):
    files = without(model(), f"{B140}.")
    inv = inventory(files)
    assert select(inv, read_pointers(files, files.__getitem__), 140).pointer_files == {}
    source = write_folder(tmp_path / "src", files)
    code, _, err = cli("copy", str(source), str(tmp_path / "a"), "--checkpoint", "140")
    assert code == 5 and "the target would be broken" in err
    assert cli("pull", str(source), str(tmp_path / "b"), "--checkpoint", "140")[0] == 0  # a pull is not refused
    assert (tmp_path / "b/model/.coach_checkpoint").read_bytes() == B145.encode()
    code, out, _ = cli("check", str(tmp_path / "b"), "--json")
    fails(code, json.loads(out), "No checkpoint files")


# -- R9-R11: the listing and the silent fallback ----------------------------------------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:142-166 (row 21): when no file starts with the name,
# the highest number before the first `_` wins (model_140.pb does not count: "model" is no number).
def test_r11_fallback_to_the_highest_number(check):
    code, report = check(without(model(), f"{B140}."))
    assert report["evaluation"]["checkpoint"] == B145 and report["evaluation"]["kind"] == "fallback"
    assert code == 5  # the best entry's weights do not race


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:142-166 and :259-263 (row 22): a stale,
# higher-numbered lone .index wins the fallback, then cannot be loaded ("No checkpoint found").
def test_r11_r13_a_stale_higher_index_wins_the_fallback_and_fails(check):
    files = without(model(), f"{B140}.")
    files["model/200_Step-999999.ckpt.index"] = b"stale"
    fails(*check(files), "No checkpoint found")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:82-83 and :127-134 with
# bundle/markov/boto/s3/s3_client.py:245-251 (row 23): the listing is every key under `PREFIX/model`, no delimiter, so a
# subfolder's files take part; only base names count.
def test_r9_subfolders_take_part_in_the_fallback(check):
    files = without(model(), f"{B140}.")
    files["model/old/150_Step-1.ckpt.index"] = b"old"
    code, report = check(files)
    fails(code, report, "No checkpoint found")
    assert "SILENTLY loads the highest-numbered checkpoint left instead, 150_Step-1.ckpt" in found(report, "warning")
    assert "lists PREFIX/model recursively" in found(report, "warning")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:82-83 and :127-166 (row 25): with no trailing slash,
# `PREFIX/model-files/...` is listed too; a complete checkpoint there wins the fallback and loads. Folder layout
# (model-files/ is read as model/) and a legacy bucket agree.
def test_r9_a_model_files_sibling_is_listed(check, moto_buckets):
    files = without(model(), f"{B140}.")
    extra = {"model-files/150_Step-1.ckpt.index": b"index", "model-files/150_Step-1.ckpt.data-00000-of-00001": b"d"}
    code, report = check(files | extra)
    assert report["evaluation"]["checkpoint"] == "150_Step-1.ckpt" and report["evaluation"]["kind"] == "fallback"
    client, bucket, _ = moto_buckets
    put_all(client, bucket, legacy_keys("Apex-Hunter", PREFIX, files) | {f"{PREFIX}/{k}": v for k, v in extra.items()})
    code, out, _ = cli("check", f"s3://{bucket}/Apex-Hunter", "--json")
    report = json.loads(out)
    assert report["evaluation"]["checkpoint"] == "150_Step-1.ckpt" and report["evaluation"]["kind"] == "fallback"
    assert "model-files/150_Step-1.ckpt.index" in found(report, "warning")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:142-149 and bundle/markov/utils.py:54-67 (row 24):
# any base name whose text before the first `_` passes int() is a candidate, junk included; the name is the base name
# minus its last extension (`150_notes`), which rl_coach cannot read (R7).
def test_r11_a_numbered_junk_file_wins_and_kills_the_job(check):
    files = without(model(), f"{B140}.")
    files["model/150_notes.txt"] = b"notes"
    code, report = check(files)
    fails(code, report, NAME_ERROR)
    assert "model/150_notes.txt" in found(report, "error")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:147-149 (row 30): the comparison is strict, so on a
# tie the first key in S3 order wins (`145_Step-1.ckpt.data-...` sorts before `145_Step-136982...`).
def test_r11_a_tie_goes_to_the_first_key(check):
    files = without(model(), f"{B140}.")
    files["model/145_Step-1.ckpt.index"] = b"index"
    files["model/145_Step-1.ckpt.data-00000-of-00001"] = b"data"
    code, report = check(files)
    assert report["evaluation"]["checkpoint"] == "145_Step-1.ckpt" and report["evaluation"]["kind"] == "fallback"


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:149
# (row 31): a file named exactly `150_Step-1.ckpt` sorts first and gives the fallback name `150_Step-1`, which rl_coach
# cannot read (R7).
def test_r11_a_bare_checkpoint_file_gives_an_unreadable_fallback(check):
    files = without(model(), f"{B140}.")
    for suffix in ("", ".index", ".data-00000-of-00001"):
        files[f"model/150_Step-1.ckpt{suffix}"] = b"x"
    fails(*check(files), NAME_ERROR)


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:156-166: a name that is not present and no numbered
# file at all: "No checkpoint files".
def test_r11_nothing_to_fall_back_to(check):
    fails(*check(without(model(), "_Step-")), "No checkpoint files")


# -- R10 + R12 + R13: what "present" means, what is downloaded, what loading needs -----------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:137
# (row 29): one file whose base name starts with the name makes it present, a `.bak` included; only that file is
# downloaded (:169-178) and loading needs `.index` (:275-280, "Couldn't find 'checkpoint' file ...").
def test_r10_a_backup_file_makes_the_checkpoint_present_and_loading_fails(check):
    files = without(model(), f"{B140}.")
    files[f"model/{B140}.index.bak"] = b"backup"
    fails(*check(files), "Couldn't find 'checkpoint' file")


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:214-288 (rows 26-28): rename reads `.index` and
# `.data-*` and regenerates `.meta`, so a missing .meta loads fine (a warning at most); a missing .index or .data kills
# the job.
def test_r13_meta_is_not_needed(check):
    code, report = check(without(model(), f"{B140}.meta"))
    loads(code, report, B140, "best")
    assert "missing .meta" in found(report, "warning")


@pytest.mark.parametrize("gone,message", [
    ((f"{B140}.index", f"{B140}.data"), "Couldn't find 'checkpoint' file"),  # row 27
    ((f"{B140}.data",), "No checkpoint found"),  # row 28
])
def test_r13_index_and_data_are_needed(check, gone, message):
    fails(*check(without(model(), *gone)), message)


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:231-233 (tf.train.list_variables): every shard of a
# sharded checkpoint must be there.
def test_r13_every_data_shard_is_needed(check):
    files = without(model(), f"{B140}.data")
    files[f"model/{B140}.data-00000-of-00002"] = b"half"
    fails(*check(files), "No checkpoint found")
    files[f"model/{B140}.data-00001-of-00002"] = b"other half"
    loads(*check(files), B140)


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py:176-177 (row 42): `.pb` files are never downloaded:
# model_140.pb missing is a warning only, and a model_140.pb that differs does not change the weights that race.
def test_r12_pb_files_are_not_evaluated(check, tmp_path):
    code, report = check(without(model(), "model_140.pb"))
    loads(code, report, B140)
    assert "missing model_140.pb" in found(report, "warning")
    a = write_folder(tmp_path / "a", model())
    b = write_folder(tmp_path / "b", model() | {"model/model_140.pb": b"another frozen graph"})
    code, out, _ = cli("diff", str(a), str(b))
    assert code == 0 and "Verdict: the same weights will race." in out


# -- R14: make_compatible ------------------------------------------------------------------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/evaluation_worker.py:371-373 and
# boto/s3/files/checkpoint_files/rl_coach_checkpoint.py:193-260 (rows 6-8): version below 2 (neither version nor sensor:
# model_metadata.py:236-242) and no `.coach_checkpoint` base name on the first listing page: the name quoted on
# model/checkpoint's first line becomes .coach_checkpoint; a missing file or not exactly one quoted name is fatal.
@pytest.mark.parametrize("tf_file,outcome", [
    (f'model_checkpoint_path: "{B140}"\nall_model_checkpoint_paths: "{B140}"\n', B140),  # row 6
    (None, "Unable to make model compatible"),  # row 7
    (f'model_checkpoint_path: {B140}\n', "No checkpoint file found"),  # row 8: no quoted name
    (f'model_checkpoint_path: "{B140}" "{B145}"\n', "No checkpoint file found"),  # row 8: two
    (f'\nmodel_checkpoint_path: "{B140}"\n', "No checkpoint file found"),  # only the first line counts
])
def test_r14_version_1_without_coach_checkpoint_uses_make_compatible(check, tf_file, outcome):
    files = set_meta(without(model(), "deepracer_checkpoints.json", ".coach_checkpoint"), drop=("version", "sensor"))
    if tf_file is not None:
        files["model/checkpoint"] = tf_file.encode()
    code, report = check(files)
    if outcome == B140:
        loads(code, report, B140, "compat")
        assert "make_compatible" in found(report, "warning")
    else:
        fails(code, report, outcome)


# aws-deepracer-community/deepracer-simapp@01f5f015
# bundle/markov/boto/s3/files/checkpoint_files/rl_coach_checkpoint.py:200-212: is_compatible looks for the base name
# `.coach_checkpoint` anywhere under `PREFIX/model`; one in a subfolder skips make_compatible, and
# model/.coach_checkpoint is still missing.
def test_r14_a_coach_checkpoint_in_a_subfolder_skips_make_compatible(check):
    files = set_meta(without(model(), "deepracer_checkpoints.json", ".coach_checkpoint"), drop=("version", "sensor"))
    files["model/checkpoint"] = f'model_checkpoint_path: "{B140}"\n'.encode()
    files["model/old/.coach_checkpoint"] = B145.encode()
    fails(*check(files), "Checkpoint not found")


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/evaluation_worker.py:372 (row 35): with
# .coach_checkpoint present make_compatible does not run, and the JSON pick decides; the version-1 physics still apply
# (R17).
def test_r14_version_1_with_coach_checkpoint_loads_the_pick(check):
    code, report = check(set_meta(model(), drop=("version", "sensor")))
    loads(code, report, B140, "best")
    assert "version-1 physics" in found(report, "warning")


# -- R15-R17: model/model_metadata.json ----------------------------------------------------------------------------
# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/evaluation_worker.py:354-361 with
# boto/s3/constants.py:50 (row 39): evaluation reads model/model_metadata.json and nothing else; its absence is a 404
# that ends the job.
def test_r15_evaluation_reads_only_the_model_folder_copy(check):
    code, report = check(without(model(), "model/model_metadata.json"))
    assert code == 5 and report["evaluation"]["kind"] == "fails"
    assert "model/model_metadata.json is missing" in found(report, "error")


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/boto/s3/files/model_metadata.py:223-242 and :328-331,
# evaluation_worker.py:557-576 (rows 32, 33, 37, 36): plain json.load (a BOM fails), a required action_space, a sensor
# list required from version 2 on, a version float() must read, and (agent_ctrl/utils.py:231-242) a wheel radius only
# for 1, 2 and 3 and above.
@pytest.mark.parametrize("change,message", [
    ("bom", "User modified model/model_metadata: model_metadata ValueError: Unexpected UTF-8 BOM"),
    ({"drop": ("sensor",)}, "Eval worker error: Model metadata does not exist: 'sensor'"),
    ({"drop": ("action_space",)}, "User modified model/model_metadata: model_metadata ValueError: no action space"),
    ({"version": "2.5"}, "Eval worker error: No velocity factor for given version"),
    ({"version": "1.5"}, "Eval worker error: No velocity factor for given version"),
    ({"version": "0"}, "Eval worker error: No velocity factor for given version"),
    ({"version": "four"}, "User modified model/model_metadata: model_metadata ValueError: could not convert"),
    ({"sensor": ["FRONT_FACING_CAMERA", "LEFT_CAMERA"]}, "User modified model/model_metadata: model_metadata "
                                                         "ValueError: model_metadata MUST contain only 1 camera"),
])
def test_r16_r17_metadata_evaluation_cannot_read(check, change, message):
    files = model()
    if change == "bom":
        files["model/model_metadata.json"] = BOM + files["model/model_metadata.json"]
    else:
        change = dict(change)
        set_meta(files, drop=change.pop("drop", ()), **change)
    code, report = check(files)
    assert code == 5 and report["evaluation"]["kind"] == "fails" and report["evaluation"]["checkpoint"] is None
    assert f"this evaluation will fail: SimApp stops with \"{message}" in found(report, "error")


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/boto/s3/files/model_metadata.py:294-315 (row 38):
# training_algorithm and action_space_type pass through .lower().strip().
def test_r16_algorithm_and_space_type_are_lowered_and_stripped(check):
    files = synth_model("Apex-Hunter", bucket="aws-deepracer-x", prefix=PREFIX, timestamp="20200427103015",
                        scale=0.0005, action_space="continuous")
    code, report = check(set_meta(files, training_algorithm="SAC ", action_space_type="Continuous"))
    loads(code, report, B140)


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/boto/s3/files/model_metadata.py:230-242 and
# agent_ctrl/utils.py:231-242, used by agent_ctrl/rollout_agent_ctrl.py:114 and :748 (rows 34, 35): the version sets the
# wheel radius, so the wheel rate each action's speed commands: version 1 (neither version nor sensor) 0.35x and version
# 2 (sensor without version) 1.26x of version 3 and later. The model loads; drmodel warns.
@pytest.mark.parametrize("drop,values,factor,version", [
    (("version", "sensor"), {}, "0.35x", "version-1"),
    (("version",), {}, "1.26x", "version-2"),
    ((), {"version": "1"}, "0.35x", "version-1"),
    ((), {"version": "2.0"}, "1.26x", "version-2"),
])
def test_r17_versions_below_3_change_the_speed(check, drop, values, factor, version):
    code, report = check(set_meta(model(), drop=drop, **values))
    loads(code, report, B140)
    warning = found(report, "warning")
    assert f"{version} physics" in warning and factor in warning and "agent_ctrl/utils.py" in warning


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/agent_ctrl/utils.py:231-242, seen by diff: the same
# weights race at other speeds when the copy's metadata loses its version.
def test_r17_diff_names_a_different_physics_version(tmp_path):
    a = write_folder(tmp_path / "a", model())
    b = write_folder(tmp_path / "b", set_meta(model(), drop=("version", "sensor")))
    code, out, _ = cli("diff", str(a), str(b))
    assert code == 8 and "different physics version in model/model_metadata.json (SimApp physics 4+ vs 1)" in out


# aws-deepracer-community/deepracer-simapp@01f5f015 bundle/markov/multi_agent_coach/multi_agent_graph_manager.py:598-602
# and evaluation_worker.py:557-562 (row 40): the same number of discrete actions with other speeds restores and races at
# those speeds; diff names it.
def test_r18_diff_names_a_different_action_space(tmp_path):
    a = write_folder(tmp_path / "a", model())
    files = model()
    meta = json.loads(files["model/model_metadata.json"])
    meta["action_space"][2]["speed"] = 4.0
    b = write_folder(tmp_path / "b", set_meta(files, action_space=meta["action_space"]))
    code, out, _ = cli("diff", str(a), str(b))
    assert code == 8 and "different action space" in out
