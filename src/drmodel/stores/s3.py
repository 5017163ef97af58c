"""An S3 bucket reached with one set of credentials (a profile, or the environment).

Over the size limit: the client, the three upload paths (one PUT, relayed, multipart), server-side copy and the
bodies they send are one unit sharing the memory budget and the buffer pool; the bodies and the budget are to
move into their own module with the store-capabilities work of issue 18.

Uploads hash each byte in the loop that reads it, and botocore hashes nothing more: requests carry
UNSIGNED-PAYLOAD (the checksum header, which is signed, protects the body) and compute no checksum of their own.
A file up to `multipart_threshold` goes in one PUT (measured on SeaweedFS, a 48 MiB file uploads about 1.7x
faster in one PUT than in 16 MiB parts) with its CRC32 for the server to check and echo (a SHA256 costs SeaweedFS
about 0.5 CPU-s more per 360 MB; zlib's CRC32 costs this side 0.06) and its sha256, the manifest's and `verify`'s
value, as `drmodel-sha256` metadata; a relayed file whose source object stores a full-object checksum streams
from the GET into the PUT instead, carrying that checksum. Bigger files go up as multipart uploads driven here
rather than by s3transfer, which cannot attach our per-part checksums: each part's SHA256 goes with it for the
server to check, and parts upload in parallel while the next part is read. A local file is sent from the disk
through one reused buffer; other bodies and parts held in memory count against one store-wide `memory_budget`,
so memory stays bounded whatever the number and the size of the files in flight.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cached_property, lru_cache
from typing import Any, BinaryIO

from drmodel import cancel
from drmodel.access import Access
from drmodel.errors import InvalidModelError, NotFoundError, UsageError, VerificationError
from drmodel.hashing import HashingReader, b64, full_sha256_hex
from drmodel.options import TransferOptions
from drmodel.stores.base import (
    PROOF_COPY_CHECKSUMS,
    PROOF_COPY_ETAG,
    PROOF_CRC32_PUT,
    PROOF_PART_SHA256,
    PROOF_SOURCE_CHECKSUM,
    SMALL_FILE_LIMIT,
    ObjectInfo,
    ProgressFn,
    WriteResult,
)
from drmodel.stores.s3errors import translate, unknown_profile


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


@lru_cache(maxsize=4)
def shared_loader(data_path: str | None) -> Any:
    """One botocore data loader for every session of the process with the same data path: botocore caches the
    models a loader has parsed, so S3's service model and endpoint rules (2.5 MB of JSON) are parsed once per
    process, not once per profile. Public API: `botocore.loaders.create_loader`, `Session.register_component`."""
    import botocore.loaders

    return botocore.loaders.create_loader(data_path)


def make_client(profile: Access | str | None, options: TransferOptions) -> Any:
    """A client from a profile (keys, region, role_arn, endpoint_url) or from the usual AWS environment; an Access's
    endpoint_url and region override the profile's."""
    import botocore.session  # botocore, not boto3: its import costs a third of a start-up
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    access = Access.of(profile)
    session = botocore.session.Session(profile=access.profile)
    try:
        session.register_component("data_loader", shared_loader(session.get_config_variable("data_path")))
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
        config = Config(signature_version="s3v4", max_pool_connections=options.max_pool_connections,
                        retries={"max_attempts": 5, "mode": "standard"}, s3={"payload_signing_enabled": False},
                        request_checksum_calculation="when_required")
        region = access.region or session.get_config_variable("region") or "us-east-1"
        client = session.create_client("s3", config=config, region_name=region, endpoint_url=access.endpoint_url)
    except ProfileNotFound as exc:
        raise unknown_profile(exc.kwargs.get("profile") or access.profile or "") from None
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        if access.endpoint_url and access.endpoint_url in str(exc):
            raise UsageError(f"the S3 endpoint {access.endpoint_url!r} is not a URL",
                             fix="give http(s)://HOST[:PORT], e.g. http://127.0.0.1:9000") from None
        raise
    client.meta.events.register("before-send.s3.PutObject", close_connection_on_empty_put)
    client.meta.events.register("before-call.s3", expect_continue_for_big_bodies_only)
    client.meta.events.register_first("needs-retry.s3", no_retry_once_cancelled)
    return client


