"""Is the object on one side the same bytes as on the other? Decided from stored checksums when possible.

Proofs, cheapest first: equal full sha256 (local hash, `drmodel-sha256` metadata, a single-part S3
ChecksumSHA256); equal S3 checksums (a composite checksum fixes every part's digest, so equal means equal
bytes); the target's `drmodel-source-etag` equal to the source's current ETag; equal ETags (when planning, not
for `verify`); a local file hashed into the S3 object's checksum or MD5 ETag. Anything else is unknown, and
unknown is never treated as equal. `prove` names the proof it used (BY_*), so that no report calls an MD5 ETag
comparison a sha256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from drmodel.hashing import b64, check_read_sha256, composite_checksum, full_sha256_hex
from drmodel.stores.base import ObjectInfo, Store

MiB = 1024 * 1024
GUESS_PART_SIZES = (16 * MiB, 8 * MiB, 5 * MiB, 32 * MiB, 64 * MiB, 10 * MiB, 100 * MiB)


@dataclass
class Facts:
    size: int
    sha256: str | None = None
    s3_checksum: str | None = None
    etag: str | None = None
    source_etag: str | None = None
    local_path: str | None = None


def facts(store: Store, info: ObjectInfo, *, head: bool = True) -> Facts:
    if store.local:
        return Facts(size=info.size, local_path=str(store.local_path(info.key)))
    if head:
        info = store.head(info.key, checksums=True) or info
    return Facts(size=info.size, sha256=info.sha256 or full_sha256_hex(info.checksum_sha256),
                 s3_checksum=info.checksum_sha256, etag=info.etag,
                 source_etag=info.metadata.get("drmodel-source-etag") if info.metadata else None)


def _local_digests(path: str, part_size: int) -> tuple[str, str, list[bytes], list[bytes]]:
    """Full sha256 and md5, and per-part sha256 and md5 digests, in one read."""
    whole, whole_md5 = hashlib.sha256(), hashlib.md5()
    parts, md5s = [], []
    with open(path, "rb") as f:
        while block := f.read(part_size):
            whole.update(block)
            whole_md5.update(block)
            parts.append(hashlib.sha256(block).digest())
            md5s.append(hashlib.md5(block).digest())
    return whole.hexdigest(), whole_md5.hexdigest(), parts, md5s


# What proved two objects the same or different (VerifyReport rows, `verify`'s summary; README "Proofs").
BY_SIZE = "size"
BY_SHA256 = "sha256"  # both full sha256 values known: a local hash, a full-object ChecksumSHA256, drmodel-sha256
BY_SHA256_CHECKSUM = "S3 SHA256 checksum"  # a local file's sha256 against the object's (single-part) ChecksumSHA256
BY_COMPOSITE = "S3 composite checksum"  # per-part SHA256 digests, equal parts (a local file split the same way)
BY_MD5_ETAG = "MD5 ETag"  # the object's MD5 ETag (of the bytes, or of every part's MD5) against a local file's
BY_SOURCE_ETAG = "source ETag recorded at copy"  # the target's drmodel-source-etag is the source's current ETag
BY_ETAG = "equal ETags"  # the same MD5 ETag on both sides (what aws s3 sync and rclone --checksum trust)
BY_READ = "sha256 of the bytes read"  # both sides read and hashed


def _local_matches(local: Facts, remote: Facts) -> tuple[bool | None, str]:
    assert local.local_path is not None
    if remote.sha256 is not None:
        return _local_sha(local) == remote.sha256, BY_SHA256
    for value, kind in ((remote.s3_checksum, "sha"), (remote.etag, "md5")):
        if not value:
            continue
        if "-" not in value:
            if kind == "sha":
                return b64(bytes.fromhex(_local_sha(local))) == value, BY_SHA256_CHECKSUM
            if len(value) == 32:
                return _local_digests(local.local_path, 64 * MiB)[1] == value, BY_MD5_ETAG
            continue
        n = int(value.rsplit("-", 1)[1]) if value.rsplit("-", 1)[1].isdigit() else 0
        for part in GUESS_PART_SIZES:
            if n and -(-local.size // part) == n:
                _, _, shas, md5s = _local_digests(local.local_path, part)
                if kind == "sha" and composite_checksum(shas).split("-")[0] == value.split("-")[0]:
                    return True, BY_COMPOSITE
                if kind == "md5" and f"{hashlib.md5(b''.join(md5s)).hexdigest()}-{n}" == value:
                    return True, BY_MD5_ETAG
    return None, ""


def _local_sha(f: Facts) -> str:
    if f.sha256 is None:
        from drmodel.hashing import sha256_file

        f.sha256 = sha256_file(f.local_path)  # type: ignore[arg-type]  # called for a local file's facts only
    return f.sha256


def prove(src: Facts, dst: Facts, *, provenance: bool = True) -> tuple[bool | None, str]:
    """(True: proven identical, False: proven different, None: unknown without reading the bytes; the proof used).

    `provenance` accepts the target's record of the source ETag it was copied from (its bytes were verified when
    written) and equal ETags; `verify` turns it off and accepts only checksums of the bytes themselves.
    """
    if src.size != dst.size:
        return False, BY_SIZE
    if src.local_path and dst.local_path:
        return _local_sha(src) == _local_sha(dst), BY_SHA256
    if src.local_path:
        return _local_matches(src, dst)
    if dst.local_path:
        return _local_matches(dst, src)
    if src.sha256 and dst.sha256:
        return src.sha256 == dst.sha256, BY_SHA256
    if src.s3_checksum and dst.s3_checksum and src.s3_checksum.split("-")[0] == dst.s3_checksum.split("-")[0]:
        return True, BY_SHA256_CHECKSUM if "-" not in src.s3_checksum else BY_COMPOSITE
    if provenance and dst.source_etag and src.etag and dst.source_etag == src.etag:
        return True, BY_SOURCE_ETAG
    if provenance and src.etag and dst.etag and src.etag.strip('"') == dst.etag.strip('"'):
        return True, BY_ETAG  # the same MD5 of the bytes (or of every part's MD5, in the same parts): what `aws s3
        # sync` and rclone --checksum trust; it decides a rerun from the listings alone, with no HEAD
    return None, ""


def same_content(src: Facts, dst: Facts, *, provenance: bool = True) -> bool | None:
    """True: proven identical. False: proven different. None: unknown without reading the bytes (see `prove`)."""
    return prove(src, dst, provenance=provenance)[0]


def stream_sha256(store: Store, key: str) -> str:
    """The full sha256 of an object, read once."""
    h = hashlib.sha256()
    with store.open_read(key) as stream:
        while block := stream.read(MiB):
            h.update(block)
    check_read_sha256(stream, h.hexdigest(), store.describe(key))
    return h.hexdigest()


def sha256_of(store: Store, info: ObjectInfo, known: Facts | None = None) -> str:
    """The full sha256 of one object: from a local hash or a stored checksum when they give it, else read once.
    `known`: its facts, when the caller looked them up already."""
    f = known or facts(store, info)
    if f.local_path:
        return _local_sha(f)
    return f.sha256 or stream_sha256(store, info.key)
