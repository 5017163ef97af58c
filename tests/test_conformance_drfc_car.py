"""Conformance with the software that races: deepracer-for-cloud (DRfC), the physical car and DREM.

One test per rule of /work/notes/conformance-drfc-car.md (R1-R23). Each says the rule in our own words and cites
where it is in the real code (repository, path, commit, lines). The DRfC-shaped trees are built here
(drmodel.testing.synth.drfc_prefix); no code of those repositories is copied: where a test needs to know whether
a DRfC script would accept a prefix, it states that script's documented check as a small predicate of our own.

Commits read:
  DRfC   aws-deepracer-community/deepracer-for-cloud @ 2eb1a1f1bc0bb52ef13a16c9325281d93af72bb7
  SIM    aws-deepracer-community/deepracer-simapp @ 01f5f015fd852f952b351643898d4beb4f36494b
  SYS    aws-deepracer/aws-deepracer-systems-pkg @ d0a9b6ba4d5268850ccabd83d9cd90459588df97
  WEB    aws-deepracer/aws-deepracer-webserver-pkg @ 43e05a7182f99a0f9569363231e920bf729013bf
  DREM   aws-solutions-library-samples/guidance-for-aws-deepracer-event-management
         @ 18030a1868458ffbf3d3001685a2a6df5184d7b3
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from drmodel import api, paramsfile
from drmodel.car import car_refusals
from drmodel.errors import InvalidModelError
from drmodel.testing.synth import (
    drfc_prefix,
    drfc_training_params,
    drfc_upload_params,
    legacy_bucket,
    model_metadata,
    put_all,
)
from helpers import cli, snapshot, write_folder

PREFIX = "rl-deepracer-sagemaker"


@pytest.fixture
def drfc(moto_s3):
    """(client, bucket): a DRfC bucket (any name; DRfC's default is `bucket`) holding custom_files/ and a training
    prefix rl-deepracer-sagemaker/ with two checkpoints, 9 (best) and 10 (last)."""
    bucket = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=bucket)
    put_all(moto_s3, bucket, drfc_prefix(bucket))
    return moto_s3, bucket


def _objects(client, bucket: str, prefix: str = "") -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def _params(client, bucket: str, key: str) -> dict:
    return yaml.safe_load(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def upload_model_refusal(keys: set[str], prefix: str) -> str | None:
    """What `dr-upload-model -p PREFIX` says about a source prefix, in our words (DRfC scripts/upload/upload-model.sh
    @ 2eb1a1f1, lines 67-70, 112-124, 143-152, 157-166): it needs the reward function at the prefix's root,
    model/model_metadata.json, ip/hyperparameters.json and at least one file under metrics/, then
    model/deepracer_checkpoints.json. None when it would go on."""
    p = f"{prefix}/"
    if not ({p + "reward_function.py", p + "model/model_metadata.json", p + "ip/hyperparameters.json"} <= keys
            and any(k.startswith(p + "metrics/") for k in keys)):
        return "Meta-data files are not found. Exiting."
    if p + "model/deepracer_checkpoints.json" not in keys:
        return f"No checkpoint file available at s3://.../{prefix}/model. Exiting."
    return None


def download_model_refusal(keys: set[str], prefix: str) -> str | None:
    """What `dr-download-model -s URL` says about a source, in our words (DRfC scripts/upload/download-model.sh
    @ 2eb1a1f1, lines 69-71, 97-102): it needs reward_function.py, model/model_metadata.json and
    ip/hyperparameters.json at the URL."""
    p = f"{prefix}/"
    if not {p + "reward_function.py", p + "model/model_metadata.json", p + "ip/hyperparameters.json"} <= keys:
        return "Meta-data files are not found. Source model not valid. Exiting."
    return None


# == A. a DRfC training prefix =========================================================================================
def test_r1_a_training_prefix_without_root_metadata_is_one_model(drfc, tmp_path):
    # R1. A DRfC training prefix has no root model_metadata.json: the SimApp writes only model/model_metadata.json
    # into it, and DRfC's own copy lives in custom_files/. drmodel reads such a prefix as ONE model whose metadata is
    # the model/ copy (show, check, car, pull).
    # Sources: SIM bundle/markov/training_worker.py @ 01f5f015 lines 295-301 and bundle/markov/boto/s3/constants.py
    # line 50 (MODEL_METADATA_S3_POSTFIX = "model/model_metadata.json"); DRfC defaults/template-run.env @ 2eb1a1f1
    # lines 40, 43-45 (DR_LOCAL_S3_MODEL_METADATA_KEY=custom_files/model_metadata.json).
    client, bucket = drfc
    address = f"s3://{bucket}/{PREFIX}"
    assert "rl-deepracer-sagemaker/model_metadata.json" not in snapshot(client, bucket)
    code, out, err = cli("show", address, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["name"] == PREFIX and info["layout"] == "prefix"
    assert info["details"]["flavour"] == "DRfC training prefix"
    assert info["checkpoints"]["best"] == "9_Step-9000.ckpt" and info["checkpoints"]["last"] == "10_Step-10000.ckpt"
    meta_row = next(f for f in info["files"] if f["path"] == "model_metadata.json")
    assert meta_row["key"] == f"{PREFIX}/model/model_metadata.json"
    assert cli("show", address, "--layout", "prefix")[0] == 0
    code, out, err = cli("check", address)
    assert code == 0, out + err
    code, out, err = cli("car", address, str(tmp_path / "Fast-Car.tar.gz"))
    assert code == 0, err
    code, out, err = cli("pull", address, str(tmp_path / "pulled"), "--checkpoint", "all")
    assert code == 0, err
    pulled = tmp_path / "pulled"
    assert (pulled / "model_metadata.json").read_bytes() == (pulled / "model" / "model_metadata.json").read_bytes()
    assert cli("verify", address, str(pulled))[0] == 0


def test_r1_copying_a_training_prefix_onto_itself_is_refused(drfc):
    # R1 (safety): the prefix's metadata key is its model/ copy, so "the same model" is decided by its address too.
    client, bucket = drfc
    code, _, err = cli("copy", f"s3://{bucket}/{PREFIX}", f"s3://{bucket}/{PREFIX}", "--yes")
    assert code == 2 and "the same model" in err


def test_r2_custom_files_is_not_a_model_and_ls_lists_the_training_prefixes(drfc):
    # R2. custom_files/ at the bucket's root holds the metadata, reward function and hyperparameters staged for the
    # next training (dr-upload-custom-files); it is not a model. `ls` on a DRfC bucket lists the training prefixes
    # (dr-start-training's, dr-increment-training's next one) and dr-upload-model results, not custom_files/.
    # Sources: DRfC bin/scripts_wrapper.sh @ 2eb1a1f1 lines 77-85; scripts/training/start.sh lines 88-120;
    # scripts/training/increment.sh lines 52-64 (the next prefix, rl-deepracer-1).
    client, bucket = drfc
    put_all(client, bucket, {k: v for k, v in drfc_prefix(bucket, "rl-deepracer-1", checkpoints=((3, 3000),)).items()
                             if not k.startswith("custom_files/")})
    upload = {f"rl-deepracer-sagemaker-1/{k.split('/', 1)[1]}": v for k, v in drfc_prefix(bucket).items()
              if k.startswith(PREFIX + "/")}
    upload["rl-deepracer-sagemaker-1/model_metadata.json"] = model_metadata()
    put_all(client, bucket, upload)
    code, out, err = cli("ls", f"s3://{bucket}", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {PREFIX, "rl-deepracer-1", "rl-deepracer-sagemaker-1"}
    assert rows[PREFIX]["checkpoints"] == 2 and rows["rl-deepracer-1"]["checkpoints"] == 1
    assert rows[PREFIX]["details"]["flavour"] == "DRfC training prefix"
    assert "flavour" not in rows["rl-deepracer-sagemaker-1"]["details"]  # has a root copy: the plain prefix layout
    code, _, err = cli("show", f"s3://{bucket}/custom_files")
    assert code == 5 and "custom_files" in err and "not a model" in err and " - " in err and len(err.splitlines()) == 1


def test_r2_a_bucket_of_training_prefixes_without_custom_files_is_still_a_container(moto_s3):
    # R2: the training prefixes are found by their own shape, not through custom_files/.
    bucket = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=bucket)
    put_all(moto_s3, bucket, drfc_prefix(bucket, custom_files=False))
    code, out, err = cli("ls", f"s3://{bucket}", "--json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)] == [PREFIX]


def test_r3_root_reward_and_every_training_params_file_are_copied_and_rewritten(drfc, moto_s3):
    # R3. DRfC copies the reward function to the prefix's root (for the console's sake) and writes
    # training_params.yaml there; with multi-config training (DR_TRAIN_MULTI_CONFIG=True, more than one worker)
    # training_params_1.yaml ... _N.yaml instead. All of them travel and each is rewritten for the target.
    # Sources: DRfC scripts/training/prepare-config.py @ 2eb1a1f1 lines 98-99, 110-116, 122-135, 217-226, 234-235.
    client, bucket = drfc
    put_all(client, bucket, {k: v for k, v in drfc_prefix(bucket, "rl-multi", workers=3).items()
                             if k.startswith("rl-multi/")})
    target = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=target)
    code, out, err = cli("copy", f"s3://{bucket}/rl-multi", f"s3://{target}/friend", "--yes")
    assert code == 0, err
    keys = set(snapshot(client, target))
    assert {"friend/reward_function.py", "friend/training_params_1.yaml", "friend/training_params_2.yaml",
            "friend/training_params_3.yaml"} <= keys
    for i in (1, 2, 3):
        params = _params(client, target, f"friend/training_params_{i}.yaml")
        assert params["SAGEMAKER_SHARED_S3_BUCKET"] == target and params["SAGEMAKER_SHARED_S3_PREFIX"] == "friend"
    assert _params(client, target, "friend/training_params_2.yaml")["WORLD_NAME"] == "reInvent2019_track"


def test_r4_model_ip_and_metrics_travel_simtraces_and_evaluation_output_do_not(drfc, moto_s3):
    # R4. Besides model/ and ip/ (checkpoints, pointers, model_<N>.pb, hyperparameters) a training prefix holds
    # RoboMaker's metrics/TrainingMetrics.json and training-simtrace/*.csv; evaluation adds evaluation_params.yaml,
    # metrics/evaluation/*.json and evaluation-<ts>/. The model is model/ + ip/ + the root files; metrics/ comes with
    # it (R7); simtraces and evaluation runs are logs of runs, left where they are.
    # Sources: SIM bundle/markov/boto/s3/constants.py @ 01f5f015 lines 43, 209-210, 272-273, 294-306;
    # DRfC scripts/training/prepare-config.py @ 2eb1a1f1 lines 24-26, 36-37; scripts/evaluation/prepare-config.py
    # lines 45-53, 159-171; defaults/template-run.env line 42.
    client, bucket = drfc
    put_all(client, bucket, drfc_prefix(bucket, evaluation=True))
    target = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=target)
    code, out, err = cli("copy", f"s3://{bucket}/{PREFIX}", f"s3://{target}/{PREFIX}", "--checkpoint", "all", "--yes")
    assert code == 0, err
    copied = {k.split("/", 1)[1] for k in snapshot(client, target)}
    assert {"metrics/TrainingMetrics.json", "metrics/evaluation/evaluation-20260101120000.json",
            "ip/hyperparameters.json", "model/model_10.pb", "model/.coach_checkpoint"} <= copied
    assert not [k for k in copied if k.startswith(("training-simtrace/", "evaluation-2"))]
    assert "evaluation_params.yaml" not in copied


def test_r5_drfc_quoted_keys_are_rewritten_and_proven_by_reparsing(drfc):
    # R5. DRfC writes every training_params*.yaml with PyYAML's dump, every scalar single-quoted, after `---`:
    # `'SAGEMAKER_SHARED_S3_PREFIX': 'rl-deepracer-sagemaker'`. drmodel rewrites those lines keeping the quoting,
    # and proves it by parsing the result again: only the location keys changed, to the target's values.
    # Sources: DRfC scripts/training/prepare-config.py @ 2eb1a1f1 lines 107-108 and 224-225;
    # scripts/upload/prepare-config.py lines 66-67; scripts/evaluation/prepare-config.py lines 168-169.
    src = drfc_training_params("bucket", PREFIX)
    assert src.startswith(b"---\n'ALTERNATE_DRIVING_DIRECTION': 'False'\n")
    new = paramsfile.moved(src, "training_params.yaml", bucket="aws-deepracer-friend", prefix="P", metadata_key="m/x",
                           reward_key="r/x", metrics_key="unused")
    before, after = yaml.safe_load(src), yaml.safe_load(new)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"SAGEMAKER_SHARED_S3_BUCKET", "SAGEMAKER_SHARED_S3_PREFIX", "MODEL_METADATA_FILE_S3_KEY",
                       "REWARD_FILE_S3_KEY", "METRICS_S3_BUCKET", "METRICS_S3_OBJECT_KEY", "SIMTRACE_S3_BUCKET",
                       "SIMTRACE_S3_PREFIX"}
    assert set(after) == set(before)
    assert b"'SAGEMAKER_SHARED_S3_PREFIX': 'P'\n" in new and new.startswith(b"---\n")
    assert paramsfile.changed_keys(src, new) == sorted(changed)
    # the fast reader (no PyYAML) reads DRfC's form exactly as PyYAML does
    assert paramsfile.load(src, "x") == before


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Z0-9_]{1,8}", fullmatch=True),
                       st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), max_size=6),
       st.sampled_from(["'", '"', ""]), st.sampled_from(["'", '"']), st.booleans())
def test_r5_the_fast_reader_reads_quoted_keys_exactly_as_pyyaml(values, key_quote, value_quote, start):
    # R5: DRfC's `'KEY': 'value'` lines (and `---`) are read without PyYAML; whatever the reader answers must be what
    # yaml.safe_load answers, for any keys and values.
    text = ("---\n" if start else "") + "".join(f"{key_quote}{k}{key_quote}: {value_quote}{v}{value_quote}\n"
                                               for k, v in values.items())
    try:
        want = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    assert paramsfile.load(text.encode(), "x") == (want or {})


@pytest.mark.parametrize("form", ["plain-dump", "double-quoted-keys", "comments-and-crlf"])
def test_r5_the_other_writers_forms_are_rewritten_too(form):
    # R5: DRfC's DRoA import helper rewrites its file with a plain yaml.dump (unquoted keys and values); hand-edited
    # files have comments and CRLF line ends. Each is rewritten, and every other value keeps its type.
    # Source: DRfC scripts/droa/import_model.py @ 2eb1a1f1 lines 407-409 (plain yaml.dump), 231-233 (quoted).
    doc = yaml.safe_load(drfc_training_params("bucket", PREFIX))
    doc["TRACK_DIRECTION_CLOCKWISE"] = True
    if form == "plain-dump":
        data = yaml.dump(doc, default_flow_style=False).encode()
    elif form == "double-quoted-keys":
        data = "".join(f'"{k}": "{v}"\n' for k, v in doc.items() if isinstance(v, str)).encode()
    else:
        data = b"# hand edited\r\n" + b"".join(f"{k}: '{v}'   # was here\r\n".encode() for k, v in doc.items()
                                                if isinstance(v, str))
    new = paramsfile.rewrite(data, {"SAGEMAKER_SHARED_S3_PREFIX": "it's-new", "SIMTRACE_S3_PREFIX": "it's-new"})
    before, after = yaml.safe_load(data), yaml.safe_load(new)
    assert after == {**before, "SAGEMAKER_SHARED_S3_PREFIX": "it's-new", "SIMTRACE_S3_PREFIX": "it's-new"}
    if form == "plain-dump":
        assert after["TRACK_DIRECTION_CLOCKWISE"] is True


@pytest.mark.parametrize("text", [
    b"{SAGEMAKER_SHARED_S3_PREFIX: rl-deepracer-sagemaker, WORLD_NAME: reinvent_base}\n",  # flow style
    b"SAGEMAKER_SHARED_S3_PREFIX:\n  rl-deepracer-sagemaker\nWORLD_NAME: x\n",  # the value on the next line
    b"SAGEMAKER_SHARED_S3_PREFIX: 'rl-deepracer-\n  sagemaker'\n",  # a quoted value folded over two lines
])
def test_r5_a_form_that_cannot_be_rewritten_is_an_error_never_a_silent_skip(text, moto_s3, tmp_path):
    # R5: what drmodel cannot rewrite line by line is refused with one line naming the fix, before anything is
    # written; the old behaviour (bytes left as they were, nothing said) is what this rule forbids.
    with pytest.raises(InvalidModelError) as info:
        paramsfile.rewrite(text, {"SAGEMAKER_SHARED_S3_PREFIX": "new"}, "training_params.yaml")
    assert "SAGEMAKER_SHARED_S3_PREFIX" in str(info.value) and " - " in str(info.value)
    bucket = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=bucket)
    files = {k.split("/", 1)[1]: v for k, v in drfc_prefix(bucket).items() if k.startswith(PREFIX + "/")}
    files["training_params.yaml"] = text
    src = write_folder(tmp_path / "m", files)
    code, _, err = cli("copy", str(src), f"s3://{bucket}/target", "--yes")
    assert code == 5 and "cannot be rewritten" in err and len(err.strip().splitlines()) == 1
    assert not [k for k in snapshot(moto_s3, bucket) if k.startswith("target/")]


def test_r6_simtrace_and_metrics_keys_follow_the_model_and_the_endpoint_is_noted(drfc, moto_s3, tmp_path):
    # R6. A DRfC training_params.yaml names its home in more keys than the console's: SIMTRACE_S3_BUCKET and
    # SIMTRACE_S3_PREFIX (the model's bucket and prefix), METRICS_S3_OBJECT_KEY = <prefix>/metrics/TrainingMetrics.json,
    # and on MinIO S3_ENDPOINT_URL 'http://minio:9000'. The first three follow the model; the endpoint is kept and
    # the plan says so. Sources: DRfC scripts/training/prepare-config.py @ 2eb1a1f1 lines 18-26, 30-31, 34-37.
    client, bucket = drfc
    target = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=target)
    code, out, err = cli("copy", f"s3://{bucket}/{PREFIX}", f"s3://{target}/club/rl-sagemaker-pretrained", "--yes")
    assert code == 0, err
    params = _params(client, target, "club/rl-sagemaker-pretrained/training_params.yaml")
    assert params["SIMTRACE_S3_BUCKET"] == target and params["SIMTRACE_S3_PREFIX"] == "club/rl-sagemaker-pretrained"
    assert params["METRICS_S3_OBJECT_KEY"] == "club/rl-sagemaker-pretrained/metrics/TrainingMetrics.json"
    assert params["METRICS_S3_OBJECT_KEY"] in snapshot(client, target)  # names a file the copy wrote
    assert params["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "SIMTRACE_S3_BUCKET" in out and "SIMTRACE_S3_PREFIX" in out  # the plan lists the rewritten keys
    assert "S3_ENDPOINT_URL" not in out  # the same S3 service on both sides: nothing to say
    # from anywhere else (here a pulled folder), the plan says the endpoint was kept
    assert cli("pull", f"s3://{bucket}/{PREFIX}", str(tmp_path / "pulled"))[0] == 0
    code, out, err = cli("push", str(tmp_path / "pulled"), f"s3://{target}/from-disk", "--yes")
    assert code == 0, err
    assert "S3_ENDPOINT_URL http://minio:9000 is kept" in out
    # and the two copies compare equal apart from their locations
    code, out, _ = cli("verify", f"s3://{bucket}/{PREFIX}", f"s3://{target}/club/rl-sagemaker-pretrained")
    assert code == 0 and "same (locations rewritten)" in out


# == B. dr-upload-model, dr-download-model, dr-increment-*, dr-upload-car-zip ==========================================
def test_r7_dr_upload_model_accepts_drmodels_copy_of_a_training_prefix(drfc, moto_s3):
    # R7. dr-upload-model refuses a source prefix ("Meta-data files are not found") unless the reward function,
    # model/model_metadata.json, ip/hyperparameters.json and at least one file under <prefix>/metrics exist, and
    # then needs model/deepracer_checkpoints.json. drmodel copies metrics/, so its copy passes.
    # Source: DRfC scripts/upload/upload-model.sh @ 2eb1a1f1 lines 67-70, 112-124, 143-152, 157-166.
    client, bucket = drfc
    assert upload_model_refusal(set(snapshot(client, bucket)), PREFIX) is None
    target = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=target)
    code, out, err = cli("copy", f"s3://{bucket}/{PREFIX}", f"s3://{target}/rl-sagemaker-pretrained",
                         "--checkpoint", "best", "--yes")
    assert code == 0, err
    assert upload_model_refusal(set(snapshot(client, target)), "rl-sagemaker-pretrained") is None
    assert "dr-upload-model" not in out  # nothing to warn about


def test_r7_a_copy_without_metrics_warns_that_dr_upload_model_will_refuse_it(moto_buckets):
    # R7: a legacy console model has no metrics/ in its training prefix (the console kept them in
    # DeepRacer-Metrics/, outside the model). Copied into a DRfC prefix, dr-upload-model would refuse it: the plan
    # says so, and the target's METRICS_S3_OBJECT_KEY still names where DRfC's training writes its metrics.
    client, src, _ = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.001))
    target = f"drfc-{uuid.uuid4()}"
    client.create_bucket(Bucket=target)
    code, out, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{target}/rl-sagemaker-pretrained", "--yes")
    assert code == 0, err
    assert "no file under metrics/" in out and "dr-upload-model refuses" in out
    keys = set(snapshot(client, target))
    assert upload_model_refusal(keys, "rl-sagemaker-pretrained") == "Meta-data files are not found. Exiting."
    params = _params(client, target, "rl-sagemaker-pretrained/training_params_1.yaml")
    assert params["METRICS_S3_OBJECT_KEY"] == "rl-sagemaker-pretrained/metrics/TrainingMetrics.json"


def test_r8_a_dr_upload_model_result_reads_as_a_prefix_model(moto_s3, tmp_path):
    # R8. dr-upload-model writes one checkpoint (last by default), its model_<N>.pb, deepracer_checkpoints.json with
    # best = last = it, .coach_checkpoint, model/model_metadata.json AND a root model_metadata.json, the reward
    # function, metrics/, ip/hyperparameters.json and a regenerated training_params.yaml. drmodel reads it as the
    # prefix layout and checks it clean.
    # Source: DRfC scripts/upload/upload-model.sh @ 2eb1a1f1 lines 176-200, 207, 221-227.
    bucket = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=bucket)
    tree = drfc_prefix(bucket, checkpoints=((10, 10000),))
    up = "rl-deepracer-sagemaker-1/"
    result = {up + k.split("/", 1)[1]: v for k, v in tree.items() if k.startswith(PREFIX + "/") and
              not k.startswith(PREFIX + "/training-simtrace/") and not k.endswith(("ip.json", "ip/done", ".ready"))}
    result[up + "training_params.yaml"] = drfc_upload_params()
    result[up + "model_metadata.json"] = tree[PREFIX + "/model/model_metadata.json"]
    put_all(moto_s3, bucket, result)
    code, out, err = cli("show", f"s3://{bucket}/{up}", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert "flavour" not in info["details"] and info["evaluation_metadata_copy"] == "identical to model_metadata.json"
    assert cli("check", f"s3://{bucket}/{up}")[0] == 0


def test_r9_dr_upload_models_placeholder_locations_are_rewritten(moto_s3):
    # R9. The training_params.yaml of a dr-upload-model result holds placeholder locations ('bucket',
    # 'bucket/model/model_metadata.json', 'rl-deepracer-sagemaker'): its script reads TARGET_S3_* from an environment
    # they were never exported to. A copy sets them for its own target.
    # Sources: DRfC scripts/upload/prepare-config.py @ 2eb1a1f1 lines 14-19; scripts/upload/upload-model.sh
    # lines 71, 76, 80, 88 (plain assignments, no export).
    data = drfc_upload_params()
    assert yaml.safe_load(data)["SAGEMAKER_SHARED_S3_BUCKET"] == "bucket"
    new = paramsfile.moved(data, "training_params.yaml", bucket="club", prefix="models/fast", metadata_key="a",
                           reward_key="b", metrics_key="models/fast/metrics/TrainingMetrics.json")
    doc = yaml.safe_load(new)
    assert (doc["SAGEMAKER_SHARED_S3_BUCKET"], doc["SAGEMAKER_SHARED_S3_PREFIX"]) == ("club", "models/fast")
    # 'bucket/TrainingMetrics.json' is not inside its own prefix: the target's convention applies
    assert doc["METRICS_S3_OBJECT_KEY"] == "models/fast/metrics/TrainingMetrics.json"
    assert "SIMTRACE_S3_BUCKET" not in doc  # keys the file lacks are not added


def test_r10_dr_download_model_accepts_a_copy_and_a_missing_hyperparameters_file_is_warned(drfc, moto_s3, tmp_path):
    # R10. dr-download-model needs reward_function.py, model/model_metadata.json and ip/hyperparameters.json at the
    # source URL. drmodel's copy has all three; a source without ip/hyperparameters.json gets a warning.
    # Source: DRfC scripts/upload/download-model.sh @ 2eb1a1f1 lines 69-71, 81-102.
    client, bucket = drfc
    target = f"drfc-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=target)
    assert cli("copy", f"s3://{bucket}/{PREFIX}", f"s3://{target}/shared", "--yes")[0] == 0
    assert download_model_refusal(set(snapshot(client, target)), "shared") is None
    files = {k.split("/", 1)[1]: v for k, v in drfc_prefix(bucket).items() if k.startswith(PREFIX + "/")
             and not k.startswith(PREFIX + "/ip/")}
    code, out, err = cli("copy", str(write_folder(tmp_path / "m", files)), f"s3://{target}/no-ip", "--yes")
    assert code == 0, err
    assert "no ip/hyperparameters.json" in out and "dr-download-model refuse" in out


def test_r11_the_readme_points_continued_training_at_the_pretrained_prefix():
    # R11. dr-start-training refuses a non-empty DR_LOCAL_S3_MODEL_PREFIX (rl-deepracer-sagemaker by default) and
    # -w wipes it; continued training reads DR_LOCAL_S3_PRETRAINED_PREFIX (rl-sagemaker-pretrained) with
    # DR_LOCAL_S3_PRETRAINED=True. The README's DRfC how-to copies there, and says why.
    # Sources: DRfC scripts/training/start.sh @ 2eb1a1f1 lines 122-134; defaults/template-run.env lines 36-39.
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    howto = readme.split("**Console export to DRfC.**", 1)[1].split("**DRfC to a friend's account.**", 1)[0]
    targets = re.findall(r"s3://bucket/([\w-]+)", howto.split("```sh", 1)[1].split("```", 1)[0])
    assert targets and set(targets) == {"rl-sagemaker-pretrained"}
    assert "DR_LOCAL_S3_PRETRAINED=True" in howto and "-w" in howto


def test_r12_drfc_evaluates_the_last_checkpoint_and_check_can_say_which_that_is(drfc):
    # R12. DRfC's evaluation (DR_EVAL_CHECKPOINT) and its pretrained start (DR_LOCAL_S3_PRETRAINED_CHECKPOINT) take
    # the LAST checkpoint by default, where the SimApp's own default is best: `check --eval-checkpoint last` answers
    # for DRfC. Sources: DRfC defaults/template-run.env @ 2eb1a1f1 lines 16, 39; SIM docker/files/rl-coach/start.py
    # @ 01f5f015 lines 93-95.
    client, bucket = drfc
    code, out, _ = cli("check", f"s3://{bucket}/{PREFIX}", "--eval-checkpoint", "last")
    assert code == 0 and "Evaluation will load: 10_Step-10000.ckpt" in out
    code, out, _ = cli("check", f"s3://{bucket}/{PREFIX}")
    assert code == 0 and "Evaluation will load: 9_Step-9000.ckpt" in out


def test_r13_the_car_package_of_a_training_prefix_is_what_dr_upload_car_zip_makes(drfc, tmp_path):
    # R13. dr-upload-car-zip tars SageMaker's /opt/ml/model: model_metadata.json at the top and agent/model.pb, the
    # BEST checkpoint's frozen graph. `drmodel car` of the prefix makes the same two members (best by default).
    # Sources: DRfC scripts/upload/upload-car.sh @ 2eb1a1f1 lines 54-57; SIM bundle/markov/training_worker.py
    # @ 01f5f015 lines 303-305 and bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py lines 368-371.
    client, bucket = drfc
    out_file = tmp_path / "Fast-Car.tar.gz"
    code, out, err = cli("car", f"s3://{bucket}/{PREFIX}", str(out_file))
    assert code == 0, err
    with tarfile.open(out_file) as tar:
        assert sorted(tar.getnames()) == ["agent/model.pb", "model_metadata.json"]
        pb = tar.extractfile("agent/model.pb").read()  # type: ignore[union-attr]
        meta = tar.extractfile("model_metadata.json").read()  # type: ignore[union-attr]
    objects = _objects(client, bucket, PREFIX + "/model/")
    assert pb == objects[f"{PREFIX}/model/model_9.pb"] and meta == objects[f"{PREFIX}/model/model_metadata.json"]


# == C. the car =======================================================================================================
@pytest.fixture
def model_dir(tmp_path):
    files = {k.split("/", 1)[1]: v for k, v in drfc_prefix("bucket").items() if k.startswith(PREFIX + "/")}
    return write_folder(tmp_path / "Fast-Car", files)


@pytest.mark.parametrize("name", ["Fast-Car.tgz", "Fast-Car.tar", "Fast-Car.gz", "Fast-Car.zip"])
def test_r14_only_tar_gz_is_written(model_dir, tmp_path, name):
    # R14. The car's web upload accepts only file names ending in .tar.gz ("Not a .tar.gz file"); its USB loader
    # knows the extensions .gz, .tar, .pb and .json and silently ignores a .tgz. drmodel writes .tar.gz and refuses
    # any other name with one line naming a file name that works.
    # Sources: WEB webserver_pkg/webserver_pkg/models.py @ 43e05a71 lines 660-667; SYS
    # deepracer_systems_pkg/deepracer_systems_pkg/model_loader_module/model_loader_node.py @ d0a9b6ba lines 100-105,
    # 331-369.
    code, _, err = cli("car", str(model_dir), str(tmp_path / name))
    assert code == 2 and ".tar.gz" in err and "name it Fast-Car.tar.gz" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name, fix", [("Fast.v2.tar.gz", "Fast-v2.tar.gz"), ("Fast Car.tar.gz", "Fast-Car.tar.gz"),
                                       ("Fäst.tar.gz", "F-st.tar.gz"), (".tar.gz", "model.tar.gz")])
def test_r15_the_model_name_is_the_file_name_up_to_its_first_dot(model_dir, tmp_path, name, fix):
    # R15. The car installs a model under the archive's file name up to its FIRST dot (spaces made '_'):
    # Fast.v2.tar.gz would race as "Fast". drmodel refuses a name whose part before .tar.gz is not made of letters,
    # digits, '-' and '_' (R20), suggesting one, and says the name the car will show.
    # Sources: SYS .../model_loader_module/model_loader_node.py @ d0a9b6ba lines 551-555, 593-595; WEB
    # webserver_pkg/webserver_pkg/models.py @ 43e05a71 lines 663-664.
    code, _, err = cli("car", str(model_dir), str(tmp_path / name))
    assert code == 2 and f"name it {fix}" in err and "first dot" in err
    code, out, err = cli("car", str(model_dir), str(tmp_path / fix))
    assert code == 0, err
    assert f"call this model {fix.split('.')[0]!r}" in out


def test_r15_a_folder_as_out_gets_the_models_name(model_dir, tmp_path):
    # R15: given a folder, the package is named after the model, in a form the car and DREM accept.
    out_dir = tmp_path / "usb"
    out_dir.mkdir()
    code, out, err = cli("car", str(model_dir), str(out_dir))
    assert code == 0, err
    assert [p.name for p in out_dir.iterdir()] == ["Fast-Car.tar.gz"]


def test_r16_r17_r22_exactly_two_members_metadata_on_top(model_dir, tmp_path):
    # R16. The car's loader walks the extracted tree and wants exactly one model file; its extension test counts a
    # file with NO extension (e.g. .coach_checkpoint, done) as a model too, so one extra such member makes it ignore
    # the archive. R17. It copies only the top-level model_metadata.json; without it the model never lists.
    # R22. DREM reads <name>/agent/model.pb and a top-level model_metadata.json, and its car step moves agent/model.*.
    # The package therefore holds exactly agent/model.pb and model_metadata.json: regular files, no folders entries.
    # Sources: SYS .../model_loader_module/model_loader_node.py @ d0a9b6ba lines 108, 399-429, 573-585;
    # SYS .../model_loader_module/model_install_state.py lines 99-123; WEB webserver_pkg/webserver_pkg/models.py
    # @ 43e05a71 lines 451-459, 524-532; DREM lib/lambdas/models_md5/index.py @ 18030a18 lines 44-57;
    # DREM lib/lambdas/upload_model_to_car_function/index.py lines 71-72.
    out_file = tmp_path / "Fast-Car.tar.gz"
    assert cli("car", str(model_dir), str(out_file), "--checkpoint", "last")[0] == 0
    with tarfile.open(out_file) as tar:
        members = tar.getmembers()
    assert sorted(m.name for m in members) == ["agent/model.pb", "model_metadata.json"]
    assert all(m.isfile() for m in members)
    # no member the loader would take for a second model
    assert [m.name for m in members if "." not in m.name.rsplit("/", 1)[-1]] == []
    assert [m.name for m in members if m.name.endswith(".pb")] == ["agent/model.pb"]


@pytest.mark.parametrize("change, refused", [
    ({"sensor": ["FRONT_FACING_CAMERA", "DISCRETIZED_SECTOR_LIDAR"]}, "DISCRETIZED_SECTOR_LIDAR"),
    ({"training_algorithm": "ppo"}, "training_algorithm"),
    ({"action_space_type": "mixed"}, "action_space_type"),
    ({"action_space": None}, "no action_space"),
    ({"action_space": [{"steering_angle": 0.0}]}, "steering_angle and speed"),
    ({"action_space_type": "continuous",
      "action_space": {"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 2.0, "high": 2.0}}},
     "high 2.0 is not above low 2.0"),
    ({"sensor": ["FRONT_FACING_CAMERA", "SECTOR_LIDAR"], "lidar_config": {"num_values": 64}}, "lidar_config lacks"),
])
def test_r18_metadata_the_car_refuses_is_refused(model_dir, tmp_path, change, refused):
    # R18. The car's web server refuses to load a model whose metadata names a sensor outside observation, LIDAR,
    # SECTOR_LIDAR, LEFT_CAMERA, FRONT_FACING_CAMERA, STEREO_CAMERAS; a training_algorithm other than clipped_ppo or
    # sac; an action_space_type other than discrete or continuous; has no action_space; a discrete action without
    # steering_angle and speed; a continuous range whose high is not strictly above its low; or, with a lidar,
    # a lidar_config missing one of its seven keys. drmodel refuses exactly those before writing anything.
    # Sources: WEB webserver_pkg/webserver_pkg/constants.py @ 43e05a71 lines 189-199, 228-232, 256-260, 284-303;
    # WEB webserver_pkg/webserver_pkg/models.py lines 194-229, 232-269, 272-339, 342-364, 367-420, 533-554.
    meta = json.loads(model_metadata())
    meta.update(change)
    if change.get("action_space", 0) is None:
        del meta["action_space"]
    for path in ("model_metadata.json", "model/model_metadata.json"):
        (model_dir / path).write_text(json.dumps(meta))
    assert any(refused in r for r in car_refusals(meta))
    out_file = tmp_path / "Fast-Car.tar.gz"
    code, _, err = cli("car", str(model_dir), str(out_file))
    assert code == 5 and "the car would refuse this model" in err and refused in err
    assert not out_file.exists()


def test_r18_what_the_car_accepts_is_not_refused():
    # R18: and nothing more is refused. No sensor key means the camera ("observation"); no algorithm means
    # clipped_ppo; no action_space_type means discrete; a lidar without lidar_config takes the car's defaults.
    assert car_refusals({"action_space": [{"steering_angle": 0, "speed": 1}]}) == []
    assert car_refusals(json.loads(model_metadata("continuous"))) == []
    assert car_refusals({"sensor": ["STEREO_CAMERAS", "LIDAR"], "action_space": []}) == []
    full = {k: 1 for k in ("num_values", "min_angle", "max_angle", "min_distance", "max_distance",
                           "clipping_distance", "num_sectors")}
    assert car_refusals({"sensor": ["SECTOR_LIDAR", "observation"], "lidar_config": full, "action_space": []}) == []


def test_r19_agent_model_pb_is_the_chosen_checkpoints_frozen_graph(model_dir, tmp_path):
    # R19. The car's optimizer (and DREM's) compiles agent/model.pb, a frozen TensorFlow graph whose inputs are the
    # SimApp's agent network heads: that is model/model_<N>.pb of the checkpoint, byte for byte.
    # Sources: MO model_optimizer_pkg/model_optimizer_pkg/constants.py @ d2b4a652 lines 55-70;
    # SIM bundle/markov/boto/s3/files/checkpoint_files/tensorflow_model.py @ 01f5f015 lines 306-317.
    out_file = tmp_path / "Fast-Car.tar.gz"
    assert cli("car", str(model_dir), str(out_file), "--checkpoint", "10")[0] == 0
    with tarfile.open(out_file) as tar:
        pb = tar.extractfile("agent/model.pb").read()  # type: ignore[union-attr]
    assert pb == (model_dir / "model" / "model_10.pb").read_bytes()


# == D. DREM ==========================================================================================================
@pytest.mark.parametrize("name, ok", [("Apex-Hunter.tar.gz", True), ("Apex_Hunter.tar.gz", True),
                                      ("Apex-Hunter-car.tar.gz", True), ("Apex.v2.tar.gz", False),
                                      ("Apex Hunter.tar.gz", False), ("Apex.tgz", False),
                                      ("Apex.tar.gz.tar.gz", False)])
def test_r20_drem_accepts_only_letters_digits_dash_underscore_then_tar_gz(model_dir, tmp_path, name, ok):
    # R20. DREM's upload page takes a file only if its whole name is letters, digits, '-' or '_' followed by .tar.gz
    # (no dots, spaces or .tgz). drmodel writes exactly the names DREM takes.
    # Source: DREM website/src/pages/model-management/components/modelUpload.tsx @ 18030a18 line 53.
    drem = re.compile(r"^[a-zA-Z0-9_-]+\.tar\.gz$")  # the same rule, written here
    assert bool(drem.match(name)) is ok
    code, _, err = cli("car", str(model_dir), str(tmp_path / name))
    assert (code == 0) is ok, err


def test_r21_dreams_model_name_and_car_folder_are_the_stem(model_dir, tmp_path):
    # R21. DREM names the model after the file name minus .tar.gz, and its MD5, optimizer and car-folder steps cut at
    # the first dot; on the car the folder is <username>-<that name>. With the names drmodel writes, all of these
    # are the same: the part before .tar.gz.
    # Sources: DREM lib/lambdas/models_on_upload/index.py @ 18030a18 line 32; lib/lambdas/models_md5/index.py
    # lines 47-48; lib/lambdas/upload_model_to_car_function/index.py lines 36-38.
    code, out, err = cli("car", str(model_dir), str(tmp_path / "Apex_Hunter-2.tar.gz"), "--json")
    assert code == 0, err
    pkg = json.loads(out)
    name = Path(pkg["path"]).name
    assert pkg["model_name"] == name.replace(".tar.gz", "") == name.split(".")[0] == "Apex_Hunter-2"


def test_r23_drems_car_step_takes_tar_but_its_site_does_not_so_only_tar_gz(model_dir, tmp_path):
    # R23. DREM's car step also extracts a plain .tar, but its upload page refuses one: the one format every consumer
    # takes is .tar.gz, which is what drmodel writes (R14 refuses .tar).
    # Source: DREM lib/lambdas/upload_model_to_car_function/index.py @ 18030a18 lines 53-55.
    code, _, err = cli("car", str(model_dir), str(tmp_path / "Apex.tar"))
    assert code == 2 and "name it Apex.tar.gz" in err


# == the README's how-to, end to end ===================================================================================
def test_howto_drfc_to_a_friends_account_on_moto(drfc, moto_s3):
    # The README's "DRfC to a friend's account": the prefix a DRfC user really has (no root metadata, quoted-key
    # params, metrics/) copied into a friend's aws-deepracer-* console bucket with --create, then proven.
    client, bucket = drfc
    friend = f"aws-deepracer-{uuid.uuid4()}"
    moto_s3.create_bucket(Bucket=friend)
    put_all(moto_s3, friend, {"notes/keep.txt": b"the friend's own"})
    source, target = f"s3://{bucket}/{PREFIX}", f"s3://{friend}/Apex-Hunter"
    code, out, err = cli("copy", source, target, "--create", "--account-id", "210987654321", "--dry-run")
    assert code == 0, err
    assert "(prefix layout -> legacy layout)" in out and "model/model_metadata.json" in out
    assert "rewrote" in out and "SIMTRACE_S3_PREFIX" in out
    assert set(snapshot(moto_s3, friend)) == {"notes/keep.txt"}
    code, out, err = cli("copy", source, target, "--create", "--account-id", "210987654321", "--yes")
    assert code == 0, err
    keys = set(snapshot(moto_s3, friend))
    prefix = next(k.split("/", 1)[0] for k in keys if k.startswith("DeepRacer-SageMaker-RoboMaker-comm-210987654321-"))
    assert {"model-metadata/Apex-Hunter/model_metadata.json", "reward-functions/Apex-Hunter/reward_function.py",
            f"{prefix}/training_params.yaml", f"{prefix}/metrics/TrainingMetrics.json",
            f"{prefix}/model/model_metadata.json"} <= keys
    raw = moto_s3.get_object(Bucket=friend, Key=f"{prefix}/training_params.yaml")["Body"].read()
    params = yaml.safe_load(raw)
    assert raw.startswith(b"---\n'")  # DRfC's quoting kept
    assert params["SAGEMAKER_SHARED_S3_BUCKET"] == friend and params["SAGEMAKER_SHARED_S3_PREFIX"] == prefix
    assert params["MODEL_METADATA_FILE_S3_KEY"] == "model-metadata/Apex-Hunter/model_metadata.json"
    assert params["SIMTRACE_S3_PREFIX"] == prefix
    assert params["METRICS_S3_OBJECT_KEY"] == f"{prefix}/metrics/TrainingMetrics.json" and (
        params["METRICS_S3_OBJECT_KEY"] in keys)
    code, out, err = cli("ls", f"s3://{friend}", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["Apex-Hunter"], err
    code, out, err = cli("diff", source, target)
    assert code == 0 and "the same weights will race" in out, out + err
    code, out, err = cli("verify", source, target)
    assert "same (locations rewritten)" in out
    assert api.show(target)["evaluation_metadata_copy"] == "identical to model_metadata.json"


@pytest.mark.parametrize("top", ["", "rl-deepracer-sagemaker/"])
def test_a_tarball_of_a_drfc_training_prefix_opens_as_one_model(tmp_path, top):
    """A DRfC training prefix has no root model_metadata.json (aws-deepracer-community/deepracer-for-cloud@2eb1a1f1
    defaults/template-run.env 40-45: the SimApp writes model/model_metadata.json only): packed as it is, at the top
    of the archive or in one folder, it still opens as one model."""
    import tarfile

    from drmodel.testing.synth import drfc_prefix

    files = {k.split("rl-deepracer-sagemaker/", 1)[1]: v for k, v in drfc_prefix("b").items()
             if k.startswith("rl-deepracer-sagemaker/")}
    out = tmp_path / "drfc.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        for rel, data in files.items():
            info = tarfile.TarInfo(top + rel)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    code, shown, err = cli("show", str(out), "--json")
    assert code == 0, err
    assert json.loads(shown)["metadata"]["action_space_type"] == "discrete"