def parse_timestamp(value: Any) -> Any:
    """botocore's timestamp parser for responses, faster on S3's two forms: ISO 8601 (each listed object's
    LastModified: 28 us with dateutil, 1 us here, a good part of a listing's cost) and HTTP dates (the
    Last-Modified header of every GET and HEAD: 38 us, 2.4 us here); anything else goes to botocore's own."""
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T" and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
        except ValueError:
            pass
    elif isinstance(value, str) and value.endswith(" GMT"):
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


def no_retry_once_cancelled(response: Any = None, caught_exception: Any = None, **kwargs: Any) -> None:
    """botocore `needs-retry.s3` handler, first in line: after a Ctrl-C (drmodel.cancel) a failed request is not
    retried. A body that stops at its next chunk fails its request, which botocore would otherwise retry with
    backoff up to five times, each retry stopping at its first chunk again. A request that succeeded is left
    alone: what it wrote landed, and the caller counts it."""
    failed = caught_exception is not None or (response is not None and response[0].status_code >= 400)
    if failed:
        cancel.check()


def expect_continue_for_big_bodies_only(params: Any, **kwargs: Any) -> None:
    """botocore `before-call.s3` handler: no `Expect: 100-continue` on bodies under 1 MiB.

    botocore asks every PUT with a body to wait for the server's go-ahead first; that spares a big body sent to a
    server that refuses it, but a small body costs less than the wait, and SeaweedFS 4.48 was seen to answer the
    conditional PUT of drmodel's lock only after about 200 ms.
    """
    from botocore.utils import determine_content_length

    headers, body = params.get("headers", {}), params.get("body")
    if "Expect" in headers and body is not None and (determine_content_length(body) or 0) < 1024 * 1024:
        del headers["Expect"]


READ_CHUNK = 1024 * 1024  # bytes asked of a GET body at a time (urllib3 copies each read through a buffer this big)
SHA256_METADATA = "drmodel-sha256"  # user metadata of the objects drmodel writes in one PUT: their hex sha256
# the full-object checksums a GET may report and a PUT may carry, cheapest for a server to check first
PASSABLE_CHECKSUMS = ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256")


def stored_sha256(response: Mapping[str, Any]) -> str | None:
    """The hex sha256 a GET or HEAD response states for the whole object: its full-object ChecksumSHA256, else the
    `drmodel-sha256` metadata drmodel wrote with it (with a CRC32 the server checked, over the bytes it hashed)."""
    claimed = str({k.lower(): v for k, v in (response.get("Metadata") or {}).items()}.get(SHA256_METADATA, ""))
    if len(claimed) != 64 or any(c not in "0123456789abcdef" for c in claimed):
        claimed = ""
    return full_sha256_hex(response.get("ChecksumSHA256")) or claimed or None


def _checksums_in(response: Mapping[str, Any]) -> dict[str, str]:
    """The S3 additional checksums an answer reports (ChecksumSHA256, ChecksumCRC32, ...), by parameter name."""
    return {k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"
            and isinstance(v, str)}


def _checksums_match(reported: str, expected: str) -> bool:
    return reported.split("-")[0] == expected.split("-")[0]


def _same_or_incomparable(a: str | None, b: str | None) -> bool:
    """False only when two checksums of the same kind (full, or composite of as many parts) differ."""
    if not a or not b or ("-" in a) != ("-" in b) or a.partition("-")[2] != b.partition("-")[2]:
        return True
    return _checksums_match(a, b)


def _same_service(a: str | None, b: str | None) -> bool:
    """Two endpoints of one S3 service: the same URL, or both AWS (CopyObject works across regions)."""
    def host(url: str | None) -> str:
        return (url or "").split("://", 1)[-1].split("/", 1)[0].lower()

    return host(a) == host(b) or (host(a).endswith(".amazonaws.com") and host(b).endswith(".amazonaws.com"))


