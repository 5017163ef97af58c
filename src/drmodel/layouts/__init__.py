"""Layouts, each detecting itself. To add one: write a module with a class like these, register it here."""

from __future__ import annotations

from drmodel.errors import AmbiguousError, InvalidModelError, UsageError
from drmodel.layouts.base import Layout, ModelLocation, ModelSummary, TargetRequest, transfer_notes
from drmodel.layouts.export import ConsoleExportLayout
from drmodel.layouts.folder import FolderLayout
from drmodel.layouts.legacy import LegacyConsoleLayout
from drmodel.stores.base import Store
from drmodel.stores.cached import ListingCache

# name -> layout; "folder" is another name for the prefix layout
LAYOUTS: dict[str, type[Layout]] = {"legacy": LegacyConsoleLayout, "prefix": FolderLayout,
                                    "export": ConsoleExportLayout, "folder": FolderLayout}

__all__ = ["LAYOUTS", "Layout", "ModelLocation", "ModelSummary", "TargetRequest", "detect", "get_layout",
           "transfer_notes"]


def get_layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise UsageError(f"unknown layout {name!r}", fix=f"use one of: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]()


def detect(store: Store, path: str, forced: str | None = None, *, default: str | None = None) -> tuple[Layout, str]:
    """The one layout that recognises the address, and whether it names a 'model' or a 'container'.

    `default` is used for an address nothing recognises yet (a new target): the layout it will be written in.
    """
    if forced:
        layout = get_layout(forced)
        if isinstance(layout, LegacyConsoleLayout):
            layout.read_ahead(store)
        return layout, layout.detect(store, path) or ("model" if path.strip("/") else "container")
    candidates = [cls() for cls in dict.fromkeys(LAYOUTS.values())]
    if LegacyConsoleLayout.likely(store, path):  # its index is read while the detection below runs
        next(lay for lay in candidates if isinstance(lay, LegacyConsoleLayout)).read_ahead(store)
    cached = ListingCache(store)  # several layouts list the same folders: ask the server once
    if _missing_at_top(cached, path):  # nothing is stored under NAME/: only the legacy layout can match
        candidates = [lay for lay in candidates if isinstance(lay, LegacyConsoleLayout)]
    found = [(layout, kind) for layout in candidates if (kind := layout.detect(cached, path)) is not None]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(f"{lay.name} ({kind})" for lay, kind in found)
        raise AmbiguousError(f"{store.describe(path)} matches several layouts: {names}",
                             fix="choose one with --layout")
    if default:
        fresh = get_layout(default)
        # that layout's candidate keeps what it read ahead (a legacy bucket's index: not listed a second time)
        return next((lay for lay in candidates if type(lay) is type(fresh)), fresh), "model"
    if cached.refused is not None:  # a probe the credentials may not make: that is why nothing matched
        raise cached.refused
    raise InvalidModelError(f"{store.describe(path)} is not a DeepRacer model layout drmodel knows",
                            fix=f"point at a model or a bucket, or force one with --layout ({', '.join(LAYOUTS)})")


def _missing_at_top(store: Store, path: str) -> bool:
    """Whether a one-segment path (a model NAME) is absent from the top-level listing, which the legacy layout's
    detection lists anyway: then no key begins with NAME/, and the layouts that look inside NAME/ (prefix,
    export) need not send their probes. A top level the credentials may not list decides nothing."""
    from drmodel.errors import AccessDeniedError

    name = path.strip("/")
    if not name or "/" in name:
        return False
    try:
        return f"{name}/" not in store.list_dirs("")
    except AccessDeniedError:
        return False


def default_target_layout(bucket: str, path: str) -> str:
    """The layout a new S3 target is written in when nothing there says: legacy for a plain name in an
    aws-deepracer-* bucket (the console's), the prefix layout otherwise."""
    return "legacy" if bucket.startswith("aws-deepracer-") and "/" not in path.strip("/") else "prefix"
