"""Network faults between drmodel and S3 (SeaweedFS, two accounts): broken and stalled connections, 503 SlowDown
and 500s. drmodel itself goes through a fault-injecting TCP proxy (tests/faultproxy.py): the profiles'
endpoint_url in the AWS config file points at the proxy, which forwards the bytes unchanged to SeaweedFS."""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from botocore.awsrequest import AWSResponse

from drmodel.access import Access
from drmodel.stores import s3 as s3store
from drmodel.testing.synth import legacy_bucket, placeholder, placeholder_prefix, put_all
from faultproxy import DOWN, UP, Fault, FaultProxy
from helpers import cli, snapshot

PT = placeholder_prefix("Apex-Hunter")
REAL_MAKE_CLIENT = s3store.make_client
REAL_CREATE_CLIENT = __import__("botocore.session").session.Session.create_client
# drmodel configures botocore with Config(retries={"max_attempts": 5, "mode": "standard"}). In a Config's
# retries dict botocore reads max_attempts as the number of RETRIES (total_max_attempts is the total), so a
# call is sent at most 6 times: botocore's own `amz-sdk-request: attempt=N; max=6` header says so.
MAX_ATTEMPTS = 6


def _populate(acc, scale: float = 0.05) -> None:
    """Source: the legacy bucket (checkpoint data files of ~2 MiB at 0.05); target: a placeholder Apex-Hunter."""
    put_all(acc.source_client, acc.source_bucket, legacy_bucket(acc.source_bucket, scale=scale))
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter", scale=0.02))


def _route(acc, proxy: FaultProxy, profiles: tuple[str, ...] = ("src", "dst")) -> None:
    """Point these profiles' endpoint_url at the proxy, in the AWS config file the fixture wrote."""
    config = Path(os.environ["AWS_CONFIG_FILE"])
    out, section = [], None
    for line in config.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]").removeprefix("profile ").strip()
        if line.startswith("endpoint_url") and section in profiles:
            line = f"endpoint_url = {proxy.endpoint}"
        out.append(line)
    config.write_text("\n".join(out) + "\n")
    assert config.read_text().count(proxy.endpoint) == len(profiles)


def _copy_args(acc, backup: Path, *extra: str) -> tuple[str, ...]:
    return ("copy", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
            "--source-profile", "src", "--target-profile", "dst", "--yes", "--backup-to", str(backup),
            "--checkpoint", "all", *extra)


def _verify(acc) -> tuple[int, str]:
    code, out, err = cli("verify", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
                         "--source-profile", "src", "--target-profile", "dst")
    return code, out + err


def _retried(out: str) -> int:
    m = re.search(r"(\d+) requests? retried", out)
    return int(m.group(1)) if m else 0


def _one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("drmodel:")]
    assert len(lines) == 1, err
    return lines[0]


def _stale(acc) -> set[str]:
    keys = {o["Key"] for o in acc.target_client.list_objects_v2(Bucket=acc.target_bucket,
                                                                Prefix=PT + "/model/").get("Contents", [])}
    return {k for k in keys if "1_Step-1021" in k or "2_Step-2047" in k}


# ---------------------------------------------------------------- transport faults (the proxy)


UPLOAD_FAULTS = lambda: [Fault("reset", UP, after=300_000, times=2), Fault("cut", UP, after=700_000, times=1)]  # noqa
DOWNLOAD_FAULTS = lambda: [Fault("cut", DOWN, after=300_000, times=2), Fault("reset", DOWN, after=700_000, times=1)]  # noqa


@pytest.mark.parametrize("where", ["uploads", "uploads+downloads"])
def test_cut_and_reset_connections_mid_body_are_retried(two_accounts, tmp_path, where):
    """Uploads (client -> server) and downloads (server -> client) broken mid-body, by FIN and by RST.

    A connection's byte count only passes 300 kB inside a PUT body (up) or a GET body (down): the faults
    land mid-body."""
    acc = two_accounts
    _populate(acc)
    faults = UPLOAD_FAULTS() + (DOWNLOAD_FAULTS() if "downloads" in where else [])
    with FaultProxy.for_endpoint(acc.endpoint, faults) as proxy:
        _route(acc, proxy)
        started = time.monotonic()
        code, out, err = cli(*_copy_args(acc, tmp_path / "bk"))
        seconds = time.monotonic() - started
        fired = {(f.kind, f.direction): f.fired for f in faults}
        assert code == 0, f"exit {code} after faults {fired}: {err[-2000:]}"
        assert all(fired.values()), f"some faults never fired: {fired}"
        assert _retried(out) >= 1, out  # "N requests retried"
        assert seconds < 60
        code, report = _verify(acc)  # through the proxy too (the faults' budgets are spent)
        assert code == 0 and "IDENTICAL" in report, report
    assert not _stale(acc)


