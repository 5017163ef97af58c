"""sha256 computed while bytes stream, never in a second pass.

S3 stores an additional checksum per object. drmodel's single PUTs send a CRC32 (cheap for the server to check),
with the sha256 as metadata; its multipart uploads send each part's SHA256, and the server reports the composite
`base64(sha256(d1 || d2 || ...))-N` of the part digests. A reader that hashes the whole stream (and the CRC32, or
each part) in the loop that reads it lets drmodel predict the value the server must report.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

from drmodel import cancel


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def composite_checksum(part_digests: list[bytes]) -> str:
    return f"{b64(hashlib.sha256(b''.join(part_digests)).digest())}-{len(part_digests)}"


def full_sha256_hex(checksum: str | None) -> str | None:
    """The hex sha256 in a full-object S3 ChecksumSHA256; None for a composite ("-N"), missing or odd one."""
    if not checksum or "-" in checksum:
        return None
    try:
        raw = base64.b64decode(checksum, validate=True)
    except ValueError:
        return None
    return raw.hex() if len(raw) == 32 else None


def check_read_sha256(stream: object, sha256: str | None, where: str) -> None:
    """What was read from a stream must hash to the full-object SHA256 the S3 object stores, when it has one
    (`expected_sha256` of an S3 read stream): botocore leaves that check to drmodel, which hashes once."""
    expected = getattr(stream, "expected_sha256", None)
    if expected and sha256 != expected:
        from drmodel.errors import VerificationError

        raise VerificationError(f"{where}: the bytes read differ from the object's stored SHA256 (read {sha256}, "
                                f"stored {expected})", fix="check the network, then run the command again")


def sha256_file(path: str, chunk: int = 1024 * 1024) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class Readable(Protocol):
    """What HashingReader reads: a binary file, or an S3 read stream (drmodel.stores.s3.ResumableBody)."""

    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class HashingReader:
    """A read-only, non-seekable stream that hashes everything read through it: whole, and per part unless
    `part_size` is None (a single PUT, whose one part is the whole); with `crc32`, also the whole stream's CRC32
    (the checksum a single PUT sends for the server to check: cheap for both sides, unlike a SHA256)."""

    def __init__(self, raw: Readable, part_size: int | None, progress=None, *, crc32: bool = False) -> None:
        self._raw = raw
        self._part_size = part_size
        self._progress = progress
        self._crc: int | None = 0 if crc32 else None
        self._whole = hashlib.sha256()
        self._part = hashlib.sha256()
        self._in_part = 0
        self.part_digests: list[bytes] = []
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read() if n is None or n < 0 else self._raw.read(n)
        if data:
            self._take(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Read into `buffer` (reused by the caller: no allocation per read) and hash what came; 0 at the end."""
        got = self._raw.readinto(buffer)  # type: ignore[attr-defined]  # files and S3 bodies have it
        if got:
            self._take(buffer[:got])
        return got or 0

    def _take(self, data: bytes | memoryview) -> None:
        cancel.check()  # Ctrl-C: stop at this chunk
        self._whole.update(data)
        if self._crc is not None:
            self._crc = zlib.crc32(data, self._crc)
        if self._part_size:
            self._feed_parts(data, self._part_size)
        self.bytes_read += len(data)
        if self._progress:
            self._progress(len(data))

    def read_part(self) -> tuple[bytes, bytes] | None:
        """The next part (part_size bytes, fewer at the end) and its sha256 digest; None at the end of the stream."""
        assert self._part_size, "read_part needs a part size"
        chunks: list[bytes] = []
        got = 0
        while got < self._part_size:
            data = self.read(self._part_size - got)
            if not data:
                break
            chunks.append(data)
            got += len(data)
        if not got:
            return None
        if self._in_part:  # the stream ended inside a part: close it
            self.part_digests.append(self._part.digest())
            self._part, self._in_part = hashlib.sha256(), 0
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), self.part_digests[-1]

    def _feed_parts(self, data: bytes | memoryview, part_size: int) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), part_size - self._in_part)
            self._part.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == part_size:
                self.part_digests.append(self._part.digest())
                self._part, self._in_part = hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._raw.close()

    @property
    def sha256(self) -> str:
        return self._whole.hexdigest()

    @property
    def crc32(self) -> str:
        """The S3 ChecksumCRC32 (base64 of the big-endian CRC32) of what was read; needs `crc32=True`."""
        assert self._crc is not None, "this reader does not compute a CRC32"
        return b64(self._crc.to_bytes(4, "big"))

    def expected_s3_checksum(self, multipart: bool) -> str:
        """The ChecksumSHA256 the server must report for what was read (call after the last read)."""
        if not multipart:
            return b64(self._whole.digest())
        parts = list(self.part_digests)
        if self._in_part:
            parts.append(self._part.digest())
        return composite_checksum(parts)
