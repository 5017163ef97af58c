"""Server-side copies: the target's credentials read the source's bucket, and the bytes never leave S3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from drmodel import cancel
from drmodel.errors import VerificationError
from drmodel.hashing import full_sha256_hex
from drmodel.options import TransferOptions
from drmodel.stores.base import PROOF_COPY_CHECKSUMS, PROOF_COPY_ETAG, ObjectInfo, ProgressFn, WriteResult
from drmodel.stores.s3bodies import checksums_in, checksums_match


class Bucket(Protocol):
    """What a server-side copy needs of each side (stores.s3.Bucket), so that this module does not import that one."""

    options: TransferOptions

    @property
    def bucket(self) -> str: ...

    def call(self, op: str, key: str = "", **kwargs: Any) -> Any: ...

    def describe(self, key: str) -> str: ...

    def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None: ...

    def abort_quietly(self, key: str, upload_id: str) -> None: ...


def _same_or_incomparable(a: str | None, b: str | None) -> bool:
    """False only when two checksums of the same kind (full, or composite of as many parts) differ."""
    if not a or not b or ("-" in a) != ("-" in b) or a.partition("-")[2] != b.partition("-")[2]:
        return True
    return checksums_match(a, b)


def same_service(a: str | None, b: str | None) -> bool:
    """Two endpoints of one S3 service: the same URL, or both AWS (CopyObject works across regions)."""
    def host(url: str | None) -> str:
        return (url or "").split("://", 1)[-1].split("/", 1)[0].lower()

    return host(a) == host(b) or (host(a).endswith(".amazonaws.com") and host(b).endswith(".amazonaws.com"))


def server_side_copy(target: Bucket, source: Bucket, source_key: str, key: str, size: int, *,
                     source_etag: str | None, progress: ProgressFn | None,
                     metadata: Mapping[str, str] | None) -> WriteResult:
    """Copy with the target's credentials: CopyObject, or UploadPartCopy above `copy_part_threshold` (CopyObject's
    limit is 5 GiB), pinned to the planned source version by its ETag (CopySourceIf-Match). A copy answered with
    the source's single-part (MD5) ETag is confirmed by that answer. Otherwise (a multipart or encrypted source)
    SHA256 is asked for and both objects are looked up: every checksum the copy has must equal the source's of the
    same kind (S3 computes the SHA256; SeaweedFS keeps the source's checksums as they are)."""
    copy_source = {"Bucket": source.bucket, "Key": source_key}
    pin = {"CopySourceIfMatch": f'"{source_etag.strip(chr(34))}"'} if source_etag else {}
    meta = {"Metadata": dict(metadata)} if metadata else {}
    if size > target.options.copy_part_threshold:
        _copy_multipart(target, copy_source, key, size, pin, meta, progress)
    else:
        r = target.call("copy_object", key, Key=key, CopySource=copy_source, ChecksumAlgorithm="SHA256",
                        MetadataDirective="REPLACE", **pin, **meta)
        if progress:
            progress(size)
        done = r.get("CopyObjectResult") or {}
        etag = str(done.get("ETag") or "").strip('"')
        if source_etag and etag == source_etag.strip('"') and "-" not in etag:
            # the copy has the MD5 ETag of the exact source version it was pinned to (and copied: the pin
            # fails the request otherwise), hence its bytes and size: confirmed without a HEAD on either side
            info = ObjectInfo(key=key, size=size, etag=etag, checksum_sha256=done.get("ChecksumSHA256"),
                              metadata=dict(metadata or {}), checksums=checksums_in(done))
            return WriteResult(info, full_sha256_hex(info.checksum_sha256), confirmed=True, proof=PROOF_COPY_ETAG)
    return _confirm_copy(target, source, source_key, key, size)


def _confirm_copy(target: Bucket, source: Bucket, source_key: str, key: str, size: int) -> WriteResult:
    """Look both objects up: the copy's size, and every checksum both have, must agree."""
    info = target.head(key, checksums=True)
    if info is None or info.size != size:
        raise VerificationError(f"{target.describe(key)} has {info.size if info else 'no'} bytes after the "
                                f"server-side copy, expected {size}", fix="run the same command again to resume")
    # a server-side copy may keep the source's checksum algorithm rather than compute the one asked for
    # (SeaweedFS does): every checksum both objects have must agree
    theirs = source.head(source_key, checksums=True)
    ours, source_sums = info.checksums, (theirs.checksums if theirs else {})
    for name in ours.keys() & source_sums.keys():
        if not _same_or_incomparable(ours[name], source_sums[name]):
            raise VerificationError(f"{target.describe(key)}: {name} {ours[name]} after the server-side copy "
                                    f"differs from the source's {source_sums[name]}",
                                    fix="run the same command again, or add --relay to stream the bytes instead")
    return WriteResult(info, full_sha256_hex(info.checksum_sha256), confirmed=True, proof=PROOF_COPY_CHECKSUMS)


def _copy_multipart(target: Bucket, copy_source: dict[str, str], key: str, size: int, pin: dict[str, str],
                    meta: dict[str, Any], progress: ProgressFn | None) -> None:
    from concurrent.futures import ThreadPoolExecutor

    upload_id = target.call("create_multipart_upload", key, Key=key, ChecksumAlgorithm="SHA256",
                            **meta)["UploadId"]
    step = target.options.copy_part_size
    ranges = [(n, start, min(start + step, size) - 1) for n, start in enumerate(range(0, size, step), 1)]

    def copy_part(n: int, first: int, last: int) -> dict[str, Any]:
        cancel.check()  # Ctrl-C: no new part starts
        r = target.call("upload_part_copy", key, Key=key, UploadId=upload_id, PartNumber=n,
                        CopySource=copy_source, CopySourceRange=f"bytes={first}-{last}", **pin)
        if progress:
            progress(last - first + 1)
        result = r["CopyPartResult"]
        return {"PartNumber": n, "ETag": result["ETag"],
                **({"ChecksumSHA256": result["ChecksumSHA256"]} if result.get("ChecksumSHA256") else {})}

    try:
        with ThreadPoolExecutor(max_workers=target.options.part_concurrency) as pool:
            parts = list(pool.map(lambda r: copy_part(*r), ranges))
        target.call("complete_multipart_upload", key, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts})
    except Exception:
        target.abort_quietly(key, upload_id)
        raise
