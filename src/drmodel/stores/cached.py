"""A store seen through a cache of its folder listings, for the time layouts detect themselves.

Several layouts list the same folders while each decides whether an address is its own; this view asks the
store once per prefix. It also keeps the first refusal a HEAD met (a least-privilege policy covers only a model's
own keys, so a detection probe may be refused): when no layout recognises the address, that refusal explains why.
The store is not written during detection; a write through this view empties the cache all the same.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from drmodel.errors import AccessDeniedError
from drmodel.stores.base import SMALL_FILE_LIMIT, ObjectInfo, ProgressFn, Store, WriteResult


class ListingCache(Store):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.refused: AccessDeniedError | None = None  # the first HEAD refused, if any
        self._dirs: dict[str, builtins.list[str]] = {}
        self._lock = threading.Lock()
        self.parallel_reads, self.lockable, self.staged = store.parallel_reads, store.lockable, store.staged
        self.local, self.remote, self.user_metadata = store.local, store.remote, store.user_metadata
        self.options = store.options

    @property
    def bucket(self) -> str | None:
        return self.store.bucket

    @property
    def name(self) -> str | None:
        return self.store.name

    @property
    def endpoint(self) -> str | None:
        return self.store.endpoint

    def list_dirs(self, prefix: str = "") -> builtins.list[str]:
        with self._lock:
            known = self._dirs.get(prefix)
        if known is None:
            known = self.store.list_dirs(prefix)
            with self._lock:
                self._dirs[prefix] = known
        return builtins.list(known)

    def head(self, key: str, *, checksums: bool = False) -> ObjectInfo | None:
        try:
            return self.store.head(key, checksums=checksums)
        except AccessDeniedError as exc:
            self.refused = self.refused or exc
            raise

    # -- everything else is the store's own ---------------------------------------------------------------------
    def describe(self, key: str = "") -> str:
        return self.store.describe(key)

    def exists(self) -> bool:
        return self.store.exists()

    def list(self, prefix: str = "", delimiter: str | None = None) -> Iterator[ObjectInfo]:
        return self.store.list(prefix, delimiter)

    def read_bytes(self, key: str, max_size: int = SMALL_FILE_LIMIT) -> bytes:
        return self.store.read_bytes(key, max_size)

    def open_read(self, key: str, *, etag: str | None = None) -> BinaryIO:
        return self.store.open_read(key, etag=etag)

    def write_stream(self, key: str, stream: BinaryIO, size: int, *, progress: ProgressFn | None = None,
                     metadata: Mapping[str, str] | None = None) -> WriteResult:
        self._forget()
        return self.store.write_stream(key, stream, size, progress=progress, metadata=metadata)

    def delete(self, keys: builtins.list[str]) -> None:
        self._forget()
        self.store.delete(keys)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._forget()
        return self.store.put_if_absent(key, data)

    def can_read_from(self, source: Store, key: str) -> bool:
        return self.store.can_read_from(source, key)

    def copy_from(self, source: Store, source_key: str, key: str, size: int, *, source_etag: str | None = None,
                  progress: ProgressFn | None = None, metadata: Mapping[str, str] | None = None) -> WriteResult:
        self._forget()
        return self.store.copy_from(source, source_key, key, size, source_etag=source_etag, progress=progress,
                                    metadata=metadata)

    def unfinished_uploads(self, keys: set[str]) -> builtins.list[tuple[str, str]]:
        return self.store.unfinished_uploads(keys)

    def abort_uploads(self, uploads: builtins.list[tuple[str, str]]) -> int:
        return self.store.abort_uploads(uploads)

    def abort_unfinished_uploads(self, keys: set[str]) -> int:
        return self.store.abort_unfinished_uploads(keys)

    def finalize(self) -> None:
        self.store.finalize()

    def spec(self) -> dict[str, Any]:
        return self.store.spec()

    def account_id(self) -> str | None:
        return self.store.account_id()

    def local_path(self, key: str) -> Path:
        return self.store.local_path(key)

    def _forget(self) -> None:
        with self._lock:
            self._dirs.clear()
