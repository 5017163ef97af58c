"""What a layout is: where one model's files live in a store, mapped to and from canonical paths.

A layout detects itself, lists the models of a container, opens a model as a source, and resolves a
target (the keys a model will be written to, and what is there now). Adding a layout means adding a
module with one class and registering it in `layouts/__init__.py`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from drmodel.stores.base import ObjectInfo, Store


def map_reads(store: Store, fn: Callable[[Any], Any], items: list[Any], limit: int = 16) -> list[Any]:
    """fn over items, in order; in threads when the store serves parallel reads (S3: each read is a round trip)."""
    if len(items) < 2 or not getattr(store, "parallel_reads", False):
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="read") as pool:
        return list(pool.map(fn, items))


def probe(store: Store, key: str) -> bool:
    """Whether a key exists, for detection: a key the credentials may not read counts as absent (least-privilege
    policies cover only the model's own keys); the refusal is kept on the store to explain a failed detection."""
    from drmodel.errors import AccessDeniedError

    try:
        return store.head(key) is not None
    except AccessDeniedError as exc:
        store.denied_probe = exc  # type: ignore[attr-defined]
        return False


@dataclass
class ModelSummary:
    name: str
    layout: str
    address: str
    size: int
    checkpoints: int
    details: dict[str, Any] = field(default_factory=dict)  # e.g. training_prefix, training_timestamp


@dataclass
class ModelLocation:
    """A model in a store: its canonical files, and the store key of each canonical path."""

    store: Store
    layout: str
    name: str
    address: str
    files: dict[str, ObjectInfo]  # canonical path -> the object now there
    key_for: Callable[[str], str]  # canonical path -> store key
    details: dict[str, Any] = field(default_factory=dict)
    exists: bool = True
    # canonical path -> function giving the bytes this location should hold for a source file's bytes
    # (a training_params file names its model's own bucket and prefix: rewritten when a model moves)
    rewrite: Callable[[str, bytes], bytes] | None = None
    overrides: dict[str, bytes] = field(default_factory=dict)  # planned contents that differ from the store's
    # a key prefix the layout listed whole while opening the model, and every key it found under it
    listed_under: str | None = None
    listed: frozenset[str] = frozenset()
    # path -> the bytes read (or being read) this run: planning asks for the same small files several times
    _reads: dict[str, Future[bytes]] = field(default_factory=dict, repr=False, compare=False)

    def read(self, path: str) -> bytes:
        if path in self.overrides:
            return self.overrides[path]
        if path not in self._reads:
            self.remember(path, self.store.read_bytes(self.key_for(path)))
        return self._reads[path].result()

    def seen(self, key: str) -> bool | None:
        """Whether the listing made while opening the model found an object at this store key; None when that
        listing did not cover the key (a HEAD must tell)."""
        if self.listed_under is None or not key.startswith(self.listed_under):
            return None
        return key in self.listed

    def remember(self, path: str, data: bytes) -> None:
        """The store's bytes for path, already read by someone else (a layout's index): `read` returns them."""
        done: Future[bytes] = Future()
        done.set_result(data)
        self._reads[path] = done

    def already_read(self, path: str) -> bytes | None:
        """The store's bytes for path if this run has read them already (never waits, never reads)."""
        f = self._reads.get(path)
        return f.result() if f is not None and f.done() and f.exception() is None else None

    def prefetch(self, paths: Iterable[str]) -> None:
        """Start reading these files (those the model has) in the background, all at once, when the store can
        serve parallel reads; `read` then waits for them. Errors surface when a file is read, not here."""
        if not getattr(self.store, "parallel_reads", False):
            return
        todo = [p for p in dict.fromkeys(paths) if p in self.files and p not in self.overrides and p not in self._reads]
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=min(8, len(todo)), thread_name_prefix="prefetch")
        for p in todo:
            self._reads[p] = pool.submit(self.store.read_bytes, self.key_for(p))
        pool.shutdown(wait=False)

    def stale_candidates(self) -> list[str]:
        """Canonical paths a replace may delete when the source lacks them: only the checkpoint folder."""
        return [p for p in self.files if p.startswith("model/")]


@dataclass(frozen=True)
class TargetRequest:
    name: str | None
    create: bool = False
    training_job: str | None = None
    account_id: str | None = None


class Layout(Protocol):
    name: str
    description: str

    def detect(self, store: Store, path: str) -> str | None:
        """'model' or 'container' when this layout recognises the address; None otherwise."""

    def list_models(self, store: Store, path: str) -> list[ModelSummary]: ...

    def open_model(self, store: Store, path: str, *, training_job: str | None = None) -> ModelLocation: ...

    def resolve_target(self, store: Store, path: str, request: TargetRequest) -> ModelLocation: ...
