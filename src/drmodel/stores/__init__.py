"""Stores move bytes and know nothing of DeepRacer: an S3 bucket with its own credentials, or a local folder."""

from drmodel.stores.base import ObjectInfo, Store

__all__ = ["ObjectInfo", "Store"]
