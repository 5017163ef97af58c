"""Run a Plan: back up what will be overwritten or deleted, write, verify, then delete stale files.

Each write is verified as it lands (size, and the checksum the server checked against the one computed while the
bytes streamed). Failures of single files do not stop the batch; they are reported together, and the stale-file
deletes only run when every write verified. A rerun of the same command resumes: verified files are skipped.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drmodel import __version__, cancel
from drmodel.backup import new_folder, restore_command, store_spec, take_backup
from drmodel.cancel import Cancelled
from drmodel.errors import AccessDeniedError, DrmodelError, InterruptedRun, TransferError, VerificationError
from drmodel.hashing import check_read_sha256
from drmodel.plan import Action, GrantSweep, Plan, write_order, write_stages
from drmodel.progress import Progress
from drmodel.stores.base import ObjectInfo, Store, WriteResult
from drmodel.units import human, plural

if TYPE_CHECKING:
    from drmodel.grant import GrantPlan, Removal


@dataclass
class Result:
    plan: Plan
    written: dict[str, str | None] = field(default_factory=dict)  # key -> sha256 of the bytes written (None: not
    # computed, e.g. S3 copied the bytes itself)
    proofs: dict[str, str] = field(default_factory=dict)  # key -> how the written bytes were proven (stores.base)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    backup: Path | None = None
    seconds: float = 0.0
    retries: int = 0  # requests retried after 5xx, SlowDown or a broken connection
    unsettled: list[str] = field(default_factory=list)  # interrupted writes whose outcome is unknown
    relayed: str | None = None  # why the planned server-side copies stopped and the bytes were relayed instead
    imported: dict[str, Any] | None = None  # a push into DRoA: the imported model's modelId, status and name
    grant: Any = None  # copy --grant-read: the drmodel.grant.Grant put (its record, and its removal once removed)
    grant_swept: Any = None  # copy --grant-read that needed no grant: what dead runs left, removed (grant.Removal)


class ServerSideCopies:
    """Whether this run still copies inside S3, shared by the write threads: the first refusal switches the rest of
    the run to the relay (the plan, a frozen value, is not changed), and `refused` says why."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.refused: str | None = None
        self._lock = threading.Lock()

    def refuse(self, why: str) -> bool:
        """Relay from now on; True for the first refusal only."""
        with self._lock:
            first, self.on = self.on, False
            if first:
                self.refused = why
        return first


def _write(plan: Plan, action: Action, progress: Progress, copies: ServerSideCopies) -> WriteResult:
    if action.data is None and copies.on:
        try:
            res = plan.target_store.copy_from(
                plan.source_store, action.source_key or action.path, action.key, action.size,
                source_etag=action.source_etag, progress=progress.advance, metadata=action.metadata or None)
            progress.file_done(action.path)
            return res
        except AccessDeniedError as exc:  # e.g. the source's KMS key is not shared: the relay needs no grant
            if copies.refuse(exc.message):
                progress.note(f"server-side copy refused ({exc.message}); relaying the bytes instead")
    if action.data is not None:
        stream: Any = io.BytesIO(action.data)
    else:
        # the version planned: the target's drmodel-source-etag then tells the truth
        stream = plan.source_store.open_read(action.source_key or action.path, etag=action.source_etag)
    try:
        res = plan.target_store.write_stream(action.key, stream, action.size, progress=progress.advance,
                                             metadata=action.metadata or None)
    finally:
        stream.close()
    check_read_sha256(stream, res.sha256, plan.source_store.describe(action.source_key or action.path))
    if action.sha256 and res.sha256 != action.sha256:
        raise VerificationError(f"{plan.target_store.describe(action.key)}: wrote sha256 {res.sha256}, expected "
                                f"{action.sha256}", fix="the source changed during the copy; run it again")
    progress.file_done(action.path)
    return res


def _guard(plan: Plan) -> None:
    allowed = plan.allowed_keys
    if allowed is None:
        return
    for a in plan.actions:
        if a.op != "skip" and a.key not in allowed:
            raise DrmodelError(f"refusing to touch {plan.target_store.describe(a.key)}: not a key of the target model",
                               fix="this is a drmodel bug; please report it with --debug output")


