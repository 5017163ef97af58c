"""Where a transfer's target goes: its store and layout, found while the source is read, then the target model."""

from __future__ import annotations

from dataclasses import dataclass

from drmodel import layouts
from drmodel.access import AccessLike
from drmodel.address import Address, parse
from drmodel.errors import UsageError
from drmodel.layouts import Layout, ModelLocation, TargetRequest
from drmodel.model import METADATA
from drmodel.options import TransferOptions
from drmodel.reading import make_store
from drmodel.stores.base import Store


@dataclass
class TargetPlace:
    """Where a target goes: its store and layout, found before (and while) the source is read."""

    address: Address
    store: Store
    layout: Layout
    kind: str | None  # what detection found: "model", "container"; None for a local folder


def find_target(address: str, *, profile: AccessLike, layout: str | None,
                options: TransferOptions | None) -> TargetPlace:
    """The target's store and layout; what the layout will need to resolve the model (a legacy bucket's index) is
    read too. Needs nothing from the source, so plan_request runs it in a thread while the source is opened."""
    addr = parse(address)
    store = make_store(addr, profile, options, target=True)
    if store.local:
        root = store.local_path("")
        if root.exists() and not root.is_dir():
            raise UsageError(f"{root} is a file", fix="give a folder for the model")
        if root.is_dir() and any(root.iterdir()) and store.head(METADATA) is None:
            raise UsageError(f"{root} is not empty and holds no model",
                             fix="choose a new or empty folder, or a model folder to replace")
        return TargetPlace(addr, store, layouts.get_layout(layout or "prefix"), None)
    store.exists()  # NoSuchBucket / AccessDenied here, before any planning
    lay, kind = layouts.detect(store, addr.path, layout,
                              default=layouts.default_target_layout(addr.bucket or "", addr.path))
    lay.prepare(store)
    return TargetPlace(addr, store, lay, kind)


def resolve_target(place: TargetPlace, source: ModelLocation, request: TargetRequest) -> ModelLocation:
    """The target model in the place find_target found; a bucket or container target takes the source's name
    unless one is given."""
    if place.kind == "container" or (place.kind is not None and not place.address.path):
        request = TargetRequest(name=request.name or source.name, create=request.create,
                                training_job=request.training_job, account_id=request.account_id)
    loc = place.layout.resolve_target(place.store, place.address.path, request)
    loc.details["layout"] = place.layout.name
    return loc
