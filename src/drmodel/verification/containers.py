"""`check` and `diff` of containers: every model of a bucket, folder or deployment, one row each, and a summary.

Models are opened on the container's own store (drmodel.reading.Container) and checked several at once; a model
that cannot be opened (an ambiguous training job, unreadable files) gets its reason on its row instead of a verdict,
and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from drmodel.errors import DrmodelError, ExitCode
from drmodel.layouts import ModelSummary
from drmodel.reading import Container, several_jobs
from drmodel.verification.diff import DiffReport, diff_models

if TYPE_CHECKING:
    from drmodel.checks import CheckReport

THREADS = 8  # models opened and checked at once
T = TypeVar("T")


@dataclass
class Row:
    """One model of a container check or diff: its verdict, or why it has none."""

    name: str
    address: str
    check: CheckReport | None = None
    diff: DiffReport | None = None
    b_address: str | None = None  # diff: the model of the same name in B
    only_in: str | None = None  # diff: "A" or "B" when the other container has no model of that name
    problem: str | None = None
    fix: str | None = None
    exit_code: int = 0


def _guarded(name: str, address: str, work: Callable[[], Row]) -> Row:
    try:
        return work()
    except DrmodelError as exc:
        return Row(name, address, problem=exc.message, fix=exc.fix, exit_code=int(exc.exit_code))


def _ambiguous(name: str, rows: list[ModelSummary]) -> Row:
    return Row(name, rows[0].address, problem=several_jobs(rows),
               fix="check it alone with --training-job", exit_code=int(ExitCode.AMBIGUOUS))


def _map(fn: Callable[[str], T], names: list[str]) -> list[T]:
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="check") as pool:
        return list(pool.map(fn, names))


def check_container(container: Container, *, eval_checkpoint: str = "best") -> list[Row]:
    """Every model's check, by name."""
    from drmodel.checks import check_model

    models = container.by_name()

    def one(name: str) -> Row:
        rows = models[name]
        if len(rows) > 1:
            return _ambiguous(name, rows)
        return _guarded(name, rows[0].address, lambda: Row(name, rows[0].address, check=check_model(
            container.open(rows[0]), eval_checkpoint=eval_checkpoint)))

    return _map(one, sorted(models))


def diff_containers(a: Container, b: Container, *, eval_checkpoint: str = "best") -> list[Row]:
    """The models of A and B paired by name: each pair's diff; a name on one side only gets its row too."""
    in_a, in_b = a.by_name(), b.by_name()

    def one(name: str) -> Row:
        if name not in in_b:
            return Row(name, in_a[name][0].address, only_in="A", problem=f"only in {a.address}",
                       fix="copy it across", exit_code=int(ExitCode.DIFFERENT))
        if name not in in_a:
            return Row(name, in_b[name][0].address, only_in="B", problem=f"only in {b.address}",
                       fix="copy it across", exit_code=int(ExitCode.DIFFERENT))
        for rows in (in_a[name], in_b[name]):
            if len(rows) > 1:
                return _ambiguous(name, rows)
        ra, rb = in_a[name][0], in_b[name][0]
        return _guarded(name, ra.address, lambda: Row(name, ra.address, b_address=rb.address, diff=diff_models(
            a.open(ra), b.open(rb), eval_checkpoint=eval_checkpoint)))

    return _map(one, sorted(set(in_a) | set(in_b)))
