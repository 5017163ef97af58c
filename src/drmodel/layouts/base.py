"""What a layout is: where one model's files live in a store, mapped to and from canonical paths.

A layout detects itself, lists the models of a container, opens a model as a source, and resolves a
target (the keys a model will be written to, and what is there now). Adding a layout means adding a
module with one class and registering it in `layouts/__init__.py`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from drmodel.stores.base import ObjectInfo, Store


def map_reads(store: Store, fn: Callable[[Any], Any], items: list[Any], limit: int = 16) -> list[Any]:
    """fn over items, in order; in threads when the store serves parallel reads (S3: each read is a round trip)."""
    if len(items) < 2 or not store.parallel_reads:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="read") as pool:
        return list(pool.map(fn, items))


def probe(store: Store, key: str) -> bool:
    """Whether a key exists, for detection: a key the credentials may not read counts as absent (least-privilege
    policies cover only the model's own keys; detection's stores.cached.ListingCache keeps the refusal, to explain
    a failed detection)."""
    from drmodel.errors import AccessDeniedError

    try:
        return store.head(key) is not None
    except AccessDeniedError:
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
    notes: list[str] = field(default_factory=list)  # what a plan involving this model should say about its layout
    # a key prefix the layout listed whole while opening the model, and every key it found under it
    listed_under: str | None = None
    listed: frozenset[str] = frozenset()
    # path -> the bytes read (or being read) this run: planning asks for the same small files several times
    _reads: dict[str, Future[bytes]] = field(default_factory=dict, repr=False, compare=False)

    def read(self, path: str) -> bytes:
        if path in self.overrides:
            return self.overrides[path]
        if path not in self._reads and not self._share_twin(path):
            self.remember(path, self.store.read_bytes(self.key_for(path)))
        return self._reads[path].result()

    def _share_twin(self, path: str) -> bool:
        """Whether a file with the same size and MD5 ETag was read (or is being read) this run: then path's bytes are
        those (a model's two copies of its metadata are one read). Only an ETag of MD5 form counts
        (ObjectInfo.md5_etag); a store that gives none reads each file."""
        info = self.files.get(path)
        md5 = info.md5_etag if info is not None else None
        if md5 is None or info is None:
            return False
        for other, future in list(self._reads.items()):
            twin = self.files.get(other)
            if twin is not None and twin.md5_etag == md5 and twin.size == info.size:
                self._reads[path] = future
                return True
        return False

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

    def reading(self, path: str, read: Future[bytes]) -> None:
        """The store's bytes for path, being read by someone else already (`read` waits for them)."""
        self._reads[path] = read

    def already_read(self, path: str) -> bytes | None:
        """The store's bytes for path if this run has read them already (never waits, never reads)."""
        f = self._reads.get(path)
        return f.result() if f is not None and f.done() and f.exception() is None else None

    def prefetch(self, paths: Iterable[str]) -> None:
        """Start reading these files (those the model has) in the background, all at once, when the store can
        serve parallel reads; `read` then waits for them. Errors surface when a file is read, not here."""
        if not self.store.parallel_reads:
            return
        todo = [p for p in dict.fromkeys(paths) if p in self.files and p not in self.overrides and p not in self._reads]
        if not todo:
            return
        pool = ThreadPoolExecutor(max_workers=min(8, len(todo)), thread_name_prefix="prefetch")
        for p in todo:
            if not self._share_twin(p):
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
    """Where a model's files live. A layout class subclasses this (for `prepare`'s default) and is registered in
    layouts.LAYOUTS."""

    name: str
    description: str

    def detect(self, store: Store, path: str) -> str | None:
        """'model' or 'container' when this layout recognises the address; None otherwise."""

    def list_models(self, store: Store, path: str) -> list[ModelSummary]: ...

    def open_model(self, store: Store, path: str, *, training_job: str | None = None) -> ModelLocation: ...

    def resolve_target(self, store: Store, path: str, request: TargetRequest) -> ModelLocation: ...

    def open_listed(self, store: Store, row: ModelSummary) -> ModelLocation:
        """The model a row of `list_models` names (a batch copy opens each row on the container's store): by the
        folder the row found it in. The legacy layout opens by name and training job instead."""
        return self.open_model(store, str(row.details.get("training_prefix") or row.name))

    def prepare(self, store: Store) -> None:
        """Read ahead, in a thread of its own, what opening or resolving a model in `store` will need (the legacy
        layout's bucket index); a layout that needs nothing keeps this default. Layouts subclass Layout to get it."""
        return None


def transfer_notes(src: ModelLocation, tgt: ModelLocation, files: Collection[str],
                   rewritten: Mapping[str, tuple[bytes, str]]) -> list[str]:
    """What a copy's plan should say about where the model lands: the layouts' own notes; for a prefix in a bucket,
    what DRfC's dr-upload-model and dr-download-model will refuse (no file under metrics/, no
    ip/hyperparameters.json); a METRICS_S3_OBJECT_KEY that names a file of the target model that neither this
    copy nor the target holds; an S3_ENDPOINT_URL that names another S3 service than the target's."""
    from drmodel import paramsfile
    from drmodel.model import METRICS_DIR, TRAINING_PARAMS_RE

    notes = [*src.notes, *tgt.notes]
    bucket = tgt.store.bucket
    if not bucket:
        return notes
    no_metrics = False
    if tgt.layout == "prefix":
        held = set(files) | set(tgt.files)
        if not any(p.startswith(METRICS_DIR) for p in held):
            no_metrics = True
            notes.append("warning: no file under metrics/ (the source has none): DRfC's dr-upload-model refuses "
                         "such a prefix (\"Meta-data files are not found\") until training or evaluation writes one")
        if "ip/hyperparameters.json" not in held:
            notes.append("warning: no ip/hyperparameters.json (the source has none): DRfC's dr-upload-model and "
                         "dr-download-model refuse such a prefix")
    written = {tgt.key_for(p) for p in files} | {o.key for o in tgt.files.values()}
    for path, (data, _) in sorted(rewritten.items()):
        if not TRAINING_PARAMS_RE.match(path):
            continue
        doc = paramsfile.load(data, path)
        key = doc.get("METRICS_S3_OBJECT_KEY")
        if (not no_metrics and isinstance(key, str) and doc.get("METRICS_S3_BUCKET") == bucket and key not in written
                and tgt.listed_under is not None and key.startswith(tgt.listed_under)):
            notes.append(f"{path}: METRICS_S3_OBJECT_KEY names {key}, which neither this copy nor the target holds "
                         "(training writes it there)")
        endpoint = doc.get("S3_ENDPOINT_URL")
        if endpoint and not (src.store.endpoint is not None and src.store.endpoint == tgt.store.endpoint):
            notes.append(f"{path}: S3_ENDPOINT_URL {endpoint} is kept as it is: it names the S3 service the model was "
                         "trained against (DRfC's MinIO); change or remove it before training elsewhere")
    return notes

