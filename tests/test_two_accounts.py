"""Two accounts on SeaweedFS (real auth, real checksums, multipart): the main job end to end."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

from drmodel.testing.synth import legacy_bucket, legacy_prefix, placeholder, placeholder_prefix, put_all
from helpers import changed_keys, cli, folder_digests, model_keys, record_requests, snapshot

P1 = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")
PT = placeholder_prefix("Apex-Hunter")
# the small files planning parses: metadata, reward function, checkpoint pointers, training params
SMALL_FILE = r"model_metadata\.json|reward_function\.py|\.coach_checkpoint|deepracer_checkpoints\.json|checkpoint" \
             r"|training_params.*\.yaml"


def _populate(acc, scale: float) -> None:
    put_all(acc.source_client, acc.source_bucket, legacy_bucket(acc.source_bucket, scale=scale))
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter", scale=0.02))
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter-2", scale=0.02))


def _addresses(acc) -> tuple[str, str]:
    return f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter"


def test_full_copy_between_two_accounts(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    monkeypatch.setenv("DRMODEL_PART_SIZE_MIB", "8")
    _populate(acc, scale=0.4)  # checkpoint data files of 18 MiB: multipart uploads in 8 MiB parts
    src, dst = _addresses(acc)
    src_before, dst_before = snapshot(acc.source_client, acc.source_bucket), snapshot(acc.target_client,
                                                                                       acc.target_bucket)
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                         "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all")
    assert "Bytes: relayed through this machine" in out
    assert code == 0, err
    src_after, dst_after = snapshot(acc.source_client, acc.source_bucket), snapshot(acc.target_client,
                                                                                     acc.target_bucket)
    assert src_after == src_before
    allowed = set(model_keys(dst_after, "Apex-Hunter", PT)) | set(model_keys(dst_before, "Apex-Hunter", PT))
    assert changed_keys(dst_before, dst_after) <= allowed
    assert changed_keys(dst_before, dst_after)  # something did change
    src_model = {k[len(P1):]: v for k, v in src_before.items() if k.startswith(P1 + "/model/")}
    assert {k[len(PT):]: v for k, v in dst_after.items() if k.startswith(PT + "/model/")} == src_model
    # S3 additional checksums were stored: a composite SHA256 for multipart files; for the rest the CRC32 the
    # server checked and the sha256 as drmodel-sha256 metadata
    big = acc.target_client.head_object(Bucket=acc.target_bucket, ChecksumMode="ENABLED",
                                        Key=f"{PT}/model/140_Step-123889.ckpt.data-00000-of-00001")
    assert big["ChecksumSHA256"].endswith("-3")
    small_key = f"{PT}/model/.coach_checkpoint"
    small = acc.target_client.head_object(Bucket=acc.target_bucket, Key=small_key, ChecksumMode="ENABLED")
    body = acc.target_client.get_object(Bucket=acc.target_bucket, Key=small_key)["Body"].read()
    assert small["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert small["Metadata"]["drmodel-sha256"] == hashlib.sha256(body).hexdigest()
    code, out, _ = cli("verify", src, dst, "--source-profile", "src", "--target-profile", "dst")
    assert code == 0 and "IDENTICAL" in out
    # a rerun downloads no checkpoint and writes nothing, not even its lock: a file is proven identical from the
    # two listings (equal ETags), or, when the relay's multipart ETag differs from the source's, from the stored
    # checksum and provenance a HEAD returns; only the small files planning parses are read
    listed = acc.target_client.list_objects_v2(Bucket=acc.target_bucket, Prefix=PT)["Contents"]
    multipart = {o["Key"] for o in listed if "-" in o["ETag"]}
    assert multipart  # the checkpoint data files went up in parts
    requests = record_requests(monkeypatch)
    code, out, _ = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                       "--checkpoint", "all")
    assert code == 0 and "Nothing to do" in out
    calls = [(r.op, r.key) for r in requests if r.phase == "start"]
    ops = {op for op, _ in calls}
    assert ops <= {"ListObjectsV2", "HeadObject", "GetObject"}, ops
    read = sorted(key.rsplit("/", 1)[-1] for op, key in calls if op == "GetObject")
    assert read and all(re.fullmatch(SMALL_FILE, name) for name in read), read
    heads = {key for op, key in calls if op == "HeadObject"}
    # the multipart files only: no lock left by a killed run is there, as the listing of the training prefix
    # shows (layout detection sends no HEAD either: the top-level listing shows no Apex-Hunter/ folder, so no
    # prefix-layout model can be there)
    assert heads - multipart == set(), heads
    # a lock that is there (another run's, alive) is still found by that listing, and reported
    lock = {"host": "another-host", "pid": 1, "run": "r", "command": "copy", "started": "2026-11-29T00:00:00+00:00"}
    acc.target_client.put_object(Bucket=acc.target_bucket, Key=f"{PT}/drmodel.lock", Body=json.dumps(lock).encode())
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                         "--checkpoint", "all")
    assert code != 0 and "another-host" in err and "--break-lock" in err, out + err


def test_one_accounts_keys_are_refused_on_the_others_bucket(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc, scale=0.01)
    src, dst = _addresses(acc)
    code, _, err = cli("ls", f"s3://{acc.target_bucket}", "--profile", "src")
    assert code == 4
    assert "profile 'src'" in err and "s3:ListBucket" in err and "AccessDenied" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    before = snapshot(acc.target_client, acc.target_bucket)
    code, _, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "src", "--yes")
    assert code == 4 and "profile 'src'" in err
    code, _, err = cli("copy", src, dst, "--source-profile", "dst", "--target-profile", "dst", "--yes")
    assert code == 4 and "profile 'dst'" in err
    assert snapshot(acc.target_client, acc.target_bucket) == before


def test_wrong_secret_is_refused_with_the_fix(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc, scale=0.01)
    config = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    text = config.read_text().replace(acc.source.secret_key, "wrong" + acc.source.secret_key[5:])
    config.write_text(text)
    code, _, err = cli("ls", f"s3://{acc.source_bucket}", "--profile", "src")
    assert code == 4 and "SignatureDoesNotMatch" in err and "secret" in err


def test_pull_then_push_into_a_new_model_with_checksums(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc, scale=0.4)
    folder = tmp_path / "model"
    code, _, err = cli("pull", f"s3://{acc.source_bucket}/Apex-Hunter", str(folder), "--profile", "src",
                       "--checkpoint", "all")
    assert code == 0, err
    manifest = json.loads((folder / "drmodel-manifest.json").read_text())
    digests = folder_digests(folder)
    assert all(digests[f["path"]] == f["sha256"] for f in manifest["files"])
    code, out, err = cli("push", str(folder), f"s3://{acc.target_bucket}/Copied", "--profile", "dst", "--create",
                         "--yes", "--checkpoint", "all")
    assert code == 0, err
    assert "NEW, will be created" in out
    code, out, _ = cli("verify", str(folder), f"s3://{acc.target_bucket}/Copied", "--target-profile", "dst",
                       "--json")
    report = json.loads(out)
    assert code == 0 and report["identical"]
    # the local side is hashed; the S3 side is proven by its stored checksums (no download)
    assert {f["proof"] for f in report["files"]} <= {"sha256", "yaml values"}


def test_rerun_after_a_killed_copy_finishes_the_job(two_accounts, tmp_path):
    acc = two_accounts
    _populate(acc, scale=0.5)
    src, dst = _addresses(acc)
    dst_before = snapshot(acc.target_client, acc.target_bucket)
    args = [sys.executable, "-m", "drmodel.cli.main", "copy", src, dst, "--source-profile", "src",
            "--target-profile", "dst", "--yes", "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 60
    killed_midway = False
    while time.monotonic() < deadline and proc.poll() is None:
        keys = {o["Key"] for o in acc.target_client.list_objects_v2(Bucket=acc.target_bucket,
                                                                    Prefix=PT + "/model/").get("Contents", [])}
        if any("_Step-1" in k and "1_Step-1021" not in k for k in keys):
            proc.send_signal(signal.SIGKILL)
            killed_midway = True
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert killed_midway, "the copy finished before it could be killed"
    first_backup = next((tmp_path / "bk").iterdir())
    saved = json.loads((first_backup / "drmodel-backup.json").read_text())
    assert {item["key"] for item in saved["saved"]} >= {f"{PT}/model/model_1.pb"}
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                         "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all")
    assert code == 0, err
    code, out, _ = cli("verify", src, dst, "--source-profile", "src", "--target-profile", "dst")
    assert code == 0, out
    after = snapshot(acc.target_client, acc.target_bucket)
    allowed = set(model_keys(after, "Apex-Hunter", PT)) | set(model_keys(dst_before, "Apex-Hunter", PT))
    assert changed_keys(dst_before, after) <= allowed
    # the first backup still restores the placeholder exactly
    assert folder_digests(first_backup / "files")[f"{PT}/model/model_1.pb"] == dst_before[f"{PT}/model/model_1.pb"]
    assert json.loads((first_backup / "drmodel-backup.json").read_text()) == saved  # untouched by the rerun
    code, out, err = cli("restore", str(first_backup), "--yes", "--backup-to", str(tmp_path / "bk2"))
    assert code == 0, err
    assert snapshot(acc.target_client, acc.target_bucket) == dst_before
