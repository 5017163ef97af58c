"""The embedded S3 servers behave as drmodel's tests and benchmark rely on.

Findings, measured with SeaweedFS 4.48 (`weed mini`), moto 5.2.5 and boto3/botocore 1.44.8; the tests
below assert each of them, so a change in a server version shows up here first.

SeaweedFS
- put_object / upload_fileobj with ChecksumAlgorithm="SHA256" work; head_object and get_object with
  ChecksumMode="ENABLED" return ChecksumSHA256 = base64(sha256(body)) (no ChecksumType) for a single PUT.
- Multipart (TransferConfig(multipart_threshold=8 MiB, multipart_chunksize=8 MiB), ExtraArgs
  {"ChecksumAlgorithm": "SHA256"}): head_object returns the composite
  base64(sha256(concat(part sha256 digests))) + "-N" and ChecksumType="COMPOSITE"; the ETag is "<md5>-N".
  head_object(PartNumber=1) gives PartsCount but no part checksum; get_object_attributes gives ObjectParts
  (sizes only) and no Checksum. Without ChecksumAlgorithm botocore sends CRC32: the object then has a
  composite ChecksumCRC32 "...-N".
- copy_object works (same account, or across accounts with a bucket policy granting s3:GetObject to
  arn:aws:iam::000000000000:user/<identity>; 403 AccessDenied without it) and preserves the checksum as it
  was (the composite "-N" value and the multipart ETag too), even with ChecksumAlgorithm="SHA256" on the
  copy: it does not recompute. The CopyObjectResult ETag is unquoted and carries no checksum.
- A wrong ChecksumSHA256 or Content-MD5 on PutObject gets 400 BadDigest.
- The zero-byte PUT stall described in shared/s3-test-servers.md did NOT reproduce here (with or without
  the Connection: close handler, sequential or threaded, bytes or file bodies, keys like ip/done): every
  follow-up request returned in milliseconds. The handler is kept as cheap insurance.
- With admin.ui=false `weed mini` still starts an admin server on 23646 (gRPC 33646); when that port is
  busy it picks another one by itself. A busy port given by flag fails the start ("Port allocation failed").

moto
- Single PUT with SHA256: head/get return the full-object ChecksumSHA256, and CopyObjectResult has it.
- Multipart with SHA256: the value is the same composite digest but head_object returns it WITHOUT the
  "-N" suffix and without ChecksumType (get_object with ChecksumMode returns it with "-N" and COMPOSITE):
  compare only the part before "-".
- copy_object keeps the source's checksum value but gives a multipart object a plain (non "-N") ETag; with
  ChecksumAlgorithm="SHA256" on the copy it recomputes the full-object sha256.
- It accepts a wrong ChecksumSHA256 or Content-MD5: checksum checks need SeaweedFS.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import time
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from drmodel.errors import MissingComponentError
from drmodel.testing.localserver import (
    GRPC_OFFSET,
    Identity,
    SeaweedS3,
    close_connection_on_empty_put,
    find_weed,
    free_port_block,
    s3_client,
)

MiB = 1 << 20
MULTIPART = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)


def b64sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def composite_sha256(data: bytes, part_size: int = 8 * MiB) -> str:
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)]
    digest = hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    return f"{base64.b64encode(digest).decode()}-{len(parts)}"


def error_of(exc: ClientError) -> tuple[str, int]:
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


# ---------------------------------------------------------------- helpers without a server


def test_free_port_block_gives_distinct_pairs() -> None:
    ports = free_port_block(5)
    assert len(ports) == 5
    everything = set(ports) | {p + GRPC_OFFSET for p in ports}
    assert len(everything) == 10
    assert all(1024 < p and p + GRPC_OFFSET < 32768 for p in ports)


def test_find_weed_prefers_the_venv_and_fails_clearly(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert os.access(find_weed(), os.X_OK)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingComponentError, match=r"pip install 'drmodel\[demo\]'"):
        find_weed()


def test_seaweed_refuses_to_run_without_identities(tmp_path: Any) -> None:
    with pytest.raises(ValueError):
        SeaweedS3(tmp_path, [], ["b"])


class _FakeRequest:
    def __init__(self, body: Any, headers: dict[str, Any]) -> None:
        self.body = body
        self.headers = headers


def test_close_connection_handler_only_touches_empty_puts() -> None:
    empty = _FakeRequest(io.BytesIO(b""), {"Content-Length": "0"})
    close_connection_on_empty_put(empty)
    assert empty.headers["Connection"] == "close"
    chunked_empty = _FakeRequest(object(), {"Content-Length": "87", "X-Amz-Decoded-Content-Length": b"0"})
    close_connection_on_empty_put(chunked_empty)
    assert chunked_empty.headers["Connection"] == "close"
    full = _FakeRequest(b"data", {"Content-Length": "4"})
    close_connection_on_empty_put(full)
    assert "Connection" not in full.headers


# ---------------------------------------------------------------- SeaweedFS: accounts and errors


def test_owner_can_put_get_and_list(two_accounts: Any) -> None:
    c, bucket = two_accounts.source_client, two_accounts.source_bucket
    c.put_object(Bucket=bucket, Key="model/model_metadata.json", Body=b'{"action_space": []}')
    assert c.get_object(Bucket=bucket, Key="model/model_metadata.json")["Body"].read() == b'{"action_space": []}'
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["model/model_metadata.json"]


def test_other_account_is_refused(two_accounts: Any) -> None:
    c, other = two_accounts.source_client, two_accounts.target_bucket
    two_accounts.target_client.put_object(Bucket=other, Key="secret", Body=b"b's data")
    calls = [lambda: c.get_object(Bucket=other, Key="secret"),
             lambda: c.put_object(Bucket=other, Key="intruder", Body=b"x"),
             lambda: c.list_objects_v2(Bucket=other),
             lambda: c.delete_object(Bucket=other, Key="secret")]
    for call in calls:
        with pytest.raises(ClientError) as info:
            call()
        assert error_of(info.value) == ("AccessDenied", 403)
    assert two_accounts.target_client.get_object(Bucket=other, Key="secret")["Body"].read() == b"b's data"


def test_wrong_secret_is_refused(seaweed: SeaweedS3) -> None:
    ident = seaweed.identities[0]
    client = s3_client(seaweed.endpoint, ident.access_key, ident.secret_key + "x")
    with pytest.raises(ClientError) as info:
        client.list_objects_v2(Bucket=ident.buckets[0])
    assert error_of(info.value) == ("SignatureDoesNotMatch", 403)


def test_unknown_key_is_refused(seaweed: SeaweedS3) -> None:
    client = s3_client(seaweed.endpoint, "AKIANOBODY", "whatever")
    with pytest.raises(ClientError) as info:
        client.list_objects_v2(Bucket=seaweed.identities[0].buckets[0])
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_zero_byte_put_does_not_stall_the_next_request(two_accounts: Any) -> None:
    ident, bucket = two_accounts.source, two_accounts.source_bucket
    client = s3_client(two_accounts.endpoint, ident.access_key, ident.secret_key,
                       Config(read_timeout=5, retries={"max_attempts": 1, "mode": "standard"}))
    start = time.monotonic()
    for key in ("ip/done", "model/.ready"):
        client.put_object(Bucket=bucket, Key=key, Body=b"")
        client.put_object(Bucket=bucket, Key=key + ".next", Body=io.BytesIO(b"after"))
        assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == 0
    client.upload_fileobj(io.BytesIO(b""), bucket, "empty-upload")
    assert client.get_object(Bucket=bucket, Key="empty-upload")["Body"].read() == b""
    assert time.monotonic() - start < 5


def test_wrong_checksum_gets_bad_digest(two_accounts: Any) -> None:
    c, bucket = two_accounts.source_client, two_accounts.source_bucket
    with pytest.raises(ClientError) as info:
        c.put_object(Bucket=bucket, Key="bad", Body=b"the real body", ChecksumSHA256=b64sha256(b"another body"))
    assert error_of(info.value) == ("BadDigest", 400)
    with pytest.raises(ClientError) as info:
        c.put_object(Bucket=bucket, Key="bad", Body=b"the real body",
                     ContentMD5=base64.b64encode(hashlib.md5(b"another body").digest()).decode())
    assert error_of(info.value) == ("BadDigest", 400)
    assert "Contents" not in c.list_objects_v2(Bucket=bucket)


def test_profiles_reach_the_server_path_style(two_accounts: Any) -> None:
    assert os.environ["AWS_CONFIG_FILE"] == two_accounts.env["AWS_CONFIG_FILE"]
    src = boto3.Session(profile_name="src").client("s3")
    dst = boto3.Session(profile_name="dst").client("s3")
    assert src.meta.endpoint_url == two_accounts.endpoint
    assert src.meta.region_name == "us-east-1"
    urls: list[str] = []
    src.meta.events.register("before-send.s3", lambda request, **kw: urls.append(request.url))
    src.put_object(Bucket=two_accounts.source_bucket, Key="via-profile", Body=b"p")
    assert urls == [f"{two_accounts.endpoint}/{two_accounts.source_bucket}/via-profile"]
    dst.put_object(Bucket=two_accounts.target_bucket, Key="via-profile", Body=b"q")
    with pytest.raises(ClientError) as info:
        dst.get_object(Bucket=two_accounts.source_bucket, Key="via-profile")
    assert error_of(info.value) == ("AccessDenied", 403)


def test_buckets_are_emptied_between_tests(two_accounts: Any) -> None:
    for client, bucket in ((two_accounts.source_client, two_accounts.source_bucket),
                           (two_accounts.target_client, two_accounts.target_bucket)):
        assert "Contents" not in client.list_objects_v2(Bucket=bucket)
        assert "Uploads" not in client.list_multipart_uploads(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="left-behind", Body=b"x")
        client.create_multipart_upload(Bucket=bucket, Key="left-behind")


# ---------------------------------------------------------------- SeaweedFS: checksums and copies


def _checksums(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k.startswith("Checksum")}


def test_seaweed_single_put_sha256(two_accounts: Any) -> None:
    c, bucket = two_accounts.source_client, two_accounts.source_bucket
    data = os.urandom(100_000)
    put = c.put_object(Bucket=bucket, Key="single", Body=data, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == b64sha256(data)
    c.upload_fileobj(io.BytesIO(data), bucket, "uploaded", ExtraArgs={"ChecksumAlgorithm": "SHA256"})
    for key in ("single", "uploaded"):
        head = c.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        assert _checksums(head) == {"ChecksumSHA256": b64sha256(data)}
    got = c.get_object(Bucket=bucket, Key="single", ChecksumMode="ENABLED")
    assert got["Body"].read() == data and got["ChecksumSHA256"] == b64sha256(data)


def test_seaweed_multipart_sha256_is_composite_and_copies_keep_it(two_accounts: Any) -> None:
    c, bucket = two_accounts.source_client, two_accounts.source_bucket
    data = os.urandom(17 * MiB)
    c.upload_fileobj(io.BytesIO(data), bucket, "big", ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Config=MULTIPART)
    head = c.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert _checksums(head) == {"ChecksumSHA256": composite_sha256(data), "ChecksumType": "COMPOSITE"}
    assert head["ETag"].endswith('-3"')

    copy = c.copy_object(Bucket=bucket, Key="big-copy", CopySource={"Bucket": bucket, "Key": "big"},
                         ChecksumAlgorithm="SHA256")
    assert copy["CopyObjectResult"]["ETag"] == head["ETag"].strip('"')  # unquoted, multipart ETag kept
    copied = c.head_object(Bucket=bucket, Key="big-copy", ChecksumMode="ENABLED")
    assert _checksums(copied) == _checksums(head)


def test_seaweed_cross_account_copy_needs_a_grant(two_accounts: Any) -> None:
    src, dst = two_accounts.source_client, two_accounts.target_client
    a_bucket, b_bucket = two_accounts.source_bucket, two_accounts.target_bucket
    data = os.urandom(1000)
    src.put_object(Bucket=a_bucket, Key="m", Body=data, ChecksumAlgorithm="SHA256")
    with pytest.raises(ClientError) as info:
        dst.copy_object(Bucket=b_bucket, Key="m", CopySource={"Bucket": a_bucket, "Key": "m"})
    assert error_of(info.value) == ("AccessDenied", 403)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": two_accounts.target.principal_arn},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{a_bucket}", f"arn:aws:s3:::{a_bucket}/*"]}]}
    src.put_bucket_policy(Bucket=a_bucket, Policy=json.dumps(policy))
    dst.copy_object(Bucket=b_bucket, Key="m", CopySource={"Bucket": a_bucket, "Key": "m"})
    head = dst.head_object(Bucket=b_bucket, Key="m", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64sha256(data)
    with pytest.raises(ClientError) as info:  # the grant is read-only
        dst.put_object(Bucket=a_bucket, Key="x", Body=b"x")
    assert error_of(info.value) == ("AccessDenied", 403)


# ---------------------------------------------------------------- SeaweedFS: lifecycle


def test_seaweed_lifecycle_leaves_no_process(tmp_path: Any) -> None:
    ident = Identity("solo", "AKIASOLO", "solo-secret", ("aws-deepracer-solo",))
    with SeaweedS3(tmp_path / "srv", [ident], ["aws-deepracer-solo"]) as server:
        pid = server.pid
        assert pid is not None and server.endpoint.startswith("http://127.0.0.1:")
        assert (tmp_path / "srv" / "s3.json").is_file()
        client = s3_client(server.endpoint, ident.access_key, ident.secret_key)
        assert client.list_objects_v2(Bucket="aws-deepracer-solo")["KeyCount"] == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# ---------------------------------------------------------------- moto


def test_moto_put_and_list(moto_buckets: tuple[Any, str, str]) -> None:
    client, source, target = moto_buckets
    assert source != target and source.startswith("aws-deepracer-")
    client.put_object(Bucket=source, Key="model/a", Body=b"1")
    client.put_object(Bucket=source, Key="model/b", Body=b"")
    assert [o["Key"] for o in client.list_objects_v2(Bucket=source)["Contents"]] == ["model/a", "model/b"]
    assert client.list_objects_v2(Bucket=target)["KeyCount"] == 0
    plain = boto3.Session().client("s3")  # the environment alone reaches moto
    assert plain.get_object(Bucket=source, Key="model/a")["Body"].read() == b"1"


def test_moto_checksums(moto_buckets: tuple[Any, str, str]) -> None:
    client, bucket, _ = moto_buckets
    data = os.urandom(17 * MiB)
    client.put_object(Bucket=bucket, Key="single", Body=data[:1000], ChecksumAlgorithm="SHA256")
    head = client.head_object(Bucket=bucket, Key="single", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64sha256(data[:1000])
    client.upload_fileobj(io.BytesIO(data), bucket, "big", ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                          Config=MULTIPART)
    head = client.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == composite_sha256(data).split("-")[0]  # no "-3" on head
    copy = client.copy_object(Bucket=bucket, Key="big-copy", CopySource={"Bucket": bucket, "Key": "big"})
    assert copy["CopyObjectResult"]["ChecksumSHA256"] == head["ChecksumSHA256"]
    client.put_object(Bucket=bucket, Key="bad", Body=b"body", ChecksumSHA256=b64sha256(b"other"))  # accepted
