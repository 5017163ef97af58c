"""A store in memory: planning, safety and execution run on it without a server or a disk (the tests' store).

Objects are bytes with their user metadata; each has an MD5 ETag (as S3's single-part objects) and a known
sha256, so that equal files are proven equal from the listing alone. Safe to use from several threads.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from drmodel.errors import NotFoundError, TransferError, VerificationError
from drmodel.hashing import HashingReader
from drmodel.stores.base import PROOF_LOCAL_SHA256, ObjectInfo, ProgressFn, Store, WriteResult


@dataclass(frozen=True)
class MemoryObject:
    data: bytes
    metadata: Mapping[str, str] = field(default_factory=dict)

    def info(self, key: str) -> ObjectInfo:
        return ObjectInfo(key=key, size=len(self.data), etag=hashlib.md5(self.data).hexdigest(),
                          sha256=hashlib.sha256(self.data).hexdigest(), metadata=dict(self.metadata))


class MemoryStore(Store):
    parallel_reads = True
    lockable = True  # put_if_absent holds the store's lock
    user_metadata = True

    def __init__(self, name: str = "memory", objects: Mapping[str, bytes] | None = None) -> None:
        self._name = name
        self._lock = threading.Lock()
        self.objects: dict[str, MemoryObject] = {k: MemoryObject(bytes(v)) for k, v in (objects or {}).items()}

    @property
    def name(self) -> str | None:
        return self._name

    def describe(self, key: str = "") -> str:
        return f"memory://{self._name}/{key}"

    def spec(self) -> dict[str, Any]:
        return {"type": "memory", "name": self._name}

    def exists(self) -> bool:
        return True

    def data(self) -> dict[str, bytes]:
        """Every key's bytes now (a snapshot, for tests to compare)."""
        with self._lock:
            return {k: o.data for k, o in self.objects.items()}

    def list(self, prefix: str = "", delimiter: str | None = None) -> Iterator[ObjectInfo]:
        with self._lock:
            found = sorted((k, o) for k, o in self.objects.items() if k.startswith(prefix))
        return iter([o.info(k) for k, o in found])

    def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None:
        with self._lock:
            obj = self.objects.get(key)
        return obj.info(key) if obj is not None else None

    def open_read(self, key: str, *, etag: str | None = None) -> BinaryIO:
        with self._lock:
            obj = self.objects.get(key)
        if obj is None:
            raise NotFoundError(f"{self.describe(key)} does not exist", fix="check the model name (drmodel ls)")
        if etag and etag.strip('"') != obj.info(key).etag:
            raise TransferError(f"{self.describe(key)} changed since the plan was made",
                                fix="run the same command again: it plans anew from what is there now")
        return io.BytesIO(obj.data)

    def write_stream(self, key: str, stream: BinaryIO, size: int, *, progress: ProgressFn | None = None,
                     metadata: Mapping[str, str] | None = None) -> WriteResult:
        reader = HashingReader(stream, None, progress)
        data = b"".join(iter(lambda: reader.read(1024 * 1024), b""))
        if len(data) != size:
            raise VerificationError(f"{self.describe(key)}: read {len(data)} bytes from the source, expected {size}",
                                    fix="the source changed during the copy; run it again")
        obj = MemoryObject(data, dict(metadata or {}))
        with self._lock:
            self.objects[key] = obj
        return WriteResult(obj.info(key), reader.sha256, confirmed=True, proof=PROOF_LOCAL_SHA256)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = MemoryObject(bytes(data))
            return True

    def delete(self, keys: builtins.list[str]) -> None:
        with self._lock:
            for key in keys:
                self.objects.pop(key, None)
