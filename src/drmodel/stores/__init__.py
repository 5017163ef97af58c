"""Stores move bytes and know nothing of DeepRacer: an S3 bucket with its own credentials, a local folder, an
archive, or memory. Each declares what it can do (stores.base.Store); `from_spec` reaches one again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drmodel.stores.base import ObjectInfo, Store

if TYPE_CHECKING:
    from collections.abc import Callable

    from drmodel.access import AccessLike
    from drmodel.address import Address
    from drmodel.options import TransferOptions

__all__ = ["STORES", "ObjectInfo", "Store", "from_spec", "open_store"]


def _s3(addr: Address, access: AccessLike, options: TransferOptions | None, target: bool) -> Store:
    from drmodel.stores.s3 import S3Store

    assert addr.bucket
    return S3Store(addr.bucket, profile=access, options=options)


def _archive(addr: Address, access: AccessLike, options: TransferOptions | None, target: bool) -> Store:
    from drmodel.stores.archive import ArchiveSource, ArchiveTarget

    assert addr.root
    return ArchiveTarget(addr.root) if target else ArchiveSource(addr.root)


def _folder(addr: Address, access: AccessLike, options: TransferOptions | None, target: bool) -> Store:
    from drmodel.stores.local import LocalStore

    assert addr.root
    return LocalStore(addr.root)


# The store behind each address scheme (drmodel.address): a new store is a module here and one line below (a new
# URL scheme also gets its parsing rule in address.parse). `droa://` is not a store: DRoA is reached by droa/.
STORES: dict[str, Callable[[Address, AccessLike, TransferOptions | None, bool], Store]] = {
    "s3": _s3,
    "archive": _archive,
    "file": _folder,
}


def open_store(addr: Address, access: AccessLike, options: TransferOptions | None = None, *,
               target: bool = False) -> Store:
    """The store an address names, reached with `access`; `target`: it will be written (an archive is then packed)."""
    return STORES[addr.scheme](addr, access, options, target)


def from_spec(spec: dict[str, Any], *, profile: AccessLike = None) -> Store:
    """The store a backup's `store` entry names (Store.spec), with `profile` instead of the one recorded."""
    from pathlib import Path

    from drmodel.errors import UsageError

    if spec.get("type") == "local":
        from drmodel.stores.local import LocalStore

        return LocalStore(Path(spec["root"]))
    if spec.get("type") == "s3":
        from drmodel.access import Access
        from drmodel.stores.s3 import S3Store

        # what the replace used (its profile, and its --endpoint-url and --region), each unless given here
        used = Access(**spec["access"]) if spec.get("access") else Access(spec.get("profile"))
        return S3Store(spec["bucket"], profile=Access.of(profile).or_else(used))
    raise UsageError(f"a backup of a {spec.get('type')} store cannot be restored: that store is gone",
                     fix="restore by copying the backup's files/ folder where they belong")
