"""The small interface every store implements; layouts and the executor use nothing else."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

ProgressFn = Callable[[int], None]
SMALL_FILE_LIMIT = 4 * 1024 * 1024  # metadata, reward function, params, pointers: read whole, so capped


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None
    checksum_sha256: str | None = None  # S3 additional checksum (base64, "-N" suffix when composite)
    sha256: str | None = None  # full-object hex digest when known without reading (local hash, metadata)
    metadata: Mapping[str, str] = field(default_factory=dict)
    checksums: Mapping[str, str] = field(default_factory=dict)  # every S3 additional checksum, by field name


@dataclass(frozen=True)
class WriteResult:
    info: ObjectInfo
    sha256: str | None  # hex digest of the bytes written, computed while they streamed (by the server, when it
    # copied them: None when it reported a composite checksum)
    confirmed: bool = False  # `info` is the store's answer after the write (size and checksums checked), not
    # what was sent: the verify phase needs no second look
    proof: str = "size"  # how the bytes that landed were proven to be the source's (one of PROOFS)


# How a written file was proven to hold the source's bytes; the README's "Proofs" section explains each.
PROOF_LOCAL_SHA256 = "sha256 of the bytes written"
PROOF_CRC32_PUT = "CRC32 checked by S3"  # a single PUT: the server checked the CRC32 of the bytes drmodel hashed
PROOF_SOURCE_CHECKSUM = "the source's checksum, checked by S3"  # relayed with the source object's own checksum
PROOF_PART_SHA256 = "SHA256 of every part, checked by S3"  # multipart: each part's SHA256 checked on arrival
PROOF_COPY_ETAG = "S3 copy, MD5 ETag of the pinned source"  # CopyObject answered with the source's MD5 ETag
PROOF_COPY_CHECKSUMS = "S3 copy, checksums equal to the source's"  # a copy's stored checksums compared
PROOFS = (PROOF_LOCAL_SHA256, PROOF_CRC32_PUT, PROOF_SOURCE_CHECKSUM, PROOF_PART_SHA256, PROOF_COPY_ETAG,
          PROOF_COPY_CHECKSUMS)


class Store(Protocol):
    """Bytes only. Keys are '/'-separated; a local folder uses its relative paths as keys."""

    def describe(self, key: str = "") -> str: ...

    def list(self, prefix: str = "", delimiter: str | None = None) -> Iterator[ObjectInfo]: ...

    def list_dirs(self, prefix: str = "") -> builtins.list[str]: ...

    def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None: ...

    def read_bytes(self, key: str, max_size: int = SMALL_FILE_LIMIT) -> bytes: ...

    def open_read(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """A stream of the object's bytes; with `etag`, of that version only (a store that has versions)."""

    def write_stream(self, key: str, stream: BinaryIO, size: int, *, progress: ProgressFn | None = None,
                     metadata: Mapping[str, str] | None = None) -> WriteResult: ...

    def delete(self, keys: builtins.list[str]) -> None: ...

    def exists(self) -> bool: ...
