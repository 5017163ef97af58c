"""An S3 bucket reached with one set of credentials (a profile, or the environment)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any, BinaryIO

from drmodel.errors import InvalidModelError, NotFoundError, VerificationError
from drmodel.hashing import HashingReader, b64
from drmodel.options import TransferOptions
from drmodel.stores.base import SMALL_FILE_LIMIT, ObjectInfo, ProgressFn, WriteResult
from drmodel.stores.s3errors import translate


def close_connection_on_empty_put(request: Any, **kwargs: Any) -> None:
    """botocore `before-send.s3.PutObject` handler: `Connection: close` on zero-length PUTs.

    SeaweedFS 4.48 was seen to stall the next request on a keep-alive connection after a zero-byte PUT.
    """
    headers = request.headers
    length = headers.get("X-Amz-Decoded-Content-Length") or headers.get("Content-Length")
    if isinstance(length, bytes):
        length = length.decode()
    body = request.body
    empty_body = body is None or (isinstance(body, (bytes, bytearray)) and len(body) == 0)
    if str(length) == "0" or (length is None and empty_body):
        headers["Connection"] = "close"


def make_client(profile: str | None, options: TransferOptions) -> Any:
    """A client from a profile (keys, region, role_arn, endpoint_url) or from the usual AWS environment."""
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    config = Config(signature_version="s3v4", max_pool_connections=options.max_pool_connections,
                    retries={"max_attempts": 5, "mode": "standard"})
    client = session.client("s3", config=config, region_name=session.region_name or "us-east-1")
    client.meta.events.register("before-send.s3.PutObject", close_connection_on_empty_put)
    return client


def _checksums_match(reported: str, expected: str) -> bool:
    return reported.split("-")[0] == expected.split("-")[0]


class S3Store:
    def __init__(self, bucket: str, *, profile: str | None = None, options: TransferOptions | None = None,
                 client: Any = None) -> None:
        self.bucket = bucket
        self.profile = profile
        self.options = options or TransferOptions()
        self._client = client

    @property
    def who(self) -> str:
        return f"profile {self.profile!r}" if self.profile else "the default credentials"

    @cached_property
    def client(self) -> Any:
        client = self._client or make_client(self.profile, self.options)
        client.meta.events.register("after-call.s3", self._count_retries)
        return client

    retries = 0  # requests retried (5xx, SlowDown, broken connections, cut bodies): at most 5 retries each

    def _count_retries(self, parsed: Any = None, **kwargs: Any) -> None:
        attempts = (parsed or {}).get("ResponseMetadata", {}).get("RetryAttempts", 0)
        if attempts:
            self.retries += attempts

    def abort_unfinished_uploads(self, keys: set[str]) -> int:
        """Abort multipart uploads a killed run left on exactly these keys; other keys' uploads are not touched."""
        if not keys:
            return 0
        prefix = os.path.commonprefix(sorted(keys))
        aborted, marker = 0, {}
        while True:
            page = self._call("list_multipart_uploads", prefix, Prefix=prefix, **marker)
            for up in page.get("Uploads", []):
                if up["Key"] in keys:
                    self._call("abort_multipart_upload", up["Key"], Key=up["Key"], UploadId=up["UploadId"])
                    aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """A conditional PUT (If-None-Match: *): False when the key already exists."""
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise translate(exc, "put_object", self.describe(key), self.who) from exc

    @cached_property
    def manager(self) -> Any:
        from s3transfer.manager import TransferManager

        return TransferManager(self.client, self.options.transfer_config())

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, op: str, key: str = "", **kwargs: Any) -> Any:
        try:
            return getattr(self.client, op)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            raise translate(exc, op, self.describe(key), self.who) from exc

    def exists(self) -> bool:
        self._call("list_objects_v2", MaxKeys=1)
        return True

    def list(self, prefix: str = "", delimiter: str | None = None) -> Iterator[ObjectInfo]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", prefix, **kwargs)
            for obj in page.get("Contents", []):
                yield ObjectInfo(key=obj["Key"], size=obj["Size"], etag=obj.get("ETag", "").strip('"'))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list_dirs(self, prefix: str = "") -> list[str]:
        dirs: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", prefix, **kwargs)
            dirs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return dirs
            token = page["NextContinuationToken"]

    def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None:
        kwargs: dict[str, Any] = {"Key": key}
        if checksums:
            kwargs["ChecksumMode"] = "ENABLED"
        try:
            r = self._call("head_object", key, **kwargs)
        except NotFoundError:
            return None
        meta = {k.lower(): v for k, v in r.get("Metadata", {}).items()}
        return ObjectInfo(key=key, size=r["ContentLength"], etag=r.get("ETag", "").strip('"'),
                          checksum_sha256=r.get("ChecksumSHA256"), sha256=meta.get("drmodel-sha256"), metadata=meta)

    def read_bytes(self, key: str, max_size: int = SMALL_FILE_LIMIT) -> bytes:
        r = self._call("get_object", key, Key=key)
        if r["ContentLength"] > max_size:
            r["Body"].close()
            raise InvalidModelError(f"{self.describe(key)} is {r['ContentLength']} bytes, more than the {max_size} a "
                                    "file of this kind may have", fix="check that this is a DeepRacer model")
        return r["Body"].read()

    def open_read(self, key: str) -> BinaryIO:
        return ResumableBody(self, key)  # type: ignore[return-value]

    def write_stream(self, key: str, stream: BinaryIO, size: int, *, progress: ProgressFn | None = None,
                     metadata: Mapping[str, str] | None = None) -> WriteResult:
        opts = self.options
        reader = HashingReader(stream, opts.part_size, progress)
        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256"}
        if metadata:
            extra["Metadata"] = dict(metadata)
        multipart = size >= opts.multipart_threshold
        try:
            if multipart:
                self.manager.upload(reader, self.bucket, key, extra_args=extra).result()
            else:
                body = reader.read()
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ChecksumSHA256=b64_of(reader),
                                       **{k: v for k, v in extra.items() if k != "ChecksumAlgorithm"})
        except Exception as exc:
            raise translate(exc, "put_object", self.describe(key), self.who) from exc
        if reader.bytes_read != size:
            raise VerificationError(f"{self.describe(key)}: read {reader.bytes_read} bytes from the source, "
                                    f"expected {size}", fix="the source changed during the copy; run it again")
        expected = reader.expected_s3_checksum(multipart)
        info = self.head(key, checksums=True)
        if info is None or info.size != size:
            raise VerificationError(f"{self.describe(key)} has {info.size if info else 'no'} bytes after upload, "
                                    f"expected {size}", fix="run the same command again to resume")
        if info.checksum_sha256 and not _checksums_match(info.checksum_sha256, expected):
            raise VerificationError(f"{self.describe(key)}: the server's SHA256 {info.checksum_sha256} differs from "
                                    f"the bytes sent ({expected})", fix="run the same command again to resume")
        return WriteResult(info, reader.sha256)

    def delete(self, keys: list[str]) -> None:
        """One DeleteObject per key: permission is checked per key everywhere (DeleteObjects is evaluated
        against the bucket by some S3 implementations), and a model has few stale files."""
        for key in keys:
            self._call("delete_object", key, Key=key)


