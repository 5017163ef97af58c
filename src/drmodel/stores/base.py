"""The one interface every store implements; layouts, planning and the executor use nothing else.

A store implements a few primitives (the abstract methods of `Store`); the base class derives the rest and declares
every capability the engine relies on, with the cautious answer as default (fsspec's AbstractFileSystem is the
model). The engine never probes a store with getattr, hasattr or isinstance: what a store can do, it says here.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from drmodel.errors import InvalidModelError, NotFoundError, NotSupportedError
from drmodel.options import TransferOptions

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

    @property
    def md5_etag(self) -> str | None:
        """The ETag when it has an MD5's form (32 hex digits, no "-N" of a multipart upload), else None. S3 gives a
        single-part object the MD5 of its bytes as ETag, except under SSE-KMS or SSE-C: a value of this form that
        equals an MD5 proves the bytes; one that differs proves nothing."""
        etag = (self.etag or "").strip('"').lower()
        return etag if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag) else None


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


class Store(ABC):
    """Bytes only. Keys are '/'-separated; a local folder uses its relative paths as keys."""

    # -- what the store can do: plain class attributes (a wrapper, stores.cached, copies another store's) --------
    parallel_reads: bool = False  # safe and worth reading from several threads at once (each read a round trip)
    lockable: bool = False  # put_if_absent is atomic and other runs see what is written: a run locks the model
    staged: bool = False  # writes are staged and only published by finalize() (an archive being written)
    local: bool = False  # keys are files on this machine: local_path(key) is each one's path
    remote: bool = False  # the bytes live on a server: a copy between two such stores is server-side or relayed
    user_metadata: bool = False  # metadata written with an object is kept, and head() reports it
    retries: int = 0  # requests retried after 5xx, SlowDown or a broken connection (the store counts them)
    options: TransferOptions = TransferOptions()  # transfer knobs: parallel writes and copies, part sizes

    @property
    def bucket(self) -> str | None:
        """The S3 bucket the store is, which training params name; None elsewhere."""
        return None

    @property
    def name(self) -> str | None:
        """A name for what the store holds as a whole (a folder's or an archive's model name); None if none."""
        return None

    @property
    def endpoint(self) -> str | None:
        """The service the store talks to (S3's endpoint URL); None for a store on this machine."""
        return None

    # -- primitives --------------------------------------------------------------------------------------------
    @abstractmethod
    def describe(self, key: str = "") -> str:
        """The key as the user would write it (s3://bucket/key, a file path)."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether the container (bucket, folder) is there; S3 raises NoSuchBucket or AccessDenied instead."""

    @abstractmethod
    def list(self, prefix: str = "", delimiter: str | None = None) -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix."""

    @abstractmethod
    def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None:
        """The object at key, or None; with `checksums`, with the checksums the store keeps."""

    @abstractmethod
    def open_read(self, key: str, *, etag: str | None = None) -> BinaryIO:
        """A stream of the object's bytes; with `etag`, of that version only (a store that has versions)."""

    @abstractmethod
    def write_stream(self, key: str, stream: BinaryIO, size: int, *, progress: ProgressFn | None = None,
                     metadata: Mapping[str, str] | None = None) -> WriteResult:
        """Write the stream's `size` bytes at key, hashed as they go, and say how they were proven."""

    @abstractmethod
    def delete(self, keys: builtins.list[str]) -> None:
        """Delete these keys (a missing one is no error)."""

    # -- derived -----------------------------------------------------------------------------------------------
    def list_dirs(self, prefix: str = "") -> builtins.list[str]:
        """The "folders" right under prefix, each with its trailing "/", sorted (derived from `list`)."""
        dirs = {prefix + rest.split("/", 1)[0] + "/" for obj in self.list(prefix)
                if "/" in (rest := obj.key[len(prefix):])}
        return sorted(dirs)

    def read_bytes(self, key: str, max_size: int = SMALL_FILE_LIMIT) -> bytes:
        """A small object's bytes (metadata, reward function, params), refused above max_size."""
        info = self.head(key)
        if info is None:
            raise NotFoundError(f"{self.describe(key)} does not exist", fix="check the path")
        if info.size > max_size:
            raise InvalidModelError(f"{self.describe(key)} is {info.size} bytes, more than the {max_size} a file of "
                                    "this kind may have", fix="check that this is a DeepRacer model")
        with self.open_read(key) as stream:
            return stream.read()

    # -- capabilities, with the cautious default ---------------------------------------------------------------
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Write key only if nothing is there (False when something is): the lock's primitive, where `lockable`."""
        raise NotSupportedError(f"{self.describe()} cannot write a key only if it is absent",
                                fix="this is a drmodel bug; please report it with --debug output")

    def can_read_from(self, source: Store, key: str) -> bool:
        """Whether this store's credentials can read key in `source`, so that `copy_from` can copy it here."""
        return False

    def copy_from(self, source: Store, source_key: str, key: str, size: int, *, source_etag: str | None = None,
                  progress: ProgressFn | None = None, metadata: Mapping[str, str] | None = None) -> WriteResult:
        """Copy an object of `source` here without its bytes passing through this machine (see can_read_from)."""
        raise NotSupportedError(f"{self.describe()} cannot copy from {source.describe()} by itself",
                                fix="this is a drmodel bug; please report it with --debug output")

    def unfinished_uploads(self, keys: set[str]) -> builtins.list[tuple[str, str]]:
        """The multipart uploads left unfinished on exactly these keys, as (key, upload id). None here."""
        return []

    def abort_uploads(self, uploads: builtins.list[tuple[str, str]]) -> int:
        """Abort uploads `unfinished_uploads` listed (one gone since is no error); how many. None here."""
        return 0

    def abort_unfinished_uploads(self, keys: set[str]) -> int:
        """Abort the unfinished uploads a killed run left on exactly these keys; how many."""
        return self.abort_uploads(self.unfinished_uploads(keys))

    def finalize(self) -> None:
        """Publish what was staged (`staged` stores); nothing to do elsewhere."""
        return None

    def spec(self) -> dict[str, Any]:
        """Enough to reach the store again (restore): bucket, profile and endpoint, or a folder. Never keys."""
        raise NotSupportedError(f"{self.describe()} cannot be reached again once this run ends",
                                fix="write to a bucket or a folder")

    def account_id(self) -> str | None:
        """The account id of the credentials the store uses (a new console training prefix names it); None when
        the store cannot tell."""
        return None

    def local_path(self, key: str) -> Path:
        """The file holding key, for a `local` store."""
        raise NotSupportedError(f"{self.describe(key)} is not a file on this machine",
                                fix="this is a drmodel bug; please report it with --debug output")
