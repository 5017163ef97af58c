"""botocore's data loader, made cheaper for a short-lived command: about 80 ms of every start-up go to finding
and parsing S3's JSON models, for the same answer each time.

- Checking that a service exists looks at that service's folder, not at the ~900 folders botocore ships
  (`_ServiceNames`): ~35 ms.
- The big JSON files (S3's service model, its endpoint rules, the endpoints table: 2.5 MB of JSON, ~50 ms to
  parse into OrderedDicts) are kept parsed in a cache folder as `marshal` data (~6 ms to load; a service
  model with its documentation text emptied, see `without_docs`; the endpoints table with S3's entries only,
  the whole one loaded on the first look-up of another service, see `lazy_endpoints`). An entry is named by
  the JSON file's path, size and mtime and by the Python version (marshal's format follows it), carries the
  sha256 of its payload (a torn or damaged file is ignored and rewritten), and is written to a temporary file
  then renamed (concurrent runs never read half a file). The folder is `$DRMODEL_CACHE_DIR` (empty: no
  cache), else `$XDG_CACHE_HOME/drmodel`, else `~/.cache/drmodel`. Anything that goes wrong with the cache
  falls back to botocore's own parsing; nothing is reported.

One loader serves every client of the process (`shared_loader`), so each model is loaded once per process, and
botocore's built-in event handlers are registered once per process (`new_session`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import marshal
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

CACHE_MIN_BYTES = 16 * 1024  # smaller JSON files parse in well under a millisecond: not worth a cache entry


def cache_folder() -> Path | None:
    configured = os.environ.get("DRMODEL_CACHE_DIR")
    if configured is not None:
        return Path(configured) / "botocore" if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "drmodel" / "botocore"


@lru_cache(maxsize=4)
def shared_loader(data_path: str | None) -> Any:
    import botocore.loaders

    class QuickLoader(botocore.loaders.Loader):  # type: ignore[misc]
        """botocore's loader, except that checking a service exists looks at that service's folder only.

        Before loading a model botocore asks `service in list_available_services(type)`, which lists and stats
        the ~900 service folders it ships, to find 's3' among them.
        """

        def list_available_services(self, type_name: str) -> Any:
            return _ServiceNames(self, type_name)

        def all_services(self, type_name: str) -> list[str]:
            return list(super().list_available_services(type_name))

    class CachedJSONFileLoader(botocore.loaders.JSONFileLoader):  # type: ignore[misc]
        def _load_file(self, full_path: str, open_method: Any) -> Any:
            load = load_endpoints if os.path.basename(full_path) == "endpoints.json" else load_json_cached
            return load(full_path, open_method, cache_folder(),
                        lambda: super(CachedJSONFileLoader, self)._load_file(full_path, open_method))

    places = botocore.loaders.create_loader(data_path).search_paths  # the same places, in the same order
    return QuickLoader(extra_search_paths=list(places), include_default_search_paths=False,
                       file_loader=CachedJSONFileLoader())


_registry_lock = threading.Lock()
_builtin_registry: list[Any] = []  # botocore's built-in handlers as the first session registered them


def new_session(profile: str | None) -> Any:
    """A botocore Session for `profile`. The first one of the process registers botocore's ~140 built-in event
    handlers (~4 ms: each name goes through alias matching, each handler through `inspect`); the later ones start
    from a copy of that registry (~0.3 ms), as botocore's clients start from a copy of their session's. The
    handlers are module-level functions, the same for every session; each session owns its copy."""
    import botocore.session
    from botocore.hooks import HierarchicalEmitter

    with _registry_lock:
        if _builtin_registry:
            return botocore.session.Session(profile=profile, event_hooks=copy.copy(_builtin_registry[0]),
                                            include_builtin_handlers=False)
        hooks = HierarchicalEmitter()
        session = botocore.session.Session(profile=profile, event_hooks=hooks)
        _builtin_registry.append(copy.copy(hooks))
        return session


def load_json_cached(full_path: str, open_method: Any, folder: Path | None, parse: Any,
                     view: tuple[str, Callable[[Any], Any]] | None = None) -> Any:
    """The parsed JSON at full_path (opened with open_method: botocore's open or gzip.open), from the cache
    when it holds this very file; `parse()` (botocore's own) when the file is small or there is no cache.
    With `view` (name, function), what is cached and returned is function(parsed), under its own entry."""
    try:
        st = os.stat(full_path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if folder is None or st.st_size < CACHE_MIN_BYTES:
        return parse() if view is None else view[1](parse())
    if view is None and os.path.basename(full_path).startswith("service-2.json"):
        view = (DOCS_EMPTIED, without_docs)
    name = hashlib.sha256("\0".join([os.path.abspath(full_path), str(st.st_size), str(st.st_mtime_ns),
                                     sys.version, str(marshal.version), view[0] if view else ""]
                                    ).encode()).hexdigest()[:40]
    entry = folder / f"{name}.marshal"
    try:
        blob = entry.read_bytes()
        if len(blob) > 32 and hashlib.sha256(memoryview(blob)[32:]).digest() == blob[:32]:
            return marshal.loads(memoryview(blob)[32:])
    except (OSError, EOFError, ValueError, TypeError):
        pass
    with open_method(full_path, "rb") as fp:
        data = json.loads(fp.read().decode("utf-8"))  # plain dicts, in file order, as marshal needs
    if view is not None:
        data = view[1](data)
    _write_entry(folder, entry, data)
    return data


EAGER_SERVICES = frozenset({"s3"})  # the services of the endpoints table loaded at start-up (lazy_endpoints)


def load_endpoints(full_path: str, open_method: Any, folder: Path | None, parse: Any) -> Any:
    """botocore's endpoints table (endpoints.json), made lazy: see `lazy_endpoints`."""
    if folder is None:
        return parse()  # parsed whole anyway: nothing to save
    head = load_json_cached(full_path, open_method, folder, parse, ("services-" + ",".join(sorted(EAGER_SERVICES)),
                                                                    lambda data: _only_services(data, EAGER_SERVICES)))
    return lazy_endpoints(head, lambda: load_json_cached(full_path, open_method, folder, parse))


def lazy_endpoints(head: Any, load_whole: Callable[[], Any]) -> Any:
    """The endpoints table `head` (every partition, with the services of EAGER_SERVICES only), each partition's
    services answering for any other service from the whole table, which `load_whole()` gives on first need.

    Every botocore client loads this table (1 MB of JSON, 4 ms and 1,100 fresh memory pages from the cache) to
    look its own service up in it; ours is S3. An assumed role or SSO login makes an STS or SSO client from the
    same session: its first look-up loads the whole table and gets the same answers as from botocore's."""
    if not isinstance(head, dict) or not isinstance(head.get("partitions"), list):
        return load_whole()
    whole = _Once(load_whole)
    for partition in head["partitions"]:
        partition["services"] = _Services(partition["services"], partition.get("partition"), whole)
    return head


def _only_services(data: Any, names: frozenset[str]) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get("partitions"), list):
        return data
    return {**data, "partitions": [{**p, "services": {k: v for k, v in p.get("services", {}).items() if k in names}}
                                   for p in data["partitions"]]}


class _Once:
    """The value of `load()`, computed on first call, once, whichever threads ask."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load, self._lock, self._value = load, threading.Lock(), None

    def __call__(self) -> Any:
        with self._lock:
            if self._value is None:
                self._value = self._load()
            return self._value


class _Services(Mapping[str, Any]):
    """One partition's services in a lazy endpoints table: the loaded ones, then the whole table's."""

    def __init__(self, loaded: dict[str, Any], partition: str | None, whole: _Once) -> None:
        self._loaded, self._partition, self._whole = loaded, partition, whole

    def _all(self) -> dict[str, Any]:
        for p in self._whole()["partitions"]:
            if p.get("partition") == self._partition:
                return p["services"]  # type: ignore[no-any-return]
        return {}

    def __getitem__(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


DOCS_EMPTIED = "docs-emptied-2"  # part of a service model entry's name: its documentation text is ""


def without_docs(node: Any) -> Any:
    """A service model with its documentation text emptied (S3's as marshal data: 1.18 MB becomes 0.19 MB), text
    which only botocore's docstrings show; loading it is 40% faster and touches 1 MB less memory. Every
    key stays (botocore reads some, e.g. a client context parameter's, without a default); only text values
    become "": a structure member named "documentation" (a shape reference, not text) stays as it is."""
    if isinstance(node, dict):
        return {k: "" if k in ("documentation", "documentationUrl") and isinstance(v, str) else without_docs(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [without_docs(v) for v in node]
    return node


def _write_entry(folder: Path, entry: Path, data: Any) -> None:
    try:
        payload = marshal.dumps(data)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".marshal")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(hashlib.sha256(payload).digest())
                f.write(payload)
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        pass  # a read-only home, a full disk: the file is parsed already, the next run tries again


class _ServiceNames(Sequence[str]):
    """`Loader.list_available_services(type)`, answering `name in it` from that service's folder; listing every
    service happens only if someone iterates (e.g. to name the known services in an UnknownServiceError)."""

    def __init__(self, loader: Any, type_name: str) -> None:
        self._loader, self._type = loader, type_name

    def __contains__(self, name: object) -> bool:
        from botocore.exceptions import DataNotFoundError

        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            return False
        try:
            return bool(self._loader.list_api_versions(name, self._type))
        except DataNotFoundError:
            return False

    @cached_property
    def _names(self) -> list[str]:
        return self._loader.all_services(self._type)  # type: ignore[no-any-return]

    def __getitem__(self, index: Any) -> Any:
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)
