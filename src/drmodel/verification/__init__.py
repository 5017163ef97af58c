"""Verification: `verify` compares two models file by file (verify.py); `diff` adds whether the same weights will
race (diff.py). How two objects are proven equal is drmodel.compare."""

from drmodel.verification.diff import DiffReport, diff
from drmodel.verification.verify import LOCATION_KEYS, FileComparison, VerifyReport, compare_models, verify

__all__ = ["LOCATION_KEYS", "DiffReport", "FileComparison", "VerifyReport", "compare_models", "diff", "verify"]
