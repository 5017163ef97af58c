"""Failures mid-copy: a file that cannot be written stops the deletes, keeps the backup, and a rerun finishes."""

from __future__ import annotations

import io
import re

import pytest
from botocore.awsrequest import AWSResponse

from drmodel.cli.render import Bar
from drmodel.stores import s3 as s3store
from drmodel.testing.synth import legacy_bucket, placeholder, placeholder_prefix, put_all
from helpers import cli, record_requests, snapshot

PT = placeholder_prefix("Apex-Hunter")
REAL_MAKE_CLIENT = s3store.make_client


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    def stream(self, **kwargs):  # botocore reads raw.stream()
        yield self._body.read()


def _server_error(request, **kwargs):
    if "model_145.pb" in request.url:
        body = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
        return AWSResponse(request.url, 500, {}, _Raw(body))
    return None


@pytest.fixture
def failing_puts(monkeypatch):
    real = REAL_MAKE_CLIENT

    def make_client(profile, options):
        client = real(profile, options)
        client.meta.events.register("before-send.s3.PutObject", _server_error)
        client.meta.events.register("before-send.s3.UploadPart", _server_error)
        client.meta.events.register("before-send.s3.CopyObject", _server_error)  # moto: one account, server-side
        return client

    monkeypatch.setattr(s3store, "make_client", make_client)


def test_failed_file_blocks_deletes_and_rerun_finishes(moto_buckets, tmp_path, monkeypatch, failing_puts):
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.01))
    before = snapshot(client, dst)
    args = ("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--yes", "--backup-to", str(tmp_path),
            "--checkpoint", "all")
    code, out, err = cli(*args)
    assert code == 9, err
    # 26 files, or fewer where the server proves an empty file identical by its stored checksum
    assert re.search(r"1 of 2\d files was not written", err) and "model_145.pb" in err and "rerun" in err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("drmodel: error: 1 of 2")
    assert f"backup in {tmp_path}" in err
    assert "and its model_metadata.json left as before so that the model does not look complete" in err
    keys = snapshot(client, dst)
    assert any("1_Step-1021" in k for k in keys)  # stale files are only deleted once every write verified
    # the metadata and reward function are written last, only once every other file landed
    for key in ("model-metadata/Apex-Hunter/model_metadata.json", "reward-functions/Apex-Hunter/reward_function.py"):
        assert keys[key] == before[key], key
    assert list(tmp_path.iterdir())  # the backup was taken before anything was written
    monkeypatch.setattr(s3store, "make_client", REAL_MAKE_CLIENT)  # the fault is gone
    code, out, err = cli(*args)
    assert code == 0, err
    assert "skip 25 identical" in out or "skip 2" in out
    assert not any("1_Step-1021" in k for k in snapshot(client, dst) if k.startswith(PT))
    assert cli("verify", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter")[0] == 0


def test_debug_shows_the_traceback(moto_buckets):
    code, _, err = cli("--debug", "ls", "s3://aws-deepracer-missing-bucket")
    assert code == 3 and "Traceback" in err


def test_progress_bar_draws_on_a_terminal_only():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    shown, hidden = Tty(), io.StringIO()
    for stream in (shown, hidden):
        bar = Bar(stream)
        bar.phase("write", total_bytes=2_000_000, total_files=2)
        bar.advance(1_000_000)
        bar.file_done("model/a")
        bar.close()
    last = shown.getvalue().replace("\r", "\n").splitlines()[-1]
    assert last.startswith("write   50%|") and "976.6 KiB/1.9 MiB" in last and "files 1/2" in last
    assert hidden.getvalue() == ""


def test_a_refused_server_side_copy_falls_back_to_the_relay(moto_buckets, tmp_path, monkeypatch):
    from drmodel.errors import AccessDeniedError

    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.01))
    put_all(client, dst, placeholder(dst, "Apex-Hunter", scale=0.01))
    refused = []

    def refuse(self, source, source_key, key, size, **kwargs):
        refused.append(key)
        raise AccessDeniedError(f"profile 'dst' may not copy_object on s3://{dst}/{key} (AccessDenied)")

    monkeypatch.setattr(s3store.S3Store, "copy_from", refuse)
    args = ("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--yes", "--backup-to", str(tmp_path),
            "--checkpoint", "all")
    code, out, err = cli(*args)
    assert code == 0, err
    assert "Bytes: server-side copy" in out  # planned (moto lets one account read both buckets), then refused
    assert "server-side copy refused" in err and "relaying the bytes instead" in err
    assert refused and len(refused) <= 16  # only the copies already started were tried
    assert cli("verify", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter")[0] == 0


def test_metadata_and_reward_function_are_written_after_every_other_file(moto_buckets, monkeypatch):
    """A copy in progress never looks like a complete model: the target's metadata and reward function start only
    once every checkpoint and pointer file has landed; the biggest files start first."""
    client, src, dst = moto_buckets
    put_all(client, src, legacy_bucket(src, scale=0.05))
    requests = record_requests(monkeypatch)
    code, out, err = cli("copy", f"s3://{src}/Apex-Hunter", f"s3://{dst}/Apex-Hunter", "--yes", "--create",
                         "--account-id", "210987654321", "--checkpoint", "all", "--relay")
    assert code == 0, err
    writes = {("start", "PutObject"), ("start", "CreateMultipartUpload"), ("start", "CopyObject"),
              ("done", "PutObject"), ("done", "CompleteMultipartUpload"), ("done", "CopyObject")}
    events = [(r.phase, r.key) for r in requests
              if (r.phase, r.op) in writes and r.bucket == dst and not r.key.endswith("drmodel.lock")]
    last = ("model-metadata/Apex-Hunter/", "reward-functions/Apex-Hunter/")
    first_last = min(i for i, (phase, key) in enumerate(events) if phase == "start" and key.startswith(last))
    done_files = [i for i, (phase, key) in enumerate(events) if phase == "done" and not key.startswith(last)]
    assert len(done_files) > 10 and max(done_files) < first_last
    starts = [key for phase, key in events if phase == "start"]
    assert starts[0].endswith(".ckpt.data-00000-of-00001") or starts[0].endswith(".pb")  # big files first