def test_a_push_whose_uploads_break_sends_the_files_again_from_disk(two_accounts, tmp_path):
    """push sends each file from the disk (hashed first, then streamed through one buffer, not held in memory):
    a PUT broken mid-body is sent again from the file's start."""
    acc = two_accounts
    _populate(acc)
    folder, target = tmp_path / "pulled", f"s3://{acc.target_bucket}/Apex-Hunter"
    code, _, err = cli("pull", f"s3://{acc.source_bucket}/Apex-Hunter", str(folder), "--profile", "src",
                       "--checkpoint", "all", "--yes")
    assert code == 0, err
    faults = UPLOAD_FAULTS()
    with FaultProxy.for_endpoint(acc.endpoint, faults) as proxy:
        _route(acc, proxy, ("dst",))
        code, out, err = cli("push", str(folder), target, "--profile", "dst", "--yes", "--checkpoint", "all",
                             "--backup-to", str(tmp_path / "bk"))
        fired = {(f.kind, f.direction): f.fired for f in faults}
        assert code == 0, f"exit {code} after faults {fired}: {err[-2000:]}"
        assert all(fired.values()), f"some faults never fired: {fired}"
        assert _retried(out) >= 1, out
        code, out, err = cli("verify", str(folder), target, "--target-profile", "dst")  # the faults are spent
        assert code == 0 and "IDENTICAL" in out, out + err
    assert not _stale(acc)


def _normal_clients(monkeypatch) -> None:
    """Undo _slow_clients/_hooked_target (not monkeypatch.undo(): that would also undo the fixture's env)."""
    import botocore.session

    monkeypatch.setattr(s3store, "make_client", REAL_MAKE_CLIENT)
    monkeypatch.setattr(botocore.session.Session, "create_client", REAL_CREATE_CLIENT)


def _slow_clients(monkeypatch, *, read_timeout: float, max_attempts: int, on_write=None) -> None:
    """drmodel's own make_client, with a short read timeout (not settable from the AWS config file) and
    `on_write()` called before the first write of a model file (not the lock) by the target profile."""
    import botocore.session
    from botocore.config import Config

    real_client = botocore.session.Session.create_client

    def client(self, *args, config=None, **kwargs):
        extra = Config(read_timeout=read_timeout, connect_timeout=read_timeout,
                       retries={"max_attempts": max_attempts, "mode": "standard"})
        return real_client(self, *args, config=config.merge(extra) if config else extra, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", client)

    if on_write is not None:
        def hook(request, **kw):
            if "drmodel.lock" not in request.url:
                on_write()
        _hooked_target(monkeypatch, hook, ("PutObject", "CreateMultipartUpload"))


def test_stalled_target_stops_with_exit_9_then_a_rerun_finishes(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc, scale=0.02)
    before = snapshot(acc.target_client, acc.target_bucket)
    stall = [Fault("stall", UP, seconds=30), Fault("stall", DOWN, seconds=30)]
    with FaultProxy.for_endpoint(acc.endpoint) as proxy:
        _route(acc, proxy, ("dst",))
        armed = threading.Event()

        def arm() -> None:  # every connection to the target stalls once the writes begin (after the backup)
            if not armed.is_set():
                armed.set()
                proxy.set_faults(stall)

        _slow_clients(monkeypatch, read_timeout=0.5, max_attempts=1, on_write=arm)  # 2 attempts
        args = _copy_args(acc, tmp_path / "bk", "--checkpoint", "last")
        started = time.monotonic()
        code, out, err = cli(*args)
        seconds = time.monotonic() - started
        assert armed.is_set() and proxy.fired["stall"] >= 1
        assert code == 9, f"exit {code}: {err[-2000:]}"
        line = _one_line_error(err)
        assert "rerun" in line and "nothing was deleted" in line, line
        assert seconds < 30, seconds  # bounded: ~13 s here
        proxy.set_faults([])  # the network is back
        after = snapshot(acc.target_client, acc.target_bucket)
        assert _stale(acc) == {k for k in before if k.startswith(PT + "/model/") and
                               ("1_Step-1021" in k or "2_Step-2047" in k)}
        backups = list((tmp_path / "bk").iterdir())
        assert len(backups) == 1 and (backups[0] / "drmodel-backup.json").is_file()
        saved = json.loads((backups[0] / "drmodel-backup.json").read_text())["saved"]
        assert {s["key"] for s in saved} >= {f"{PT}/model/model_1.pb"}
        assert after.keys() >= {k for k in before if k != f"{PT}/drmodel.lock"}
        _normal_clients(monkeypatch)
        code, out, err = cli(*args)
        if code == 10:  # the lock could not be released through the stall; in-process, its pid is still alive
            assert "lock" in err and "--break-lock" in err, err
            code, out, err = cli(*args, "--break-lock")
        assert code == 0, err
        assert "written and verified (" in out and "by CRC32 checked by S3" in out, out
        # and a second rerun finds every file already there, proven identical by checksum
        code, out, err = cli(*args)
        assert code == 0 and "Nothing to do" in out, out + err
    assert not _stale(acc)


# ---------------------------------------------------------------- HTTP errors (botocore before-send hooks)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    def stream(self, **kwargs):
        yield self._body.read()


def _error(status: int, code: str, url: str) -> AWSResponse:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>injected {code}'
            f'</Message><Resource>{url}</Resource><RequestId>FAULT</RequestId></Error>').encode()
    return AWSResponse(url, status, {"Content-Type": "application/xml", "Content-Length": str(len(body))},
                       _Raw(body))