def execute(plan: Plan, progress: Progress | None = None, *, break_lock: bool = False,
            in_batch: bool = False) -> Result:
    """Run the plan under the target model's lock (see drmodel.lock). `in_batch`: one model of a batch
    (drmodel.batchrun), run in a worker thread; the batch owns Ctrl-C (a run alone clears and takes it)."""
    from drmodel.lock import model_lock

    progress = progress or Progress()
    _guard(plan)
    lock = plan.lock
    if lock is None:
        return _execute(plan, progress, in_batch)
    if not (plan.writes or plan.by_op("delete") or plan.write_manifest) and (
            lock.seen is False or plan.target_store.head(lock.key) is None):
        return _execute(plan, progress, in_batch)  # nothing to change (a rerun) and no lock to take over or report
    notes: list[str] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drmodel-uploads") as ahead:
        # with nothing to back up first, the uploads a killed run left on the keys are listed while the lock is
        # taken (one round trip instead of two); they are aborted only once the lock is held (_write_all)
        listed = (ahead.submit(plan.target_store.unfinished_uploads, {a.key for a in plan.writes})
                  if plan.writes and not plan.destructive else None)
        with model_lock(plan.target_store, lock.key, plan.kind, break_lock=break_lock, notes=notes):
            for note in notes:
                progress.note(note)
            return _execute(plan, progress, in_batch, listed)


def _execute(plan: Plan, progress: Progress, in_batch: bool = False,
             listed: Future[list[tuple[str, str]]] | None = None) -> Result:
    if in_batch:
        cancel.check()  # the batch was interrupted before this model started
    else:
        cancel.reset()
    result = Result(plan=plan, skipped=[a.key for a in plan.by_op("skip")])
    started = time.monotonic()
    stage = "backup"
    cancel.take_interrupts()  # a second Ctrl-C never cuts the account of the first (released below)
    try:
        if plan.destructive:
            result.backup = take_backup(plan, progress)
        stage = "grant" if plan.grant else "write"
        with granted(plan, progress, result):  # copy --grant-read: the source's grant around the writes
            stage = "write"
            confirmed = _write_all(plan, progress, result, listed)
            stage = "verify"
            _verify_landed(plan, progress, confirmed)
        stage = "delete"
        _delete_stale(plan, progress, result)
        if plan.write_manifest:
            write_manifest(plan, result)
        if plan.target_store.staged:
            stage = "pack"
        plan.target_store.finalize()  # an archive target packs the staged files; nothing to do elsewhere
        if plan.droa is not None:
            stage = "import"
            result.imported = _import_into_droa(plan, progress)
    except (KeyboardInterrupt, Cancelled):
        raise InterruptedRun(_interrupted_state(stage, plan, result) + grant_state(result),
                             fix=_resume_fix(stage, plan, result)) from None
    finally:
        progress.close()
        if not cancel.requested():
            cancel.release_interrupts()  # after an interrupt the handler stays: a later press must not cut the
            # account on its way to the user (the CLI ends the process; a library caller calls release_interrupts)
    result.seconds = time.monotonic() - started
    result.retries = sum(s.retries for s in {id(plan.source_store): plan.source_store,
                                              id(plan.target_store): plan.target_store}.values())
    return result


def _write_all(plan: Plan, progress: Progress, result: Result,
               listed: Future[list[tuple[str, str]]] | None = None) -> dict[str, ObjectInfo]:
    """Every write of the plan, after aborting the uploads a killed run left on its keys (`listed`: their list,
    asked for while the lock was taken); what the store answered right after each write (a write so confirmed is
    not looked up again). Raises when any file was not written."""
    writes = plan.writes
    if writes:
        uploads = listed.result() if listed else plan.target_store.unfinished_uploads({a.key for a in writes})
        aborted = plan.target_store.abort_uploads(uploads)
        if aborted:
            progress.note(f"aborted {aborted} unfinished multipart uploads left by an earlier run")
    progress.phase("write", total_bytes=plan.bytes_to_write, total_files=len(writes))
    failures: list[tuple[Action, BaseException]] = []
    confirmed: dict[str, ObjectInfo] = {}
    options = plan.target_store.options
    workers = max(1, options.copy_concurrency if plan.server_side else options.file_concurrency)
    copies = ServerSideCopies(plan.server_side)
    _run_writes(plan, writes, workers, progress, result, confirmed, failures, copies)
    result.relayed = copies.refused
    if failures:
        first = failures[0][1]
        detail = first.message if isinstance(first, DrmodelError) else f"{first.__class__.__name__}: {first}"
        err_cls = VerificationError if isinstance(first, VerificationError) else TransferError
        tried = set(result.written) | {a.key for a, _ in failures}
        held = " and ".join(f"its {a.path}" for a in writes if a.key not in tried)  # held back: see plan.write_stages
        raise err_cls(f"{len(failures)} of {plural(len(writes), 'file')} {'was' if len(failures) == 1 else 'were'} "
                      f"not written ({failures[0][0].path}: "
                      f"{detail}); nothing was deleted" + (f", and {held} left as before so that the model does "
                                                           "not look complete" if held else "")
                      + (f"; backup in {result.backup}" if result.backup else ""),
                      fix="rerun the same command: it skips the files already verified") from first
    return confirmed


