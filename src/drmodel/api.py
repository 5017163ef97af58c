"""The library API: list_models, show, check, car (reading), plan_request / plan_transfer (pull, push, copy),
plan_repair, plan_restore (planning), execute, verify and diff (verification).

Every function returns data; nothing here prints. Errors are DrmodelError subclasses with exit codes. A plan is
run by `execute`, the same for the library and the CLI (a push into DRoA imports the model there too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drmodel.plan import Plan
from drmodel.planning import (
    BatchRequest,
    ModelRef,
    TransferRequest,
    plan_batch,
    plan_between,
    plan_repair,
    plan_request,
    plan_restore,
    plan_transfer,
)
from drmodel.reading import (
    Container,
    car,
    check,
    list_models,
    make_store,
    open_container,
    open_model,
    open_place,
    show,
)
from drmodel.verification import (
    LOCATION_KEYS,
    DiffReport,
    FileComparison,
    VerifyReport,
    check_container,
    diff,
    diff_containers,
    diff_models,
    verify,
)

if TYPE_CHECKING:
    from drmodel.batchrun import BatchResult, execute_batch
    from drmodel.checks import check_model
    from drmodel.execute import Result, execute

__all__ = ["LOCATION_KEYS", "BatchRequest", "BatchResult", "Container", "DiffReport", "FileComparison", "ModelRef",
           "Plan", "Result", "TransferRequest", "VerifyReport", "car", "check", "check_container", "check_model",
           "diff", "diff_containers", "diff_models", "execute", "execute_batch", "list_models", "make_store",
           "open_container", "open_place", "open_model", "plan_batch", "plan_between", "plan_repair", "plan_request",
           "plan_restore", "plan_transfer", "show", "verify"]


def __getattr__(name: str) -> Any:
    """`api.execute` and `api.Result` load the write path on first use (start-up time of read-only commands)."""
    if name in ("execute", "Result"):
        from drmodel import execute as module

        return getattr(module, name)
    if name == "check_model":  # judging an opened model (checks.py loads on first use, as for api.check)
        from drmodel.checks import check_model

        return check_model
    if name in ("execute_batch", "BatchResult"):
        from drmodel import batchrun

        return getattr(batchrun, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
