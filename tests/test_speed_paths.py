"""The fast paths on SeaweedFS (real auth, real checksums): server-side copy when the target may read the source,
the parallel multipart relay with per-part checksums, and the memory budget that bounds both."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
import time
import zlib
from typing import Any

import pytest

from drmodel import api
from drmodel.errors import DrmodelError, VerificationError
from drmodel.hashing import composite_checksum
from drmodel.options import MiB, TransferOptions
from drmodel.stores.s3 import MemoryBudget, S3Store
from drmodel.testing.synth import legacy_bucket, legacy_prefix, placeholder, placeholder_prefix, put_all
from helpers import cli

P1 = legacy_prefix("123456789012", "20200427103015", "4f2a9c1e-7b3d-4e8a-a1c2-9d0e6b5f3a17")  # legacy_bucket's
PT = placeholder_prefix("Apex-Hunter")


def _grant(acc: Any) -> None:
    """A bucket policy on the source bucket letting the target account read it (the documented grant)."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": acc.target.principal_arn}, "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{acc.source_bucket}", f"arn:aws:s3:::{acc.source_bucket}/*"]}]}
    acc.source_client.put_bucket_policy(Bucket=acc.source_bucket, Policy=json.dumps(policy))


def _populate(acc: Any, scale: float = 0.05) -> tuple[str, str]:
    put_all(acc.source_client, acc.source_bucket, legacy_bucket(acc.source_bucket, scale=scale))
    put_all(acc.target_client, acc.target_bucket, placeholder(acc.target_bucket, "Apex-Hunter", scale=0.02))
    return f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter"


def _no_source_bodies_read(monkeypatch: pytest.MonkeyPatch, bucket: str) -> None:
    original = S3Store.open_read

    def refuse(self: S3Store, key: str) -> Any:
        if self.bucket == bucket:
            raise AssertionError(f"a server-side copy must not read s3://{bucket}/{key} through the client")
        return original(self, key)  # the backup reads the target's replaced files

    monkeypatch.setattr(S3Store, "open_read", refuse)


def test_copy_is_server_side_when_the_target_can_read_the_source(two_accounts: Any, tmp_path: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    acc = two_accounts
    src, dst = _populate(acc)
    _grant(acc)
    with monkeypatch.context() as patch:
        _no_source_bodies_read(patch, acc.source_bucket)
        code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                             "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all")
    assert code == 0, err
    assert "Bytes: server-side copy: the target's credentials can read the source" in out
    code, out, _ = cli("verify", src, dst, "--source-profile", "src", "--target-profile", "dst")
    assert code == 0 and "IDENTICAL" in out
    # the copies carry the source's checksums (SeaweedFS keeps the source's algorithm, here botocore's CRC32)
    key = next(o["Key"] for o in acc.target_client.list_objects_v2(Bucket=acc.target_bucket, Prefix=PT)["Contents"]
               if o["Key"].endswith(".pb"))
    source_key = P1 + key[len(PT):]
    head = acc.target_client.head_object(Bucket=acc.target_bucket, Key=key, ChecksumMode="ENABLED")
    body = acc.target_client.get_object(Bucket=acc.target_bucket, Key=key)["Body"].read()
    assert head["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert head["ETag"] == acc.source_client.head_object(Bucket=acc.source_bucket, Key=source_key)["ETag"]


def test_without_a_grant_or_with_relay_the_bytes_are_relayed(two_accounts: Any, tmp_path: Any) -> None:
    acc = two_accounts
    src, dst = _populate(acc)
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--dry-run")
    assert code == 0 and "Bytes: relayed through this machine" in out, err
    _grant(acc)
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--dry-run",
                         "--relay")
    assert code == 0 and "Bytes: relayed through this machine" in out, err
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                         "--relay", "--backup-to", str(tmp_path / "bk"))
    assert code == 0 and "Bytes: relayed" in out, err