def _verify_landed(plan: Plan, progress: Progress, confirmed: dict[str, ObjectInfo]) -> None:
    """Each written file is there with its size (the skipped files were proven identical by the plan)."""
    writes = plan.writes
    progress.phase("verify", total_files=len(writes))

    def landed(a: Action) -> None:
        # a write the store confirmed (S3: the HEAD after it, size and checksums checked) is not looked up again
        info = confirmed.get(a.key) or plan.target_store.head(a.key)
        if info is None or info.size != a.size:
            raise VerificationError(f"{plan.target_store.describe(a.key)} is missing or has the wrong size after "
                                    "the copy", fix="rerun the same command to resume")
        progress.file_done(a.path)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(landed, writes))


def _delete_stale(plan: Plan, progress: Progress, result: Result) -> None:
    deletes = plan.by_op("delete")
    if deletes:
        progress.phase("delete", total_files=len(deletes))
        plan.target_store.delete([a.key for a in deletes])
        result.deleted = [a.key for a in deletes]
        for a in deletes:
            progress.file_done(a.path)


def _import_into_droa(plan: Plan, progress: Progress) -> dict[str, Any]:
    """A push into DeepRacer on AWS ends with the deployment importing what was uploaded (drmodel.droa.transfer):
    a step of the plan, so that a library caller of execute gets the same as the CLI."""
    from drmodel.droa.transfer import finish_import

    progress.phase("import")  # the last bar ends; the import reports its states as notes
    return finish_import(plan, progress)


def _resume_fix(stage: str, plan: Plan, result: Result) -> str:
    if stage == "import" and plan.droa is not None:
        return (f"the import goes on in the deployment: see `drmodel ls droa://{plan.droa.deployment}` before "
                "pushing again")
    return "rerun the same command to finish" + (
        f", or undo with `{restore_command(result.backup, store_spec(plan.target_store))}`" if result.backup else "")


