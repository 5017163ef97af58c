"""Stores move bytes and know nothing of DeepRacer: an S3 bucket with its own credentials, a local folder, an
archive, or memory. Each declares what it can do (stores.base.Store); `from_spec` reaches one again."""

from __future__ import annotations

from typing import Any

from drmodel.stores.base import ObjectInfo, Store

__all__ = ["ObjectInfo", "Store", "from_spec"]


def from_spec(spec: dict[str, Any], *, profile: str | None = None) -> Store:
    """The store a backup's `store` entry names (Store.spec), with `profile` instead of the one recorded."""
    from pathlib import Path

    from drmodel.errors import UsageError

    if spec.get("type") == "local":
        from drmodel.stores.local import LocalStore

        return LocalStore(Path(spec["root"]))
    if spec.get("type") == "s3":
        from drmodel.stores.s3 import S3Store

        return S3Store(spec["bucket"], profile=profile or spec.get("profile"))
    raise UsageError(f"a backup of a {spec.get('type')} store cannot be restored: that store is gone",
                     fix="restore by copying the backup's files/ folder where they belong")