def test_server_side_copy_is_pinned_to_the_planned_source_version(two_accounts: Any, tmp_path: Any) -> None:
    acc = two_accounts
    src, dst = _populate(acc)
    _grant(acc)
    plan = api.plan_transfer("copy", src, dst, source_profile="src", target_profile="dst", checkpoint="all",
                             backup_to=str(tmp_path / "bk"))
    assert plan.server_side
    changed = next(a for a in plan.writes if a.path.endswith(".pb"))
    acc.source_client.put_object(Bucket=acc.source_bucket, Key=changed.source_key, Body=b"x" * changed.size)
    with pytest.raises(DrmodelError, match="not written"):
        api.execute(plan)
    listed = acc.target_client.list_objects_v2(Bucket=acc.target_bucket, Prefix=changed.key)
    assert listed["KeyCount"] == 0  # the changed file was not copied: a rerun plans again


def test_a_relay_is_pinned_to_the_planned_source_version(two_accounts: Any, tmp_path: Any) -> None:
    """A source file changed after the plan is not copied (its GET asks for the planned ETag): the copy stops
    with one line naming the file, and a rerun plans anew."""
    acc = two_accounts
    src, dst = _populate(acc)
    plan = api.plan_transfer("copy", src, dst, source_profile="src", target_profile="dst", checkpoint="all",
                             backup_to=str(tmp_path / "bk"))
    assert not plan.server_side
    changed = next(a for a in plan.writes if a.path.endswith(".pb"))
    acc.source_client.put_object(Bucket=acc.source_bucket, Key=changed.source_key, Body=b"x" * changed.size)
    with pytest.raises(DrmodelError, match="not written.*changed since the plan was made"):
        api.execute(plan)
    assert acc.target_client.list_objects_v2(Bucket=acc.target_bucket, Prefix=changed.key)["KeyCount"] == 0
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                         "--backup-to", str(tmp_path / "bk2"), "--checkpoint", "all")
    assert code == 0, err
    got = acc.target_client.get_object(Bucket=acc.target_bucket, Key=changed.key)["Body"].read()
    assert got == b"x" * changed.size


def _stores(acc: Any, **options: int) -> tuple[S3Store, S3Store]:
    opts = TransferOptions(**options)
    return S3Store(acc.source_bucket, profile="src", options=opts), S3Store(acc.target_bucket, profile="dst",
                                                                            options=opts)


