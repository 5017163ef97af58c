"""An S3 bucket reached with one set of credentials (a profile, or the environment).

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
from functools import cached_property
from typing import Any, BinaryIO

from drmodel.access import Access
from drmodel.errors import DrmodelError, InvalidModelError, NotFoundError, VerificationError
from drmodel.hashing import HashingReader, b64
from drmodel.options import TransferOptions
from drmodel.stores.base import (
    PROOF_CRC32_PUT,
    PROOF_PART_SHA256,
    PROOF_SOURCE_CHECKSUM,
    SMALL_FILE_LIMIT,
    ObjectInfo,
    ProgressFn,
    Store,
    WriteResult,
)
from drmodel.stores.s3bodies import (
    PASSABLE_CHECKSUMS,
    READ_CHUNK,
    SHA256_METADATA,
    BufferPool,
    FileBody,
    MemoryBudget,
    ResumableBody,
    StreamBody,
    ViewBody,
    checksums_in,
    checksums_match,
    is_local_file,
    stored_sha256,
    with_sha256,
)
from drmodel.stores.s3client import (
    close_connection_on_empty_put,
    expect_continue_for_big_bodies_only,
    make_client,
    new_session,
    no_retry_once_cancelled,
    parse_timestamp,
    shared_loader,
)
from drmodel.stores.s3copy import same_service, server_side_copy
from drmodel.stores.s3errors import translate

# what other modules and the tests import from here
__all__ = ["PASSABLE_CHECKSUMS", "READ_CHUNK", "SHA256_METADATA", "BufferPool", "FileBody", "MemoryBudget",
           "ResumableBody", "S3Store", "StreamBody", "ViewBody", "close_connection_on_empty_put",
           "expect_continue_for_big_bodies_only", "make_client", "new_session", "no_retry_once_cancelled",
           "parse_timestamp", "shared_loader", "stored_sha256"]


# The calls a write-only store may make (S3Store.write_only): PutObject and the multipart-upload calls.
WRITE_CALLS = frozenset({"put_object", "create_multipart_upload", "upload_part", "complete_multipart_upload",
                         "abort_multipart_upload"})


class S3Store(Store):
    parallel_reads = True  # one client per store, safe across threads: small reads may be prefetched together
    lockable = True  # a conditional PUT (If-None-Match: *)
    remote = True
    user_metadata = True
    # A bucket its users may only write to (DRoA's upload bucket): any other call is refused here, as a bug, and
    # each write is confirmed by the answer to the write itself, since nothing can be read back (_confirm_by_answer)
    write_only = False

    def __init__(self, bucket: str, *, profile: Access | str | None = None, options: TransferOptions | None = None,
                 client: Any = None) -> None:
        self._bucket = bucket
        self.access = Access.of(profile)  # the profile, and the endpoint and region that override its own
        self.profile = self.access.profile
        self.options = options or TransferOptions.from_env()
        self._client = client
        self._completed: dict[str, Any] = {}  # write-only: CompleteMultipartUpload's answer by key, until confirmed
        self._completed_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def name(self) -> str | None:
        return self._bucket

    @property
    def endpoint(self) -> str | None:
        return str(self.client.meta.endpoint_url)

    def spec(self) -> dict[str, Any]:
        return {"type": "s3", "bucket": self.bucket, "profile": self.profile, "endpoint_url": self.endpoint,
                "access": vars(self.access)}  # as given: --profile, --endpoint-url, --region

    def account_id(self) -> str | None:
        """From STS (GetCallerIdentity) with this store's profile, on the S3 endpoint's host unless that is AWS's;
        None when STS does not answer (MinIO, SeaweedFS) or is not allowed."""
        try:
            endpoint = self.client.meta.endpoint_url
            sts = new_session(self.profile).create_client(
                "sts", region_name=self.client.meta.region_name,
                endpoint_url=endpoint if "amazonaws.com" not in endpoint else None)
            return str(sts.get_caller_identity()["Account"])
        except Exception:  # no STS or no permission: the caller falls back on what the bucket says
            return None

    @property
    def who(self) -> str:
        return f"profile {self.profile!r}" if self.profile else "the default credentials"

    @cached_property
    def client(self) -> Any:
        client = self._client or make_client(self.access, self.options)
        client.meta.events.register("after-call.s3", self._count_retries)
        return client

    def _count_retries(self, parsed: Any = None, **kwargs: Any) -> None:
        attempts = (parsed or {}).get("ResponseMetadata", {}).get("RetryAttempts", 0)
        if attempts:
            self.retries += attempts

    def unfinished_uploads(self, keys: set[str]) -> builtins.list[tuple[str, str]]:
        """The multipart uploads left unfinished on exactly these keys, as (key, upload id); other keys' are not
        listed."""
        if not keys or self.write_only:  # write-only: ListBucketMultipartUploads is not granted (and a DRoA push
            return []  # writes under a new uuid4 prefix, where no earlier run left uploads)
        prefix = os.path.commonprefix(sorted(keys))
        found, marker = [], dict[str, str]()  # the next page's markers
        while True:
            page = self.call("list_multipart_uploads", prefix, Prefix=prefix, **marker)
            found += [(up["Key"], up["UploadId"]) for up in page.get("Uploads", []) if up["Key"] in keys]
            if not page.get("IsTruncated"):
                return found
            marker = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}

    def abort_uploads(self, uploads: builtins.list[tuple[str, str]]) -> int:
        """Abort uploads unfinished_uploads listed; one that is gone since (completed or aborted by the run that had
        it, when the list was taken while the lock was being taken) is no error."""
        from botocore.exceptions import ClientError

        aborted = 0
        for key, upload_id in uploads:
            try:
                self.call("abort_multipart_upload", key, Key=key, UploadId=upload_id)
                aborted += 1
            except DrmodelError as exc:
                cause = exc.__cause__
                if not (isinstance(cause, ClientError)
                        and cause.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404", "NotFound")):
                    raise
        return aborted

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

    def call(self, op: str, key: str = "", **kwargs: Any) -> Any:
        """One S3 request on this bucket (every request drmodel makes goes through here), its error translated
        into a drmodel error naming the fix (stores.s3errors)."""
        if self.write_only and op not in WRITE_CALLS:
            raise DrmodelError(f"drmodel tried {op} on {self.describe(key)}, which may only be written to",
                               fix="this is a drmodel bug; please report it with --debug output")
        try:
            answer = getattr(self.client, op)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            raise translate(exc, op, self.describe(key), self.who) from exc
        if self.write_only and op == "complete_multipart_upload":
            with self._completed_lock:
                self._completed[key] = answer
        return answer

    def exists(self) -> bool:
        self.call("list_objects_v2", MaxKeys=1)
        return True

    def list(self, prefix: str = "", delimiter: str | None = None) -> Iterator[ObjectInfo]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self.call("list_objects_v2", prefix, **kwargs)
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
            page = self.call("list_objects_v2", prefix, **kwargs)
            dirs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page.get("IsTruncated"):
                return dirs
            token = page["NextContinuationToken"]

    def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None:
        kwargs: dict[str, Any] = {"Key": key}
        if checksums:
            kwargs["ChecksumMode"] = "ENABLED"
        try:
            r = self.call("head_object", key, **kwargs)
        except NotFoundError:
            return None
        meta = {k.lower(): v for k, v in r.get("Metadata", {}).items()}
        sums = checksums_in(r)
        return ObjectInfo(key=key, size=r["ContentLength"], etag=r.get("ETag", "").strip('"'),
                          checksum_sha256=r.get("ChecksumSHA256"), sha256=stored_sha256(r), metadata=meta,
                          checksums=sums)

    def read_bytes(self, key: str, max_size: int = SMALL_FILE_LIMIT) -> bytes:
        r = self.call("get_object", key, Key=key)
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
                              with_sha256(metadata, reader), stated_sha256=reader.sha256, proof=PROOF_CRC32_PUT)

    def _put_relayed(self, key: str, source: ResumableBody, size: int, checksum: dict[str, str],
                     progress: ProgressFn | None, metadata: Mapping[str, str] | None) -> WriteResult:
        """Relay a GET body into a PUT as it arrives, hashed on the way: the PUT carries the source object's own
        stored checksum, so the server checks the bytes against the source itself and nothing waits for a whole
        body. The sha256 is known only at the end, so it is not written as metadata."""
        body = StreamBody(source, size, progress)
        extra = {"Metadata": dict(metadata)} if metadata else {}
        try:
            r = self.call("put_object", key, Key=key, Body=body, **checksum, **extra)
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
        if size and is_local_file(stream):
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
        return self.call("put_object", key, Key=key, Body=body, ChecksumCRC32=reader.crc32,
                          Metadata=with_sha256(metadata, reader))

    def _confirm(self, key: str, size: int, sha256: str, sent: dict[str, str], proof: str) -> WriteResult:
        """HEAD what was just written: its size, and each checksum sent that the server reports, must match."""
        if self.write_only:
            return self._confirm_by_answer(key, size, sha256, sent, proof)
        info = self.head(key, checksums=True)
        if info is None or info.size != size:
            raise VerificationError(f"{self.describe(key)} has {info.size if info else 'no'} bytes after upload, "
                                    f"expected {size}", fix="run the same command again to resume")
        for name, expected in sent.items():
            reported = info.checksums.get(name)
            if reported and not checksums_match(reported, expected):
                raise VerificationError(f"{self.describe(key)}: the server's {name} {reported} differs from the "
                                        f"bytes sent ({expected})", fix="run the same command again to resume")
        return WriteResult(info, sha256, confirmed=True, proof=proof)

    def _confirm_by_answer(self, key: str, size: int, sha256: str, sent: dict[str, str], proof: str) -> WriteResult:
        """A write-only store's confirmation: CompleteMultipartUpload's answer must report every checksum sent (the
        composite SHA256 of the parts) and agree with it; nothing is read back."""
        with self._completed_lock:
            answer = self._completed.pop(key, None) or {}
        for name, expected in sent.items():
            reported = answer.get(name)
            if not reported:
                raise VerificationError(f"{self.describe(key)}: the upload's answer did not confirm its {name}, and "
                                        "this bucket cannot be read back to check it", fix="run the same command again")
            if not checksums_match(reported, expected):
                raise VerificationError(f"{self.describe(key)}: the server's {name} {reported} differs from the bytes "
                                        f"sent ({expected})", fix="run the same command again")
        info = ObjectInfo(key=key, size=size, etag=str(answer.get("ETag", "")).strip('"'), checksums=dict(sent))
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
        upload_id = self.call("create_multipart_upload", key, Key=key, ChecksumAlgorithm="SHA256",
                               **extra)["UploadId"]
        pool = ThreadPoolExecutor(max_workers=self.options.part_concurrency, thread_name_prefix="drmodel-part")
        futures: list[Future[dict[str, Any]]] = []
        part_size = self.options.part_size

        def release_if_cancelled(future: Future[dict[str, Any]]) -> None:
            if future.cancelled():  # a part never sent gives its share back here (_send_part does otherwise)
                self._budget.release(part_size)

        try:
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
                future.add_done_callback(release_if_cancelled)
                futures.append(future)
                del part  # the part's bytes live in the upload thread only, so the budget is the truth
            parts = [f.result() for f in futures]
            self._check_length(key, reader, size)
            self.call("complete_multipart_upload", key, Key=key, UploadId=upload_id,
                       MultipartUpload={"Parts": parts})
        except Exception:
            pool.shutdown(wait=True, cancel_futures=True)
            self.abort_quietly(key, upload_id)
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
        r = self.call("upload_part", key, Key=key, UploadId=upload_id, PartNumber=number,
                       Body=ViewBody(memoryview(data)), ChecksumSHA256=checksum)
        return {"PartNumber": number, "ETag": r["ETag"], "ChecksumSHA256": checksum}

    def can_read_from(self, source: Store, key: str) -> bool:
        """Can this store's credentials read `key` in `source`'s bucket, on the same S3 service? Then the bytes
        can be copied inside S3 (CopyObject) instead of relayed through this machine."""
        if not isinstance(source, S3Store) or not same_service(self.endpoint, source.endpoint):
            return False
        try:
            self.client.head_object(Bucket=source.bucket, Key=key)
            return True
        except Exception:  # 403 without a grant, or anything else: relay, which needs no grant
            return False

    def copy_from(self, source: Store, source_key: str, key: str, size: int, *, source_etag: str | None = None,
                  progress: ProgressFn | None = None, metadata: Mapping[str, str] | None = None) -> WriteResult:
        """A server-side copy (stores.s3copy) from another bucket this store's credentials can read."""
        if not isinstance(source, S3Store):
            return super().copy_from(source, source_key, key, size)
        return server_side_copy(self, source, source_key, key, size, source_etag=source_etag, progress=progress,
                                metadata=metadata)

    def abort_quietly(self, key: str, upload_id: str) -> None:
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
            self.call("delete_object", key, Key=key)