def _run_writes(plan: Plan, writes: list[Action], workers: int, progress: Progress, result: Result,
                confirmed: dict[str, ObjectInfo], failures: list[tuple[Action, BaseException]],
                copies: ServerSideCopies) -> None:
    """Write in parallel, stage after stage (the small files in a lane of their own, SMALL_WRITE), recording what
    landed in `result`, `confirmed` and `failures`.

    On Ctrl-C (KeyboardInterrupt here, in the main thread) no queued write starts, the writes in flight stop at
    their next chunk (drmodel.cancel; an unfinished multipart upload is aborted), and the ones that land meanwhile
    are still counted: `result.written` is what the target holds. After SETTLE seconds, or at a second Ctrl-C,
    the writes still in flight are left unaccounted (`result.unsettled`)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drmodel-write")
    lane = ThreadPoolExecutor(max_workers=SMALL_LANE, thread_name_prefix="drmodel-small")
    started: list[tuple[Action, Future[WriteResult]]] = []

    def collect(action: Action, fut: Future[WriteResult]) -> None:
        try:
            res = fut.result()
        except Exception as exc:  # finish the batch, then report
            failures.append((action, exc))
            return
        result.written[action.key] = res.sha256
        result.proofs[action.key] = res.proof
        if res.confirmed:
            confirmed[action.key] = res.info

    try:
        for stage_writes in write_stages(writes, workers, SMALL_WRITE):
            if failures:
                break  # the metadata and reward function only once every other file is there
            futures = [(a, (lane if a.size < SMALL_WRITE else pool).submit(_write, plan, a, progress, copies))
                       for a in stage_writes]
            started += futures
            for action, fut in futures:
                collect(action, fut)
    except KeyboardInterrupt:
        cancel.request()
        for p in (pool, lane):
            p.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + SETTLE
        while not cancel.pressed_again() and time.monotonic() < deadline:  # a second Ctrl-C: stop waiting
            if not wait([f for _, f in started if not f.done()], timeout=0.05).not_done:
                break
        for action, fut in started:
            if fut.done() and not fut.cancelled() and action.key not in result.written and fut.exception() is None:
                collect(action, fut)
        result.unsettled = [a.key for a, f in started if not f.done()]
        raise
    finally:
        for p in (pool, lane):
            p.shutdown(wait=False)


SETTLE = 1.5  # seconds a Ctrl-C waits for the writes in flight to stop and say whether they landed
# Files under SMALL_WRITE bytes go through a lane of their own, SMALL_LANE at a time, beside the big ones: a small
# file costs round trips (a GET, a PUT) more than line time, so queued behind the big files they made a tail of
# round trips after the last big byte (on a 40 ms line, 0.3 s for a model's dozen small files); beside them they
# land while the big files keep the line full.
SMALL_WRITE = 1024 * 1024
SMALL_LANE = 8


def _interrupted_state(stage: str, plan: Plan, result: Result) -> str:
    """What the target holds after a Ctrl-C, as far as drmodel knows it."""
    if stage == "backup":
        return "interrupted while backing up: the target was not changed"
    if stage == "grant":
        return ("interrupted while adding the read grant: the target was not changed; a grant that had landed was "
                "taken out again (if that failed too, it ends by itself at its expiry and a rerun removes it)")
    if stage == "write":
        writes = plan.writes
        landed = [a for a in writes if a.key in result.written]
        size = sum(a.size for a in landed)
        text = (f"interrupted while writing: {len(landed)} of {plural(len(writes), 'file')} written ({human(size)})"
                + (f", {len(result.unsettled)} more may or may not have landed" if result.unsettled else ""))
        finals = [a for a in writes if write_order(a)[0] >= 2]
        if finals and not any(a.key in result.written for a in finals):
            text += "; the metadata and reward function are not written yet, so the target does not look complete"
        replaced = [a for a in plan.actions if a.op in ("overwrite", "delete")]
        if not replaced:
            text += "; the target had none of these files before, nothing was overwritten or deleted"
        else:
            overwritten = sum(1 for a in landed if a.op == "overwrite")
            text += (f"; {plural(overwritten, 'old file')} overwritten, nothing deleted (the target is a mix of old "
                     "and new until the copy finishes)")
        return text
    if stage == "delete":
        return "interrupted while deleting stale files: every file was written and verified; some stale files remain"
    if stage == "import":
        return "interrupted while DRoA imports the model: every file was uploaded and verified"
    return f"interrupted during {stage}: every file was written and verified"


def write_manifest(plan: Plan, result: Result) -> None:
    from drmodel.hashing import sha256_file
    from drmodel.model import MANIFEST

    target = plan.target_store
    files = []
    for a in sorted(plan.actions, key=lambda a: a.path):
        if a.op == "delete":
            continue
        digest = result.written.get(a.key)
        if digest is None and target.local:
            digest = sha256_file(str(target.local_path(a.key)))
        files.append({"path": a.path, "size": a.size, "sha256": digest})
    doc = {"drmodel_version": __version__, "source": plan.source_address,
           "created": datetime.now(UTC).isoformat(timespec="seconds"), "details": dict(plan.source),
           "files": files}
    data = (json.dumps(doc, indent=2, default=str) + "\n").encode()
    target.write_stream(MANIFEST, io.BytesIO(data), len(data))


# ---------------------------------------------------------------- copy --grant-read


@contextmanager
def granted(plan: Plan, progress: Progress, result: Result) -> Iterator[None]:
    """The plan's read grant on the source bucket around the block (source_grant): the policy saved in the backup
    folder (a new one when the copy overwrites nothing); what the removal proved is on `result.grant.removal`, what
    the sweep removed on `result.grant_swept` (or `result.grant.sweep`). Without a grant, the block alone."""
    def folder() -> Path:
        assert plan.backup_root is not None, "a plan with a grant has a backup folder"
        return result.backup or new_folder(plan.backup_root)

    done = GrantRun()
    try:
        with source_grant(plan.grant, plan.grant_sweep, plan.source_store, folder, progress.note, done,
                          own_folder=result.backup is None):
            result.grant = done.grant
            yield
    finally:
        result.grant, result.grant_swept = done.grant, done.swept


@dataclass
class GrantRun:
    """What a run did with the source's read grant: the drmodel.grant.Grant put (its record, and its removal once
    removed), or, when it needed none, what the sweep of dead runs' grants removed (a drmodel.grant.Removal)."""

    grant: Any = None
    swept: Any = None