def test_large_server_side_copies_use_upload_part_copy(two_accounts: Any) -> None:
    acc = two_accounts
    _grant(acc)
    data = os.urandom(12 * MiB + 123)
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="big", Body=data, ChecksumAlgorithm="SHA256")
    etag = acc.source_client.head_object(Bucket=acc.source_bucket, Key="big")["ETag"]
    source, target = _stores(acc, copy_part_threshold=5 * MiB, copy_part_size=5 * MiB)
    seen: list[int] = []
    result = target.copy_from(source, "big", "big-copy", len(data), source_etag=etag, progress=seen.append)
    assert sum(seen) == len(data) and len(seen) == 3  # three ranges
    got = acc.target_client.get_object(Bucket=acc.target_bucket, Key="big-copy")["Body"].read()
    assert got == data
    head = acc.target_client.head_object(Bucket=acc.target_bucket, Key="big-copy", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"') and result.info.size == len(data)


def test_multipart_relay_sends_every_part_checksum(two_accounts: Any) -> None:
    acc = two_accounts
    source, target = _stores(acc, part_size=5 * MiB, multipart_threshold=5 * MiB, memory_budget=10 * MiB)
    data = os.urandom(23 * MiB + 7)
    result = target.write_stream("relay", io.BytesIO(data), len(data), metadata={"drmodel-source-etag": "abc"})
    parts = [hashlib.sha256(data[i:i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)]
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    head = acc.target_client.head_object(Bucket=acc.target_bucket, Key="relay", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"].split("-")[0] == composite_checksum(parts).split("-")[0]
    assert head["Metadata"] == {"drmodel-source-etag": "abc"}
    assert acc.target_client.get_object(Bucket=acc.target_bucket, Key="relay")["Body"].read() == data


def test_a_short_source_or_a_failed_part_leaves_no_object_and_no_upload(two_accounts: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    acc = two_accounts
    _, target = _stores(acc, part_size=5 * MiB, multipart_threshold=5 * MiB)
    data = os.urandom(12 * MiB)
    with pytest.raises(VerificationError, match="read 12582912 bytes from the source, expected"):
        target.write_stream("short", io.BytesIO(data), len(data) + 1)
    original = S3Store._upload_part

    def fail_second(self: S3Store, key: str, upload_id: str, number: int, body: bytes, digest: bytes) -> Any:
        if number == 2:
            digest = hashlib.sha256(b"not these bytes").digest()  # the server must refuse the part (BadDigest)
        return original(self, key, upload_id, number, body, digest)

    monkeypatch.setattr(S3Store, "_upload_part", fail_second)
    with pytest.raises(DrmodelError):
        target.write_stream("bad-part", io.BytesIO(data), len(data))
    listed = acc.target_client.list_objects_v2(Bucket=acc.target_bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == []
    assert acc.target_client.list_multipart_uploads(Bucket=acc.target_bucket).get("Uploads", []) == []


def test_memory_budget_bounds_what_is_held_and_lets_a_big_request_go_alone() -> None:
    budget = MemoryBudget(10)
    seen: list[int] = []
    lock = threading.Lock()

    def hold(n: int) -> None:
        with budget.hold(n):
            with lock:
                seen.append(budget.used)
            time.sleep(0.01)

    threads = [threading.Thread(target=hold, args=(n,)) for n in (4, 4, 4, 4, 25, 3, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads) and budget.used == 0
    assert len(seen) == 7 and 25 in seen  # everyone ran; the oversize request ran alone
    assert all(used <= 10 or used == 25 for used in seen)


def test_a_sha256_checksummed_source_is_checked_by_botocore_and_by_drmodel(two_accounts: Any, tmp_path: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.httpchecksum

    from drmodel.hashing import check_read_sha256
    from drmodel.stores.local import LocalStore

    acc = two_accounts
    data = os.urandom(3 * MiB)
    digest = hashlib.sha256(data)
    for key, extra in (("sha", {"ChecksumSHA256": base64.b64encode(digest.digest()).decode()}),
                       ("crc", {"ChecksumAlgorithm": "CRC32"})):
        acc.source_client.put_object(Bucket=acc.source_bucket, Key=key, Body=data, **extra)
    hashed = {"sha256": 0, "crc32": 0}
    for name, cls in (("sha256", botocore.httpchecksum.Sha256Checksum), ("crc32", botocore.httpchecksum.Crc32Checksum)):
        real = cls.update

        def counting(self: Any, chunk: bytes, _real: Any = real, _name: str = name) -> None:
            hashed[_name] += 1
            _real(self, chunk)

        monkeypatch.setattr(cls, "update", counting)
    source, _ = _stores(acc)
    folder = LocalStore(tmp_path / "out")
    with source.open_read("sha") as stream:
        assert stream.expected_sha256 == digest.hexdigest()
        result = folder.write_stream("sha", stream, len(data))
    check_read_sha256(stream, result.sha256, "sha")  # what drmodel hashed is the stored SHA256
    # botocore checks the stored SHA256 as the bytes stream (public behaviour, no hook), and drmodel's own
    # sha256 of the same bytes matches it
    assert hashed["sha256"] > 0
    with source.open_read("crc") as stream:
        assert stream.expected_sha256 is None
        folder.write_stream("crc", stream, len(data))
    assert hashed["crc32"] > 0  # a CRC is still checked by botocore while the bytes stream
    assert source.read_bytes("sha") == data
    stream.expected_sha256 = "0" * 64  # a stream whose bytes would not match the stored SHA256
    with pytest.raises(VerificationError, match="differ from the object's stored SHA256"):
        check_read_sha256(stream, result.sha256, "s3://bucket/sha")


def test_a_single_put_is_confirmed_by_the_crc32_the_server_checked(two_accounts: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A single PUT sends the CRC32 (cheap for the server to check, unlike a SHA256) and the sha256 as metadata; the
    server echoes the CRC32 it checked, so no HEAD follows. A wrong CRC32 is refused by SeaweedFS."""
    from helpers import record_requests

    acc = two_accounts
    _, target = _stores(acc)
    data = os.urandom(2 * MiB + 5)
    calls = record_requests(monkeypatch)
    result = target.write_stream("one", io.BytesIO(data), len(data), metadata={"drmodel-source-etag": "abc"})
    assert [c.op for c in calls if c.phase == "start"] == ["PutObject"]
    sha = hashlib.sha256(data).hexdigest()
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert result.confirmed and result.sha256 == sha and result.info.size == len(data)
    head = acc.target_client.head_object(Bucket=acc.target_bucket, Key="one", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc and head["ContentLength"] == len(data)
    assert head["Metadata"] == {"drmodel-source-etag": "abc", "drmodel-sha256": sha}
    assert target.head("one", checksums=True).sha256 == sha  # what a rerun and `verify` compare
    with target.open_read("one") as stream:  # a read is checked against the stated sha256
        assert stream.expected_sha256 == sha
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="BadDigest"):
        target.client.put_object(Bucket=target.bucket, Key="bad", Body=data, ChecksumCRC32="AAAAAA==")


def test_without_an_echoed_crc32_the_put_is_checked_by_a_head(two_accounts: Any) -> None:
    acc = two_accounts
    _, target = _stores(acc)
    data = os.urandom(1000)

    def drop_echo(parsed: Any = None, **kwargs: Any) -> None:
        parsed.pop("ChecksumCRC32", None)

    def wrong_crc(parsed: Any = None, **kwargs: Any) -> None:
        parsed["ChecksumCRC32"] = "AAAAAA=="

    target.client.meta.events.register("after-call.s3.PutObject", drop_echo)
    calls: list[str] = []
    target.client.meta.events.register("before-call.s3.HeadObject", lambda **kw: calls.append("head"))
    assert target.write_stream("echo-less", io.BytesIO(data), len(data)).confirmed
    assert calls == ["head"]
    target.client.meta.events.register("after-call.s3.HeadObject", wrong_crc)
    with pytest.raises(VerificationError, match="ChecksumCRC32 AAAAAA== differs from the bytes sent"):
        target.write_stream("echo-less", io.BytesIO(data), len(data))


def test_a_read_that_differs_from_the_stated_sha256_fails(two_accounts: Any, tmp_path: Any) -> None:
    from drmodel.hashing import check_read_sha256
    from drmodel.stores.local import LocalStore

    acc = two_accounts
    data = b"the real bytes" * 1000
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="lying", Body=data,
                                 Metadata={"drmodel-sha256": hashlib.sha256(b"other bytes").hexdigest()})
    source, _ = _stores(acc)
    with pytest.raises(VerificationError, match="stored SHA256"):
        source.read_bytes("lying")
    with source.open_read("lying") as stream:
        result = LocalStore(tmp_path).write_stream("lying", stream, len(data))
    with pytest.raises(VerificationError, match="stored SHA256"):
        check_read_sha256(stream, result.sha256, "s3://bucket/lying")


def test_a_server_side_copy_is_confirmed_by_the_pinned_md5_etag_else_by_checksums(
        two_accounts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import record_requests

    acc = two_accounts
    _grant(acc)
    data = os.urandom(6 * MiB + 1)
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="single", Body=data)
    up = acc.source_client.create_multipart_upload(Bucket=acc.source_bucket, Key="multi", ChecksumAlgorithm="SHA256")
    parts = [acc.source_client.upload_part(Bucket=acc.source_bucket, Key="multi", UploadId=up["UploadId"],
                                           PartNumber=n, Body=data[(n - 1) * 5 * MiB:n * 5 * MiB],
                                           ChecksumAlgorithm="SHA256") for n in (1, 2)]
    acc.source_client.complete_multipart_upload(
        Bucket=acc.source_bucket, Key="multi", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": p["ETag"], "ChecksumSHA256": p["ChecksumSHA256"]}
                                   for n, p in ((1, parts[0]), (2, parts[1]))]})
    source, target = _stores(acc)
    calls = record_requests(monkeypatch)
    for key in ("single", "multi"):
        etag = acc.source_client.head_object(Bucket=acc.source_bucket, Key=key)["ETag"]
        del calls[:]
        result = target.copy_from(source, key, f"{key}-copy", len(data), source_etag=etag)
        ops = [c.op for c in calls if c.phase == "start"]
        assert ops == (["CopyObject"] if key == "single" else ["CopyObject", "HeadObject", "HeadObject"]), key
        assert result.confirmed and result.info.size == len(data)
        got = acc.target_client.get_object(Bucket=acc.target_bucket, Key=f"{key}-copy")["Body"].read()
        assert got == data


def test_a_pushed_file_is_streamed_from_disk_and_a_file_that_shrinks_meanwhile_fails(two_accounts: Any,
                                                                                     tmp_path: Any) -> None:
    from drmodel.stores.s3 import FileBody

    acc = two_accounts
    _, target = _stores(acc)
    path = tmp_path / "model.pb"
    data = os.urandom(3 * MiB + 11)
    path.write_bytes(data)
    bodies: list[Any] = []
    target.client.meta.events.register("before-call.s3.PutObject", lambda params, **kw: bodies.append(params["body"]))
    with open(path, "rb") as f:
        result = target.write_stream("pb", f, len(data))
    assert isinstance(bodies[0], FileBody)  # not the file's bytes held in memory
    assert result.confirmed and result.sha256 == hashlib.sha256(data).hexdigest()
    assert acc.target_client.get_object(Bucket=acc.target_bucket, Key="pb")["Body"].read() == data

    def shrink(params: Any, **kwargs: Any) -> None:  # after the hash pass, before the bytes are sent
        with open(path, "r+b") as f:
            f.truncate(MiB)

    target.client.meta.events.register("before-call.s3.PutObject", shrink)
    with open(path, "rb") as f, pytest.raises(DrmodelError, match="ended at byte|changed"):
        target.write_stream("pb2", f, len(data))
    assert "Contents" not in acc.target_client.list_objects_v2(Bucket=acc.target_bucket, Prefix="pb2")


def test_every_source_file_is_read_once_in_a_copy(two_accounts: Any, tmp_path: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The small files planning reads (metadata, pointer files, reward function) are written from those bytes."""
    from collections import Counter

    from helpers import record_requests

    acc = two_accounts
    src, dst = _populate(acc)
    calls = record_requests(monkeypatch)
    code, out, err = cli("copy", src, dst, "--source-profile", "src", "--target-profile", "dst", "--yes",
                         "--backup-to", str(tmp_path / "bk"), "--checkpoint", "all")
    assert code == 0, err
    reads = Counter(c.key for c in calls
                    if c.phase == "start" and c.op == "GetObject" and c.bucket == acc.source_bucket)
    assert reads and max(reads.values()) == 1, reads
    assert any(k.endswith("model_metadata.json") for k in reads)
    code, out, _ = cli("verify", src, dst, "--source-profile", "src", "--target-profile", "dst")
    assert code == 0 and "IDENTICAL" in out


def test_relayed_bodies_reuse_buffers_within_the_memory_budget() -> None:
    from drmodel.stores.s3 import BufferPool

    pool = BufferPool(100)
    a, b = pool.take(40), pool.take(50)
    pool.give(a)
    assert pool.take(30) is a  # a kept buffer that fits is lent again, not allocated
    pool.give(a)
    pool.give(b)
    c = pool.take(60)  # nothing fits: room is made by dropping kept buffers first
    assert len(c) == 60 and pool.total <= 100
    big = pool.take(500)  # a body bigger than the whole budget still gets its buffer
    assert len(big) == 500


def test_a_relayed_body_sends_its_first_bytes_early_then_reads_whole_chunks() -> None:
    """A read of a GET body returns only once all the bytes it asked for came: the relay asks 64 KiB first (the PUT's
    first byte waits for that much of the GET, not a whole MiB), then twice as much per read up to READ_CHUNK; a
    retry's new GET starts small again."""
    from drmodel.stores.s3bodies import FIRST_RELAY_READ, READ_CHUNK, StreamBody

    class Source:  # what StreamBody asks of a ResumableBody
        def __init__(self, data: bytes) -> None:
            self.data, self.pos, self.asked = data, 0, list[int]()

        def read(self, n: int = -1) -> bytes:
            self.asked.append(n)
            chunk = self.data[self.pos:self.pos + n]
            self.pos += len(chunk)
            return chunk

        def reopen(self) -> Any:
            return Source(self.data)

        def close(self) -> None:
            pass

    data = os.urandom(5 * READ_CHUNK)
    first = Source(data)
    body = StreamBody(first, len(data), None)  # type: ignore[arg-type]  # a stand-in source
    got = b"".join(iter(lambda: bytes(body.read()), b""))
    assert got == data and body.reader.sha256 == hashlib.sha256(data).hexdigest()
    assert first.asked[0] == FIRST_RELAY_READ < READ_CHUNK
    assert first.asked[:5] == [FIRST_RELAY_READ * 2 ** i for i in range(5)] and max(first.asked) == READ_CHUNK
    assert first.asked.count(READ_CHUNK) >= 3  # whole chunks once under way
    body.read()
    body.seek(0)  # a retry: a new GET of the same version, read small first again
    assert len(body.read()) == FIRST_RELAY_READ and first.pos == len(data)


def test_a_relayed_body_is_checked_against_the_source_checksum(two_accounts: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A relayed PUT carries the source object's stored CRC32 and streams the GET body: bytes changed on the way
    are refused by the server, nothing is written; a GET whose bytes differ from the stored checksum stops with a
    verification error rather than a resume."""
    import botocore.httpchecksum

    from drmodel.stores.s3 import ResumableBody

    acc = two_accounts
    data = os.urandom(2 * MiB)
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="crc", Body=data, ChecksumAlgorithm="CRC32")
    source, target = _stores(acc)
    calls: list[Any] = []
    target.client.meta.events.register("before-call.s3.PutObject", lambda params, **kw: calls.append(params))
    checked: list[int] = []  # reads through botocore's checking body: checked here, and by the target server
    real_checked_read = botocore.httpchecksum.StreamingChecksumBody.read
    monkeypatch.setattr(botocore.httpchecksum.StreamingChecksumBody, "read",
                        lambda self, amt=None: checked.append(1) or real_checked_read(self, amt))
    result = target.write_stream("copy", source.open_read("crc"), len(data))
    assert checked
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert calls[0]["headers"]["x-amz-checksum-crc32"] == crc and "drmodel-sha256" not in str(calls[0]["headers"])
    assert result.confirmed and result.sha256 == hashlib.sha256(data).hexdigest()
    assert acc.target_client.get_object(Bucket=acc.target_bucket, Key="copy")["Body"].read() == data

    real_read = ResumableBody.read

    def flip(self: Any, n: int = -1) -> bytes:
        chunk = real_read(self, n)
        return bytes([chunk[0] ^ 1]) + chunk[1:] if chunk and self.pos == len(chunk) else chunk

    with monkeypatch.context() as patch:
        patch.setattr(ResumableBody, "read", flip)
        with pytest.raises(DrmodelError):
            target.write_stream("changed", source.open_read("crc"), len(data))
    assert "Contents" not in acc.target_client.list_objects_v2(Bucket=acc.target_bucket, Prefix="changed")
    monkeypatch.setattr(botocore.httpchecksum.Crc32Checksum, "digest", lambda self: b"\0\0\0\0")
    with source.open_read("crc") as stream, pytest.raises(VerificationError, match="stored checksum"):
        while stream.read(MiB):
            pass
    assert checked  # a plain read (a pull, a buffered relay) keeps botocore's check


def test_listings_parse_timestamps_with_the_fast_parser(two_accounts: Any) -> None:
    """drmodel's clients parse each listed object's LastModified without dateutil (see stores.s3.parse_timestamp):
    the same instant botocore's own parser gives."""
    from datetime import UTC

    acc = two_accounts
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="t", Body=b"x")
    source, _ = _stores(acc)
    ours = source.client.list_objects_v2(Bucket=acc.source_bucket)["Contents"][0]["LastModified"]
    theirs = acc.source_client.list_objects_v2(Bucket=acc.source_bucket)["Contents"][0]["LastModified"]
    assert ours.tzinfo is UTC and ours == theirs  # botocore's own gives dateutil's tzutc


def test_a_new_model_lists_stale_uploads_while_locking_and_aborts_them_once_locked(
        two_accounts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy into a new model (nothing to back up) asks for the unfinished uploads while its lock is being taken;
    it aborts the ones on its keys only after the lock is held, and before any of its own writes."""
    from helpers import record_requests

    acc = two_accounts
    put_all(acc.source_client, acc.source_bucket, legacy_bucket(acc.source_bucket, scale=0.02))
    meta = "model-metadata/Apex-Hunter/model_metadata.json"  # a key the copy writes, left mid-upload by a dead run
    acc.target_client.create_multipart_upload(Bucket=acc.target_bucket, Key=meta)
    calls = record_requests(monkeypatch)
    code, out, err = cli("copy", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
                         "--source-profile", "src", "--target-profile", "dst", "--yes", "--create",
                         "--account-id", "210987654321")
    assert code == 0, err
    assert acc.target_client.list_multipart_uploads(Bucket=acc.target_bucket).get("Uploads", []) == []
    seq = [(c.phase, c.op, c.key.rsplit("/", 1)[-1]) for c in calls if c.bucket == acc.target_bucket]
    locked = seq.index(("done", "PutObject", "drmodel.lock"))
    first_write = next(i for i, c in enumerate(seq) if c[:2] == ("start", "PutObject") and c[2] != "drmodel.lock")
    assert seq.index(("start", "ListMultipartUploads", "")) < locked  # asked before the lock's answer came
    assert locked < seq.index(("start", "AbortMultipartUpload", "model_metadata.json")) < first_write


def test_a_relayed_put_sends_without_waiting_for_a_go_ahead_other_big_bodies_wait(two_accounts: Any,
                                                                                  tmp_path: Any) -> None:
    """A GET streamed into a PUT goes without `Expect: 100-continue` (its copy holds the lock the server just
    accepted; the wait idles the line); a big body from a file still waits for the server's go-ahead, a small one
    does not."""
    acc = two_accounts
    data = os.urandom(2 * MiB)
    acc.source_client.put_object(Bucket=acc.source_bucket, Key="crc", Body=data, ChecksumAlgorithm="CRC32")
    source, target = _stores(acc)
    sent: dict[str, Any] = {}
    target.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **kw: sent.update({request.url.rsplit("/", 1)[-1]:
                                                                       request.headers.get("Expect")}))
    target.write_stream("relayed", source.open_read("crc"), len(data))
    (tmp_path / "f").write_bytes(data)
    with open(tmp_path / "f", "rb") as f:
        target.write_stream("from-file", f, len(data))
    target.write_stream("small", io.BytesIO(b"x" * 1000), 1000)
    assert sent["relayed"] is None and sent["small"] is None
    assert sent["from-file"] in (b"100-continue", "100-continue")
    assert acc.target_client.get_object(Bucket=acc.target_bucket, Key="relayed")["Body"].read() == data


def test_planning_lists_a_new_targets_bucket_once_and_reads_the_named_files_with_the_index(
        two_accounts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning a copy into a new model of an empty console bucket lists each of the target's folders once (the
    index read ahead during detection is the one used), and reads the source model's metadata and reward function
    while the source's training params are still being read."""
    acc = two_accounts
    put_all(acc.source_client, acc.source_bucket, legacy_bucket(acc.source_bucket, scale=0.02))
    listed: list[tuple[str, str]] = []
    named_started = threading.Event()
    params_done: list[bool] = []  # whether the training params had been read when the named read started
    real_call, real_read = S3Store.call, S3Store.read_bytes

    def call(self: S3Store, op: str, key: str = "", **kwargs: Any) -> Any:
        if op == "list_objects_v2":
            listed.append((self.bucket, str(kwargs.get("Prefix"))))
        return real_call(self, op, key, **kwargs)

    def read_bytes(self: S3Store, key: str, *args: Any, **kwargs: Any) -> bytes:
        if "training_params" in key:
            named_started.wait(10)  # the params' answer comes after the named read went out
            try:
                return real_read(self, key, *args, **kwargs)
            finally:
                params_done.append(True)
        if key == "model-metadata/Apex-Hunter/model_metadata.json" and self.bucket == acc.source_bucket:
            params_done.append(False)
            named_started.set()
        return real_read(self, key, *args, **kwargs)

    monkeypatch.setattr(S3Store, "call", call)
    monkeypatch.setattr(S3Store, "read_bytes", read_bytes)
    plan = api.plan_transfer("copy", f"s3://{acc.source_bucket}/Apex-Hunter", f"s3://{acc.target_bucket}/Apex-Hunter",
                             source_profile="src", target_profile="dst", create=True, account_id="210987654321")
    assert plan.writes and not plan.target_exists
    target_lists = [prefix for bucket, prefix in listed if bucket == acc.target_bucket]
    assert sorted(p for p in target_lists if p not in ("", "None")) == sorted(
        ["model-metadata/", "reward-functions/", "DeepRacer-SageMaker-RoboMaker-comm-"])
    assert params_done[0] is False  # the named read started before the params were read
