"""Running a batch (drmodel.plan.BatchPlan): each model's plan is run by `execute`, as a copy of that model alone
would be (its own lock, backup, proofs), with up to `parallel` models in flight. The models share each side's
store, so they share one connection pool and one memory budget. A failed model does not stop the others; the
outcome of every model, done or not, is on the BatchResult.

Ctrl-C: the batch owns it (the main thread waits here); the first press asks every transfer to stop at its next
chunk, models not started are not started, and each model in flight reports what landed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drmodel import cancel
from drmodel.backup import new_folder
from drmodel.cancel import Cancelled
from drmodel.errors import DrmodelError, ExitCode
from drmodel.execute import GrantRun, Result, execute, source_grant
from drmodel.plan import BatchEntry, BatchPlan
from drmodel.progress import Progress

# what happened to a model of the batch
COPIED = "copied"  # written and verified
UP_TO_DATE = "up to date"  # the target already held every file, proven by checksum: nothing written
FAILED = "failed"  # planning or the run failed: `problem` says why, `fix` what to do
INTERRUPTED = "interrupted"  # Ctrl-C while it ran: a rerun finishes it
NOT_STARTED = "not started"  # Ctrl-C before its turn


@dataclass
class ModelOutcome:
    entry: BatchEntry
    status: str
    result: Result | None = None
    problem: str | None = None
    fix: str | None = None
    exit_code: int = 0
    seconds: float = 0.0


@dataclass
class BatchResult:
    batch: BatchPlan
    outcomes: list[ModelOutcome] = field(default_factory=list)  # in the batch's order
    seconds: float = 0.0
    grant: Any = None  # --grant-read: the batch's drmodel.grant.Grant (its record, and its removal once removed)
    grant_swept: Any = None  # --grant-read with no grant needed: what dead runs left, removed (grant.Removal)
    grant_problem: str | None = None  # the batch's grant could not be removed: why, and what to do

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> ExitCode:
        if any(o.status in (INTERRUPTED, NOT_STARTED) for o in self.outcomes):
            return ExitCode.INTERRUPTED
        if any(o.status == FAILED for o in self.outcomes):
            return ExitCode.SOME_FAILED
        return ExitCode.TRANSFER_FAILED if self.grant_problem else ExitCode.OK


def execute_batch(batch: BatchPlan, progress_for: Callable[[BatchEntry], Progress] | None = None, *,
                  break_lock: bool = False, on_done: Callable[[ModelOutcome], Any] | None = None,
                  on_note: Callable[[str], Any] | None = None) -> BatchResult:
    """Run every model's plan, up to batch.parallel at once; `on_done` is called (from the main thread) as each
    model ends. Never raises for one model's failure; a Ctrl-C ends the batch with the models in flight settled.

    With the batch's read grant (`copy --all --grant-read`), it is added before the first model starts and removed
    after the last one ends, whatever each one's outcome (execute.source_grant; the policy before it saved in a new
    folder, batch.grant_folder or beside it). A refused grant raises before any model starts; a grant that
    could not be removed is `grant_problem` (it ends by itself at its expiry; a rerun removes it). `on_note`:
    the grant's lines as they happen."""
    plans = batch.plans
    if not plans or (batch.grant is None and batch.grant_sweep is None):
        return _run_models(batch, progress_for, break_lock, on_done)
    done = GrantRun()
    result: BatchResult | None = None

    def folder() -> Path:
        assert batch.grant_folder is not None, "a batch with a grant has a folder for the policy"
        return new_folder(batch.grant_folder)

    try:
        with source_grant(batch.grant, batch.grant_sweep, plans[0].source_store, folder, on_note or _ignore, done,
                          own_folder=True):
            result = _run_models(batch, progress_for, break_lock, on_done)
    except DrmodelError as exc:
        if result is None:
            raise  # the grant was not added: no model ran
        result.grant_problem = f"{exc.message} - {exc.fix}"
    assert result is not None
    result.grant, result.grant_swept = done.grant, done.swept
    return result


def _ignore(text: str) -> None:
    return None