class S3Store:
    parallel_reads = True  # one client per store, safe across threads: small reads may be prefetched together

    def __init__(self, bucket: str, *, profile: Access | str | None = None, options: TransferOptions | None = None,
                 client: Any = None) -> None:
        self.bucket = bucket
        self.access = Access.of(profile)  # the profile, and the endpoint and region that override its own
        self.profile = self.access.profile
        self.options = options or TransferOptions.from_env()
        self._client = client

    @property
    def who(self) -> str:
        return f"profile {self.profile!r}" if self.profile else "the default credentials"

    @cached_property
    def client(self) -> Any:
        client = self._client or make_client(self.access, self.options)
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
        aborted = 0
        marker: dict[str, str] = {}
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
    def _budget(self) -> MemoryBudget:
        return MemoryBudget(self.options.memory_budget)

    @cached_property
    def _buffers(self) -> BufferPool:
        return BufferPool(self.options.memory_budget)

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

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:
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
        sums = _checksums_in(r)
        return ObjectInfo(key=key, size=r["ContentLength"], etag=r.get("ETag", "").strip('"'),
                          checksum_sha256=r.get("ChecksumSHA256"), sha256=stored_sha256(r), metadata=meta,
                          checksums=sums)

    def read_bytes(self, key: str, max_size: int = SMALL_FILE_LIMIT) -> bytes:
        r = self._call("get_object", key, Key=key)
        if r["ContentLength"] > max_size:
            r["Body"].close()
            raise InvalidModelError(f"{self.describe(key)} is {r['ContentLength']} bytes, more than the {max_size} a "
                                    "file of this kind may have", fix="check that this is a DeepRacer model")
        data = r["Body"].read()
        expected = stored_sha256(r)
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise VerificationError(f"{self.describe(key)}: the bytes read differ from the object's stored SHA256",
                                    fix="check the network, then run the command again")
        return data

    def open_read(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """The object's bytes; with `etag`, of that version only: a changed object fails (PreconditionFailed)."""
        pin = f'"{etag.strip(chr(34))}"' if etag else None
        return ResumableBody(self, key, if_match=pin)  # type: ignore[return-value]  # read, readinto, close only

    def write_stream(self, key: str, stream: BinaryIO, size: int, *, progress: ProgressFn | None = None,
                     metadata: Mapping[str, str] | None = None) -> WriteResult:
        if size > self.options.multipart_threshold:
            reader = HashingReader(stream, self.options.part_size, progress)
            self._upload_multipart(key, reader, size, metadata)
            return self._confirm(key, size, reader.sha256, {"ChecksumSHA256": reader.expected_s3_checksum(True)},
                                 PROOF_PART_SHA256)
        passed = stream.passthrough_checksum() if size and isinstance(stream, ResumableBody) else None
        if passed:
            return self._put_relayed(key, stream, size, passed, progress, metadata)
        reader = HashingReader(stream, None, progress, crc32=True)
        r = self._put_hashed(key, stream, reader, size, metadata)
        return self._answered(key, size, r, {"ChecksumCRC32": reader.crc32}, reader.sha256,
                              _with_sha256(metadata, reader), stated_sha256=reader.sha256, proof=PROOF_CRC32_PUT)

    def _put_relayed(self, key: str, source: ResumableBody, size: int, checksum: dict[str, str],
                     progress: ProgressFn | None, metadata: Mapping[str, str] | None) -> WriteResult:
        """Relay a GET body into a PUT as it arrives, hashed on the way: the PUT carries the source object's own
        stored checksum, so the server checks the bytes against the source itself and nothing waits for a whole
        body. The sha256 is known only at the end, so it is not written as metadata."""
        body = StreamBody(source, size, progress)
        extra = {"Metadata": dict(metadata)} if metadata else {}
        try:
            r = self._call("put_object", key, Key=key, Body=body, **checksum, **extra)
            body.finish()  # the source stream's end: nothing more may follow the bytes the server checked
        finally:
            body.close_reopened()
        self._check_length(key, body.reader, size)
        return self._answered(key, size, r, checksum, body.reader.sha256, dict(metadata or {}), stated_sha256=None,
                              proof=PROOF_SOURCE_CHECKSUM)

    def _answered(self, key: str, size: int, r: Any, sent: dict[str, str], sha256: str, metadata: dict[str, str],
                  *, stated_sha256: str | None, proof: str) -> WriteResult:
        """The result of a PUT that sent one checksum: confirmed by the server's answer when it echoes that
        checksum (it refuses a wrong one with BadDigest, and it took exactly `size` bytes: Content-Length),
        otherwise by a HEAD."""
        [(name, value)] = sent.items()
        if r.get(name) != value:
            return self._confirm(key, size, sha256, sent, proof)
        info = ObjectInfo(key=key, size=size, etag=r.get("ETag", "").strip('"'), sha256=stated_sha256,
                          metadata=metadata, checksums=dict(sent))
        return WriteResult(info, sha256, confirmed=True, proof=proof)

    def _put_hashed(self, key: str, stream: BinaryIO, reader: HashingReader, size: int,
                    metadata: Mapping[str, str] | None) -> Any:
        """One PUT carrying the CRC32 and sha256 of its bytes, so the whole stream is read (and hashed) first."""
        if size and _is_local_file(stream):
            # a file is read twice rather than held: once to hash it, then sent from the page cache through one
            # reused buffer (allocating the body would fault in fresh memory for every byte)
            body = FileBody(stream, size)
            while reader.readinto(body.buffer):
                pass
            self._check_length(key, reader, size)
            body.seek(0)
            return self._put(key, body, reader, metadata)
        with self._budget.hold(size):
            if not size or not callable(getattr(stream, "readinto", None)):
                data = reader.read()
                self._check_length(key, reader, size)
                return self._put(key, data, reader, metadata)
            # the body lands in a buffer kept for the next one: a fresh 45 MiB buffer costs the kernel about
            # 25 ms of page faults to fill, a reused one nothing
            buffer = self._buffers.take(size)
            try:
                view = memoryview(buffer)[:size]
                got = 0
                while got < size and (n := reader.readinto(view[got:got + READ_CHUNK])):
                    got += n
                reader.readinto(memoryview(bytearray(1)))  # the end (where botocore checks a GET's CRC32)
                self._check_length(key, reader, size)
                return self._put(key, ViewBody(view), reader, metadata)
            finally:
                self._buffers.give(buffer)

    def _put(self, key: str, body: Any, reader: HashingReader, metadata: Mapping[str, str] | None) -> Any:
        return self._call("put_object", key, Key=key, Body=body, ChecksumCRC32=reader.crc32,
                          Metadata=_with_sha256(metadata, reader))

    def _confirm(self, key: str, size: int, sha256: str, sent: dict[str, str], proof: str) -> WriteResult:
        """HEAD what was just written: its size, and each checksum sent that the server reports, must match."""
        info = self.head(key, checksums=True)
        if info is None or info.size != size:
            raise VerificationError(f"{self.describe(key)} has {info.size if info else 'no'} bytes after upload, "
                                    f"expected {size}", fix="run the same command again to resume")
        for name, expected in sent.items():
            reported = info.checksums.get(name)
            if reported and not _checksums_match(reported, expected):
                raise VerificationError(f"{self.describe(key)}: the server's {name} {reported} differs from the "
                                        f"bytes sent ({expected})", fix="run the same command again to resume")
        return WriteResult(info, sha256, confirmed=True, proof=proof)

    def _check_length(self, key: str, reader: HashingReader, size: int) -> None:
        if reader.bytes_read != size:
            raise VerificationError(f"{self.describe(key)}: read {reader.bytes_read} bytes from the source, "
                                    f"expected {size}", fix="the source changed during the copy; run it again")

    def _upload_multipart(self, key: str, reader: HashingReader, size: int,
                          metadata: Mapping[str, str] | None) -> None:
        """Read part after part (hashing it), upload up to part_concurrency parts at once, complete only when every
        part landed and the source gave exactly `size` bytes; abort the upload on any failure."""
        from concurrent.futures import Future, ThreadPoolExecutor

        extra = {"Metadata": dict(metadata)} if metadata else {}
        upload_id = self._call("create_multipart_upload", key, Key=key, ChecksumAlgorithm="SHA256",
                               **extra)["UploadId"]
        pool = ThreadPoolExecutor(max_workers=self.options.part_concurrency, thread_name_prefix="drmodel-part")
        futures: list[Future[dict[str, Any]]] = []
        try:
            part_size = self.options.part_size
            while not any(f.done() and f.exception() for f in futures):  # stop reading once a part failed
                self._budget.acquire(part_size)
                try:
                    part = reader.read_part()
                except BaseException:
                    self._budget.release(part_size)
                    raise
                if part is None:
                    self._budget.release(part_size)
                    break
                future = pool.submit(self._send_part, key, upload_id, len(futures) + 1, [part], part_size)
                future.add_done_callback(lambda f: self._budget.release(part_size) if f.cancelled() else None)
                futures.append(future)
                del part  # the part's bytes live in the upload thread only, so the budget is the truth
            parts = [f.result() for f in futures]
            self._check_length(key, reader, size)
            self._call("complete_multipart_upload", key, Key=key, UploadId=upload_id,
                       MultipartUpload={"Parts": parts})
        except Exception:
            pool.shutdown(wait=True, cancel_futures=True)
            self._abort_quietly(key, upload_id)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _send_part(self, key: str, upload_id: str, number: int, holder: builtins.list[tuple[bytes, bytes]],
                   held: int) -> dict[str, Any]:
        """Upload one part, then free its bytes before giving its share of the memory budget back."""
        try:
            return self._upload_part(key, upload_id, number, *holder.pop())
        finally:
            self._budget.release(held)

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes, digest: bytes) -> dict[str, Any]:
        checksum = b64(digest)
        r = self._call("upload_part", key, Key=key, UploadId=upload_id, PartNumber=number,
                       Body=ViewBody(memoryview(data)), ChecksumSHA256=checksum)
        return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": checksum}

    def can_read(self, source: S3Store, key: str) -> bool:
        """Can this store's credentials read `key` in `source`'s bucket, on the same S3 service? Then the bytes
        can be copied inside S3 (CopyObject) instead of relayed through this machine."""
        if not _same_service(self.client.meta.endpoint_url, source.client.meta.endpoint_url):
            return False
        try:
            self.client.head_object(Bucket=source.bucket, Key=key)
            return True
        except Exception:  # 403 without a grant, or anything else: relay, which needs no grant
            return False

    def copy_from(self, source: S3Store, source_key: str, key: str, size: int, *, source_etag: str | None = None,
                  progress: ProgressFn | None = None, metadata: Mapping[str, str] | None = None) -> WriteResult:
        """Server-side copy with this store's credentials: CopyObject, or UploadPartCopy above
        `copy_part_threshold` (CopyObject's limit is 5 GiB), pinned to the planned source version by its ETag
        (CopySourceIf-Match). A copy answered with the source's single-part (MD5) ETag is confirmed by that answer.
        Otherwise (a multipart or encrypted source) SHA256 is asked for and both objects are looked up: every
        checksum the copy has must equal the source's of the same kind (S3 computes the SHA256; SeaweedFS keeps the
        source's checksums as they are)."""
        copy_source = {"Bucket": source.bucket, "Key": source_key}
        pin = {"CopySourceIfMatch": f'"{source_etag.strip(chr(34))}"'} if source_etag else {}
        meta = {"Metadata": dict(metadata)} if metadata else {}
        if size > self.options.copy_part_threshold:
            self._copy_multipart(copy_source, key, size, pin, meta, progress)
        else:
            r = self._call("copy_object", key, Key=key, CopySource=copy_source, ChecksumAlgorithm="SHA256",
                           MetadataDirective="REPLACE", **pin, **meta)
            if progress:
                progress(size)
            done = r.get("CopyObjectResult") or {}
            etag = str(done.get("ETag") or "").strip('"')
            if source_etag and etag == source_etag.strip('"') and "-" not in etag:
                # the copy has the MD5 ETag of the exact source version it was pinned to (and copied: the pin
                # fails the request otherwise), hence its bytes and size: confirmed without a HEAD on either side
                copy = ObjectInfo(key=key, size=size, etag=etag, checksum_sha256=done.get("ChecksumSHA256"),
                                  metadata=dict(metadata or {}), checksums=_checksums_in(done))
                return WriteResult(copy, full_sha256_hex(copy.checksum_sha256), confirmed=True, proof=PROOF_COPY_ETAG)
        info = self.head(key, checksums=True)
        if info is None or info.size != size:
            raise VerificationError(f"{self.describe(key)} has {info.size if info else 'no'} bytes after the "
                                    f"server-side copy, expected {size}", fix="run the same command again to resume")
        # a server-side copy may keep the source's checksum algorithm rather than compute the one asked for
        # (SeaweedFS does): every checksum both objects have must agree
        theirs = source.head(source_key, checksums=True)
        ours, source_sums = info.checksums, (theirs.checksums if theirs else {})
        for name in ours.keys() & source_sums.keys():
            if not _same_or_incomparable(ours[name], source_sums[name]):
                raise VerificationError(f"{self.describe(key)}: {name} {ours[name]} after the server-side copy "
                                        f"differs from the source's {source_sums[name]}",
                                        fix="run the same command again, or add --relay to stream the bytes instead")
        return WriteResult(info, full_sha256_hex(info.checksum_sha256), confirmed=True, proof=PROOF_COPY_CHECKSUMS)

    def _copy_multipart(self, copy_source: dict[str, str], key: str, size: int, pin: dict[str, str],
                        meta: dict[str, Any], progress: ProgressFn | None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        upload_id = self._call("create_multipart_upload", key, Key=key, ChecksumAlgorithm="SHA256",
                               **meta)["UploadId"]
        step = self.options.copy_part_size
        ranges = [(n, start, min(start + step, size) - 1) for n, start in enumerate(range(0, size, step), 1)]

        def copy_part(n: int, first: int, last: int) -> dict[str, Any]:
            cancel.check()  # Ctrl-C: no new part starts
            r = self._call("upload_part_copy", key, Key=key, UploadId=upload_id, PartNumber=n,
                           CopySource=copy_source, CopySourceRange=f"bytes={first}-{last}", **pin)
            if progress:
                progress(last - first + 1)
            result = r["CopyPartResult"]
            return {"PartNumber": n, "ETag": result["ETag"],
                    **({"ChecksumSHA256": result["ChecksumSHA256"]} if result.get("ChecksumSHA256") else {})}

        try:
            with ThreadPoolExecutor(max_workers=self.options.part_concurrency) as pool:
                parts = list(pool.map(lambda r: copy_part(*r), ranges))
            self._call("complete_multipart_upload", key, Key=key, UploadId=upload_id,
                       MultipartUpload={"Parts": parts})
        except Exception:
            self._abort_quietly(key, upload_id)
            raise

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload that failed; if even that fails, the next run aborts it
        (abort_unfinished_uploads), so the first error is the one reported."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception:
            pass

    def delete(self, keys: builtins.list[str]) -> None:
        """One DeleteObject per key: permission is checked per key everywhere (DeleteObjects is evaluated
        against the bucket by some S3 implementations), and a model has few stale files."""
        for key in keys:
            self._call("delete_object", key, Key=key)


def _with_sha256(metadata: Mapping[str, str] | None, reader: HashingReader) -> dict[str, str]:
    return {**(metadata or {}), SHA256_METADATA: reader.sha256}


def _is_local_file(stream: Any) -> bool:
    try:
        return callable(getattr(stream, "readinto", None)) and stream.seekable() and stream.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


class _Body:
    """A seekable PUT body of known length: botocore sends it again from the start on a retry."""

    def __init__(self, size: int) -> None:
        self._size, self._pos = size, 0

    def __len__(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset + (0 if whence == 0 else self._pos if whence == 1 else self._size)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


class ViewBody(_Body):
    """Bytes in a (reused) buffer as a PUT body, handed to the socket 1 MiB at a time without a copy (so that a
    Ctrl-C stops it at the next chunk)."""

    def __init__(self, view: memoryview) -> None:
        super().__init__(len(view))
        self._view = view

    def read(self, n: int | None = -1) -> memoryview | bytes:
        if self._pos < self._size:
            cancel.check()  # never after the last byte: a body sent whole may have landed
        start = self._pos
        self._pos = min(self._size, start + READ_CHUNK)
        return self._view[start:self._pos] if start < self._size else b""


class StreamBody(_Body):
    """A GET body as a PUT body: read and hashed 1 MiB at a time as the socket takes it. A retry of the PUT
    starts again from a new GET of the same version (If-Match on its ETag)."""

    def __init__(self, source: ResumableBody, size: int, progress: ProgressFn | None) -> None:
        super().__init__(size)
        self._first, self._progress, self._reported = source, progress, 0
        self._attach(source)

    def _attach(self, source: ResumableBody) -> None:
        """Read from this GET from now on, hashing it anew."""
        # botocore checks the bytes against the source's stored checksum as they stream in, and the PUT carries
        # that checksum, so the target server checks them against it too (a CRC32 pass here: ~0.06 CPU-s/360 MB)
        self._source, self.reader = source, HashingReader(source, None)

    def read(self, n: int | None = -1) -> bytes:
        if self._pos >= self._size:
            return b""
        data = self.reader.read(min(READ_CHUNK, self._size - self._pos))
        if not data:
            raise VerificationError(f"{self._source.store.describe(self._source.key)} ended at byte {self._pos} of "
                                    f"{self._size}", fix="the source changed during the copy; run it again")
        self._pos += len(data)
        if self._progress and self._pos > self._reported:
            self._progress(self._pos - self._reported)
            self._reported = self._pos
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = super().seek(offset, whence)
        if pos != self.reader.bytes_read:
            if pos:
                raise ValueError("a relayed body is sent again from its start only")
            self.close_reopened()
            self._attach(self._source.reopen())
        return pos

    def finish(self) -> None:
        """Read the source to its end: nothing more is expected (botocore checks the GET's length there)."""
        self.reader.read(1)

    def close_reopened(self) -> None:
        """Close the GET a retry opened (the caller closes the one it handed over)."""
        if self._source is not self._first:
            self._source.close()


class FileBody(_Body):
    """A local file as a PUT body: sent in 1 MiB chunks through one reused buffer, however `read` is asked (fewer
    trips through Python than http.client's 16 KiB). A file that shrinks while it is sent stops the request (a
    changed file would fail the server's CRC32 check)."""

    CHUNK = READ_CHUNK

    def __init__(self, f: BinaryIO, size: int) -> None:
        super().__init__(size)
        self._f, self._start = f, f.tell()
        self.buffer = memoryview(bytearray(self.CHUNK))

    def read(self, n: int | None = -1) -> memoryview | bytes:
        want = min(self.CHUNK, self._size - self._pos)
        if want > 0:
            cancel.check()  # never after the last byte: a body sent whole may have landed
        if want <= 0:
            return b""
        got = self._f.readinto(self.buffer[:want])  # type: ignore[attr-defined]  # files have readinto
        if not got:
            raise VerificationError(f"{getattr(self._f, 'name', 'a file')} ended at byte {self._pos} of {self._size} "
                                    "while it was uploaded", fix="the source changed during the copy; run it again")
        self._pos += got
        return self.buffer[:got]

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = super().seek(offset, whence)
        self._f.seek(self._start + pos)
        return pos


class BufferPool:
    """Buffers for bodies, kept for reuse. What is kept and lent stays within `limit` bytes (buffers are dropped to
    make room), unless the bodies in flight alone need more (MemoryBudget bounds those)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0  # bytes kept or lent
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        with self._lock:
            fits = [b for b in self._free if len(b) >= size]
            if fits:
                buffer = min(fits, key=len)
                self._free.remove(buffer)
                return buffer
            while self._free and self.total + size > self.limit:
                self.total -= len(self._free.pop(0))
            self.total += size
        return bytearray(size)

    def give(self, buffer: bytearray) -> None:
        with self._lock:
            self._free.append(buffer)


class MemoryBudget:
    """Bytes held in memory at once, across threads. A request larger than the whole budget waits until nothing
    else is held, then goes alone; nobody holds budget while waiting for more, so this cannot deadlock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + n <= self.limit)
            self.used += n

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()

    @contextmanager
    def hold(self, n: int) -> Iterator[None]:
        self.acquire(n)
        try:
            yield
        finally:
            self.release(n)


class ResumableBody:
    """A GET body that survives a connection cut mid-body: it asks again from the next byte (Range, If-Match on
    the ETag so a changed object is never stitched together), up to 5 times with backoff, then fails cleanly."""

    MAX_RESUMES = 5

    def __init__(self, store: S3Store, key: str, *, if_match: str | None = None) -> None:
        self.store, self.key = store, key
        self.pos = 0
        self.resumes = 0
        r = store._call("get_object", key, Key=key, **({"IfMatch": if_match} if if_match else {}))
        self.etag = r.get("ETag")
        self.length = r["ContentLength"]
        self._body = r["Body"]
        # the object's stated sha256, when it has one: whoever hashes this stream must find it
        self.expected_sha256 = stored_sha256(r)
        # a full-object checksum S3 stores with it (not a composite one of parts), as a PutObject parameter
        self._checksums = {k: v for k, v in r.items() if k in PASSABLE_CHECKSUMS and isinstance(v, str)
                           and "-" not in v and r.get("ChecksumType") != "COMPOSITE"}

    def passthrough_checksum(self) -> dict[str, str] | None:
        """One stored full-object checksum, for a PUT of these bytes to carry (the server then checks what it
        receives against the source object itself); None when the object has none."""
        for name in PASSABLE_CHECKSUMS:
            if name in self._checksums:
                return {name: self._checksums[name]}
        return None

    def reopen(self) -> ResumableBody:
        """The same object version from its first byte again, in a new GET."""
        return ResumableBody(self.store, self.key, if_match=self.etag)

    def read(self, n: int = -1) -> bytes:
        return self._next(lambda body: body.read() if n is None or n < 0 else body.read(n), wants=n != 0)

    def readinto(self, b: memoryview) -> int:
        return self._next(lambda body: body.readinto(b), wants=len(b) > 0)

    def _next(self, fetch: Any, *, wants: bool) -> Any:
        """fetch(body): the next bytes (or their count, for readinto), resuming after a break or an early end."""
        while True:
            try:
                got = fetch(self._body)
            except Exception as exc:  # urllib3 ProtocolError, ResponseStreamingError, timeouts, resets
                self._resume(exc)
                continue
            count = got if isinstance(got, int) else len(got)
            if not count and wants and self.pos < self.length:
                self._resume(EOFError(f"body ended at byte {self.pos} of {self.length}"))
                continue
            self.pos += count
            return got

    def _resume(self, exc: Exception) -> None:
        import time

        from botocore.exceptions import FlexibleChecksumError

        from drmodel.errors import TransferError

        if isinstance(exc, FlexibleChecksumError):  # the bytes arrived whole but are not the stored ones
            raise VerificationError(f"{self.store.describe(self.key)}: the bytes read differ from the object's "
                                    f"stored checksum ({exc})", fix="check the network, then run the command again")

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
