"""Verification: `verify` compares two models file by file (verify.py); `diff` adds whether the same weights will
race (diff.py). How two objects are proven equal is drmodel.compare."""

from drmodel.verification.containers import Row, check_container, diff_containers
from drmodel.verification.diff import DiffReport, diff, diff_models
from drmodel.verification.verify import LOCATION_KEYS, FileComparison, VerifyReport, compare_models, verify

__all__ = ["LOCATION_KEYS", "DiffReport", "FileComparison", "Row", "VerifyReport", "check_container", "compare_models",
           "diff", "diff_containers", "diff_models", "verify"]