def _run_models(batch: BatchPlan, progress_for: Callable[[BatchEntry], Progress] | None, break_lock: bool,
                on_done: Callable[[ModelOutcome], Any] | None) -> BatchResult:
    cancel.reset()
    started = time.monotonic()
    outcomes: dict[int, ModelOutcome] = {}
    for i, entry in enumerate(batch.entries):
        if entry.plan is None:
            outcomes[i] = ModelOutcome(entry, FAILED, problem=entry.problem, fix=entry.fix, exit_code=entry.exit_code)
            if on_done:
                on_done(outcomes[i])
    runnable = [i for i, e in enumerate(batch.entries) if e.plan is not None]
    pool = ThreadPoolExecutor(max_workers=max(1, batch.parallel), thread_name_prefix="model")
    futures: dict[Future[ModelOutcome], int] = {}
    cancel.take_interrupts()
    try:
        futures = {pool.submit(_run_one, batch.entries[i], progress_for, break_lock): i for i in runnable}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2)
            for fut in done:
                outcomes[futures[fut]] = fut.result()
                if on_done:
                    on_done(outcomes[futures[fut]])
    except KeyboardInterrupt:
        cancel.request()
        pool.shutdown(wait=False, cancel_futures=True)
        _settle(futures, outcomes, batch, on_done)
    finally:
        pool.shutdown(wait=False)
        if not cancel.requested():
            cancel.release_interrupts()
    return BatchResult(batch, [outcomes[i] for i in range(len(batch.entries))], time.monotonic() - started)


def _settle(futures: dict[Future[ModelOutcome], int], outcomes: dict[int, ModelOutcome], batch: BatchPlan,
            on_done: Callable[[ModelOutcome], Any] | None) -> None:
    """After a Ctrl-C: wait for the models in flight to stop (each at its next chunk; a second press stops the
    wait), then account for every model."""
    running = [f for f in futures if not f.done()]
    while running and not cancel.pressed_again():
        running = list(wait(running, timeout=0.1).not_done)
    for fut, i in futures.items():
        if i in outcomes:
            continue
        if fut.done() and not fut.cancelled():
            outcomes[i] = fut.result()
        else:
            outcomes[i] = _stopped(batch.entries[i], NOT_STARTED if fut.cancelled() or not fut.running()
                                   else INTERRUPTED)
        if on_done:
            on_done(outcomes[i])


def _stopped(entry: BatchEntry, status: str) -> ModelOutcome:
    """A model the batch's Ctrl-C stopped (INTERRUPTED) or kept from starting (NOT_STARTED)."""
    return ModelOutcome(entry, status, problem="the batch was interrupted", fix="rerun the same command to finish",
                        exit_code=int(ExitCode.INTERRUPTED))


def _run_one(entry: BatchEntry, progress_for: Callable[[BatchEntry], Progress] | None,
             break_lock: bool) -> ModelOutcome:
    plan = entry.plan
    assert plan is not None
    started = time.monotonic()
    try:
        if cancel.requested():
            return _stopped(entry, NOT_STARTED)
        progress = progress_for(entry) if progress_for else Progress()
        result = execute(plan, progress, break_lock=break_lock, in_batch=True)
    except Cancelled:
        return _stopped(entry, NOT_STARTED)
    except DrmodelError as exc:
        status = INTERRUPTED if cancel.requested() else FAILED
        return ModelOutcome(entry, status, problem=exc.message, fix=exc.fix, exit_code=int(exc.exit_code),
                            seconds=time.monotonic() - started)
    except Exception as exc:  # a bug in one model's run must not hide the others' outcomes
        return ModelOutcome(entry, FAILED, problem=f"{exc.__class__.__name__}: {exc}",
                            fix="this is a drmodel bug; rerun this model alone with --debug and report it",
                            exit_code=int(ExitCode.ERROR), seconds=time.monotonic() - started)
    status = COPIED if (result.written or result.deleted) else UP_TO_DATE
    return ModelOutcome(entry, status, result=result, seconds=time.monotonic() - started)