@contextmanager
def source_grant(plan: GrantPlan | None, sweep: GrantSweep | None, source_store: Store,
                 folder: Callable[[], Path], note: Callable[[str], Any], done: GrantRun, *,
                 own_folder: bool) -> Iterator[None]:
    """A read grant on the source bucket around the block, with the source owner's credentials (the source store's,
    as planning reached it), for one model's copy (`granted`) or a whole batch (drmodel.batchrun): the grants a
    dead run of the same copy left swept (drmodel.grant.temporary_grant), the policy saved in `folder()`, the grant
    added, and removed afterwards, also on an error or Ctrl-C. Without a grant (`plan` None), only `sweep`'s
    cleanup, which never stops the run. `own_folder`: `folder()` is made for the saved policy alone (removed again
    when the grant was refused). What happened is on `done`."""
    from drmodel import grant as grants
    from drmodel.access import Access

    source = Access(**source_store.spec().get("access", {}))
    if sweep is not None and plan is None:  # no grant needed: what a dead run left is removed all the same
        try:
            done.swept = grants.sweep_stale_grants(sweep.bucket, source=source, scope=sweep.scope)
        except DrmodelError as exc:  # the copy needs no grant: a failed cleanup does not stop it
            note(f"could not look for grants an earlier run left ({exc.message})")
        _note_swept(done.swept, note)
    if plan is None:
        yield
        return
    saved_in = folder()
    try:
        with grants.temporary_grant(plan, saved_in, source=source) as grant:
            done.grant = grant
            _note_swept(grant.sweep, note)
            note(f"Grant: added {grant.sid} to s3://{grant.bucket}'s policy until {grants.iso(grant.expires_at)}; "
                 f"the policy before it is saved in {grant.record}")
            yield
    except BaseException as exc:
        if done.grant is None and isinstance(exc, AccessDeniedError):
            if own_folder:
                _discard(saved_in)  # refused before the grant was put: the saved policy records nothing
            raise AccessDeniedError(f"--grant-read: {exc.message}; nothing was copied",
                                    fix=f"{exc.fix} (`drmodel policy --grant-read` prints what each side needs), "
                                    f"or {WITHOUT_GRANT}") from exc
        removal = done.grant.removal if done.grant is not None else None
        for line in removal.lines() if removal is not None else []:
            note(line)  # the run ends in an error: no summary will say it
        raise


WITHOUT_GRANT = "copy without --grant-read"


def _note_swept(sweep: Removal | None, note: Callable[[str], Any]) -> None:
    """The grants an earlier run of this copy left, which the sweep removed (nothing when it removed none)."""
    for line in sweep.lines() if sweep is not None and sweep.removed else []:
        note(line + " (left by an earlier run)")


def _discard(folder: Path) -> None:
    """The folder made for the saved policy of a grant that was never put, and its record, removed."""
    from drmodel.grant import RECORD_PREFIX

    for record in folder.glob(f"{RECORD_PREFIX}*.json"):
        record.unlink()
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty: left as it is


def grant_state(result: Result) -> str:
    """What an interrupted run did with its grant, for the InterruptedRun message ("" without a grant)."""
    grant = result.grant
    if grant is None:
        return ""
    from drmodel.grant import iso

    if grant.removal is None:
        return (f"; the read grant {grant.sid} could not be removed from s3://{grant.bucket}'s policy: it ends by "
                f"itself at {iso(grant.expires_at)}, and a rerun removes it")
    how = "the policy is as it was" if grant.removal.restored else "others changed the policy meanwhile (kept)"
    return f"; the read grant was removed from s3://{grant.bucket}'s policy ({how})"
