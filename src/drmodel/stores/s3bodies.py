"""The bodies of S3 requests and responses: PUT bodies sent from a buffer, a file or a GET (relayed), the memory
they may hold, and a GET body that resumes after a broken connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, BinaryIO, Protocol, cast

from drmodel import cancel
from drmodel.errors import VerificationError
from drmodel.hashing import HashingReader, full_sha256_hex
from drmodel.stores.base import ProgressFn


class Bucket(Protocol):
    """What a ResumableBody needs of its store (stores.s3.S3Store), so that this module does not import that one."""

    retries: int

    def call(self, op: str, key: str = "", **kwargs: Any) -> Any: ...

    def describe(self, key: str) -> str: ...

READ_CHUNK = 1024 * 1024  # bytes asked of a GET body at a time (urllib3 copies each read through a buffer this big)
# A relayed body's first read: a read returns only once it has all the bytes it asked for, so a first read of
# READ_CHUNK held the PUT's first byte until a whole MiB had come down (on a 100 Mbit/s line shared by four GETs,
# about 0.3 s of an idle up-line at the start of a copy); the reads then double up to READ_CHUNK.
FIRST_RELAY_READ = 64 * 1024
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



def checksums_in(response: Mapping[str, Any]) -> dict[str, str]:
    """The S3 additional checksums an answer reports (ChecksumSHA256, ChecksumCRC32, ...), by parameter name."""
    return {k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"
            and isinstance(v, str)}


def checksums_match(reported: str, expected: str) -> bool:
    return reported.split("-")[0] == expected.split("-")[0]


def with_sha256(metadata: Mapping[str, str] | None, reader: HashingReader) -> dict[str, str]:
    return {**(metadata or {}), SHA256_METADATA: reader.sha256}


def is_local_file(stream: Any) -> bool:
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
    """A GET body as a PUT body: read and hashed as the socket takes it, 64 KiB first, then twice as much per read
    up to 1 MiB (the first bytes go up as soon as they came down). A retry of the PUT starts again from a new GET
    of the same version (If-Match on its ETag)."""

    def __init__(self, source: ResumableBody, size: int, progress: ProgressFn | None) -> None:
        super().__init__(size)
        self._first, self._progress, self._reported = source, progress, 0
        self._attach(source)

    def _attach(self, source: ResumableBody) -> None:
        """Read from this GET from now on, hashing it anew."""
        # botocore checks the bytes against the source's stored checksum as they stream in, and the PUT carries
        # that checksum, so the target server checks them against it too (a CRC32 pass here: ~0.06 CPU-s/360 MB)
        self._source, self.reader = source, HashingReader(cast(BinaryIO, source), None)
        self._ask = FIRST_RELAY_READ

    def read(self, n: int | None = -1) -> bytes:
        if self._pos >= self._size:
            return b""
        data = self.reader.read(min(self._ask, self._size - self._pos))
        self._ask = min(READ_CHUNK, 2 * self._ask)
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

    def __init__(self, store: Bucket, key: str, *, if_match: str | None = None) -> None:
        self.store, self.key = store, key
        self.pos = 0
        self.resumes = 0
        r = store.call("get_object", key, Key=key, **({"IfMatch": if_match} if if_match else {}))
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
        self._body = self.store.call("get_object", self.key, **kwargs)["Body"]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> ResumableBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
