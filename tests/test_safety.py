"""Safety: one writer per model, secrets never printed, hostile and broken input refused (with hypothesis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drmodel import paramsfile
from drmodel.address import parse
from drmodel.errors import DrmodelError, UsageError
from drmodel.hashing import HashingReader, composite_checksum
from drmodel.layouts.names import check_name, choose_job
from drmodel.redact import redact
from drmodel.testing.synth import legacy_bucket, placeholder, placeholder_prefix, put_all, synth_model
from helpers import cli, snapshot, write_folder

PT = placeholder_prefix("Apex-Hunter")
LOCK = f"{PT}/drmodel.lock"


@pytest.fixture
def pair(moto_buckets):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.01))
    return client, f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", dst


# -- one writer per target model ---------------------------------------------------------------------------------
def test_a_lock_held_elsewhere_refuses_and_break_lock_takes_it(pair, tmp_path):
    client, src, dst, bucket = pair
    other = {"host": "racing-laptop", "pid": 4242, "command": "copy", "started": "2026-11-28T10:00:00+00:00"}
    client.put_object(Bucket=bucket, Key=LOCK, Body=json.dumps(other).encode())
    before = snapshot(client, bucket)
    code, _, err = cli("copy", src, dst, "--yes", "--backup-to", str(tmp_path))
    assert code == 10 and "racing-laptop" in err and "4242" in err and "--break-lock" in err
    assert snapshot(client, bucket) == before
    code, out, err = cli("copy", src, dst, "--yes", "--backup-to", str(tmp_path), "--break-lock")
    assert code == 0, err
    assert "broke the lock of drmodel copy (host racing-laptop, pid 4242" in out + err
    assert LOCK not in snapshot(client, bucket)


def test_a_lock_left_by_a_dead_local_process_is_taken_over(pair, tmp_path):
    client, src, dst, bucket = pair
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    doc = {"host": socket.gethostname(), "pid": int(dead.stdout), "command": "copy", "started": "earlier"}
    client.put_object(Bucket=bucket, Key=LOCK, Body=json.dumps(doc).encode())
    code, out, err = cli("copy", src, dst, "--yes", "--backup-to", str(tmp_path))
    assert code == 0, err
    assert "(that process is gone)" in out + err and LOCK not in snapshot(client, bucket)


def test_a_second_run_at_the_same_time_is_refused(two_accounts, tmp_path):
    acc = two_accounts
    put_all(acc.source_client, acc.source_bucket, legacy_bucket(acc.source_bucket, scale=0.05))
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter", scale=0.02))
    src, dst = f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter"
    args = ["copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes", "--checkpoint", "all",
            "--backup-to", str(tmp_path / "a")]
    slow = ("import sys, time\nfrom drmodel.stores import s3\nreal = s3.S3Store.write_stream\n"
            "def slow(self, *a, **k):\n    time.sleep(0.3)\n    return real(self, *a, **k)\n"
            "s3.S3Store.write_stream = slow\nfrom drmodel.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    first = subprocess.Popen([sys.executable, "-c", slow, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            keys = acc.target_client.list_objects_v2(Bucket=acc.target_bucket, Prefix=LOCK).get("KeyCount", 0)
            if keys:
                break
            time.sleep(0.01)
        assert first.poll() is None, "the first run ended before the second could start"
        code, _, err = cli(*args[:-1], str(tmp_path / "b"))
        assert code == 10 and f"pid {first.pid}" in err
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0, first.stderr.read().decode()[-2000:]


# -- secrets ---------------------------------------------------------------------------------------------------
def test_debug_output_and_errors_never_show_keys(moto_buckets, monkeypatch):
    _, src, _ = moto_buckets
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTZZZZZZZZZZZZ")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t/Value+ThatMustNeverShow")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "SessionTokenThatMustNeverShow")
    code, out, err = cli("--debug", "ls", f"s3://{src}")
    assert "Authorization" in err or "DEBUG" in err  # botocore's log was there to leak
    for secret in ("AKIATESTZZZZZZZZZZZZ", "s3cr3t/Value+ThatMustNeverShow", "SessionTokenThatMustNeverShow"):
        assert secret not in out + err


def test_redact_patterns():
    text = ("Credential=AKIATESTABCDEFGHIJKL/20261128/us-east-1/s3/aws4_request Signature=0123abcd "
            "{'X-Amz-Security-Token': b'IQoJb3JpZ2luX2Vj'} \"PASSWORD\": \"hunter2-secret\" SecretKey=abc/def")
    out = redact(text)
    for secret in ("AKIATESTABCDEFGHIJKL", "0123abcd", "IQoJb3JpZ2luX2Vj", "hunter2-secret", "abc/def"):
        assert secret not in out


# -- hostile and broken input ---------------------------------------------------------------------------------
def test_huge_files_where_small_ones_belong(pair, tmp_path):
    client, src, dst, bucket = pair
    client.put_object(Bucket=src.split("/")[2], Key="model-metadata/Apex-Hunter/model_metadata.json",
                      Body=b"{" + b" " * (5 * 1024 * 1024) + b"}")
    code, _, err = cli("show", src)
    assert code == 5 and "more than the" in err
    files = synth_model("M", bucket="b", prefix="p", timestamp="1", scale=0.001)
    folder = write_folder(tmp_path / "m", files | {"reward_function.py": b"#" * (5 * 1024 * 1024)})
    code, _, err = cli("check", str(folder))
    assert code == 5 and "more than the" in err


def test_malformed_yaml_in_a_training_params_file(tmp_path):
    files = synth_model("M", bucket="b", prefix="p", timestamp="1", scale=0.001)
    folder = write_folder(tmp_path / "m", files | {"training_params_1.yaml": b"WORLD_NAME: [unclosed\n"})
    code, _, err = cli("copy", str(folder), "s3://aws-deepracer-nowhere/Apex-Hunter", "--dry-run")
    assert code != 0 and "Traceback" not in err


@pytest.mark.parametrize("address", ["s3://bucket-ok/a/../../etc", "s3://bucket-ok/%2e%2e/x", "droa://x/a/b",
                                     "s3://bucket-ok/a\x00b", "s3://bucket-ok/name\x1b[31m"])
def test_addresses_that_escape_are_refused(address):
    code, _, err = cli("show", address)
    assert code in (2, 3, 4) and "Traceback" not in err


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_address_parser_never_crashes(text):
    try:
        addr = parse(text)
    except UsageError:
        return
    if addr.scheme == "s3":
        assert ".." not in addr.path.split("/") and "\x00" not in addr.path
    if addr.scheme == "droa":
        assert "/" not in addr.path


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
@example("0\n")  # found by hypothesis: "$" in the name pattern let a final newline through
def test_model_names_are_safe_or_refused(name):
    try:
        check_name(name)
    except UsageError:
        return
    assert "/" not in name and ".." not in name and all(ord(c) >= 32 for c in name)


VALUE = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_./"), min_size=1,
                max_size=40)


YAML_WORDS = {"Y", "N", "YES", "NO", "ON", "OFF", "TRUE", "FALSE", "NULL"}  # YAML 1.1 reads these keys as booleans
KEY = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True).filter(lambda k: k not in YAML_WORDS | {"KEEP_BOOL",
                                                                                                   "KEEP_STR"})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEY, VALUE, min_size=1, max_size=8),
       st.booleans(), st.sampled_from(['"', "'", ""]))
@example(values={"A": "-"}, flag=False, quote="")  # found by hypothesis: an unquoted "-" is a YAML sequence
def test_params_rewrite_sets_values_and_keeps_the_rest(values, flag, quote):
    lines = [f"{k}: {quote}old{quote}" for k in values] + [f"KEEP_BOOL: {str(flag).lower()}", "KEEP_STR: \"x\""]
    data = ("\n".join(lines) + "\n").encode()
    new = paramsfile.rewrite(data, values)
    doc = paramsfile.load(new, "t.yaml")
    for k, v in values.items():
        assert str(doc[k]) == v or doc[k] == paramsfile.load(f"x: {v}".encode(), "v")["x"]
    assert doc["KEEP_BOOL"] is flag and doc["KEEP_STR"] == "x"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_yaml_and_json_parsers_fail_cleanly(blob):
    from drmodel.model import parse_json

    for parse_fn in (lambda: paramsfile.load(blob, "t.yaml"), lambda: parse_json(blob, "m.json")):
        try:
            parse_fn()
        except DrmodelError:
            pass


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=700), st.integers(min_value=1, max_value=500))
def test_streaming_hash_matches_parts_whatever_the_read_sizes(data, part, chunk):
    import hashlib
    import io

    r = HashingReader(io.BytesIO(data), part)
    while r.read(chunk):
        pass
    assert r.sha256 == hashlib.sha256(data).hexdigest()
    parts = [hashlib.sha256(data[i:i + part]).digest() for i in range(0, len(data), part)]
    if parts:
        assert r.expected_s3_checksum(True) == composite_checksum(parts)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_training_job_choice_never_crashes(wanted):
    jobs = {"DeepRacer-SageMaker-RoboMaker-comm-1-20200427103015-4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17":
            "20200427103015",
            "DeepRacer-SageMaker-RoboMaker-comm-1-20200503081244-b81d2e07-3c9a-4f15-8e6d-0a7c4b2f9e58":
            "20200503081244"}
    try:
        assert choose_job("m", jobs, wanted) in jobs
    except DrmodelError:
        pass


def test_droa_names_and_descriptions_refuse_a_final_newline():
    from drmodel.droa import preflight

    assert preflight.NAME_RE.match("Apex-Hunter") and not preflight.NAME_RE.match("Apex-Hunter\n")
    assert preflight.DESCRIPTION_RE.match("fast one") and not preflight.DESCRIPTION_RE.match("fast one\n")