def _hooked_target(monkeypatch, hook, ops: tuple[str, ...] = ("PutObject", "UploadPart")) -> None:
    """Register `hook` on the target profile's clients, before these operations are sent."""
    def make_client(profile, options):
        c = REAL_MAKE_CLIENT(profile, options)
        if Access.of(profile).profile == "dst":  # a profile name, or an Access (profile, endpoint, region)
            for op in ops:
                c.meta.events.register(f"before-send.s3.{op}", hook)
        return c

    monkeypatch.setattr(s3store, "make_client", make_client)


def test_slowdown_503_is_retried_and_the_copy_verifies(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc, scale=0.4)  # checkpoint data files of 18 MiB: multipart (UploadPart) too, in 8 MiB parts
    monkeypatch.setenv("DRMODEL_PART_SIZE_MIB", "8")
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    def slowdown(request, **kwargs):  # the first 2 attempts of each call on model_*.pb and *.data-* files
        path = request.url.split("?")[0]
        if not re.search(r"/model/(model_\d+\.pb|.*\.ckpt\.data-)", path):
            return None
        with lock:
            attempts[request.url] += 1
            n = attempts[request.url]
        return _error(503, "SlowDown", request.url) if n <= 2 else None

    _hooked_target(monkeypatch, slowdown)
    code, out, err = cli(*_copy_args(acc, tmp_path / "bk"))
    assert code == 0, err
    assert attempts and all(n == 3 for n in attempts.values()), attempts
    assert any("partNumber" in url for url in attempts), "no multipart upload was exercised"
    assert _retried(out) >= 2 * len(attempts), (out, len(attempts))
    _normal_clients(monkeypatch)
    code, report = _verify(acc)
    assert code == 0 and "IDENTICAL" in report, report
    assert not _stale(acc)


def test_500_on_every_attempt_is_bounded_and_fails_the_file_then_restore(two_accounts, tmp_path, monkeypatch):
    acc = two_accounts
    _populate(acc)
    before = snapshot(acc.target_client, acc.target_bucket)
    target = "model_145.pb"
    attempts: Counter[str] = Counter()
    sdk_requests: list[str] = []  # botocore's "attempt=N; max=M" header of each attempt
    lock = threading.Lock()

    def broken(request, **kwargs):
        if request.url.split("?")[0].endswith("/" + target):
            with lock:
                attempts[request.url] += 1
                sdk = request.headers.get("amz-sdk-request")
                sdk_requests.append(sdk.decode() if isinstance(sdk, bytes) else str(sdk))
            return _error(500, "InternalError", request.url)
        return None

    _hooked_target(monkeypatch, broken)
    code, out, err = cli(*_copy_args(acc, tmp_path / "bk"))
    assert code == 9, err
    line = _one_line_error(err)
    assert target in line and "rerun" in line and "nothing was deleted" in line, line
    # bounded: exactly botocore's max attempts for the one call (1 + 5 retries), then it gives up
    assert len(attempts) == 1 and sum(attempts.values()) == MAX_ATTEMPTS, (attempts, sdk_requests)
    assert sdk_requests[-1] == f"attempt={MAX_ATTEMPTS}; max={MAX_ATTEMPTS}", sdk_requests
    assert _stale(acc)  # nothing deleted
    _normal_clients(monkeypatch)
    assert set(snapshot(acc.target_client, acc.target_bucket)) >= set(before)
    # the target is restorable from the backup the failed copy took
    backup = next((tmp_path / "bk").iterdir())
    code, out, err = cli("restore", str(backup), "--yes", "--backup-to", str(tmp_path / "bk2"))
    assert code == 0, err
    assert snapshot(acc.target_client, acc.target_bucket) == before


@pytest.mark.parametrize("kind", ["cut", "reset"])
def test_faultproxy_itself(kind):
    """The proxy: bytes pass unchanged; the fault fires on the chosen connection after n bytes; stop() joins."""
    import socket
    import socketserver

    class Echo(socketserver.BaseRequestHandler):
        def handle(self):
            while data := self.request.recv(65536):
                self.request.sendall(data)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        with FaultProxy("127.0.0.1", server.server_address[1], [Fault(kind, DOWN, after=1000, conn=2)]) as proxy:
            results = []
            for _ in range(2):
                s = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
                got = b""
                try:
                    s.sendall(b"x" * 5000)
                    while len(got) < 5000:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                except ConnectionResetError:
                    got += b"<RST>"
                s.close()
                results.append(got)
            assert results[0] == b"x" * 5000
            assert results[1] in (b"x" * 1000, b"x" * 1000 + b"<RST>", b"<RST>")
            assert (kind != "cut") or results[1] == b"x" * 1000
            assert proxy.connections == 2 and proxy.fired[kind] == 1
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)