class ResumableBody:
    """A GET body that survives a connection cut mid-body: it asks again from the next byte (Range, If-Match on
    the ETag so a changed object is never stitched together), up to 5 times with backoff, then fails cleanly."""

    MAX_RESUMES = 5

    def __init__(self, store: S3Store, key: str) -> None:
        self.store, self.key = store, key
        self.pos = 0
        self.resumes = 0
        r = store._call("get_object", key, Key=key)
        self.etag = r.get("ETag")
        self.length = r["ContentLength"]
        self._body = r["Body"]

    def read(self, n: int = -1) -> bytes:
        while True:
            try:
                data = self._body.read() if n is None or n < 0 else self._body.read(n)
            except Exception as exc:  # urllib3 ProtocolError, ResponseStreamingError, timeouts, resets
                self._resume(exc)
                continue
            if not data and self.pos < self.length:
                self._resume(EOFError(f"body ended at byte {self.pos} of {self.length}"))
                continue
            self.pos += len(data)
            return data

    def _resume(self, exc: Exception) -> None:
        import time

        from drmodel.errors import TransferError

        self.resumes += 1
        if self.resumes > self.MAX_RESUMES:
            kind = exc.__class__.__name__
            raise TransferError(f"reading {self.store.describe(self.key)} broke {self.resumes} times ({kind})",
                                fix="check the network, then rerun the same command to resume") from exc
        self.store.retries += 1
        try:
            self._body.close()
        except Exception:
            pass
        time.sleep(min(2.0, 0.1 * 2 ** self.resumes))
        kwargs: dict[str, Any] = {"Key": self.key, "Range": f"bytes={self.pos}-"}
        if self.etag:
            kwargs["IfMatch"] = self.etag
        self._body = self.store._call("get_object", self.key, **kwargs)["Body"]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> ResumableBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def b64_of(reader: HashingReader) -> str:
    return b64(bytes.fromhex(reader.sha256))
