"""One exception hierarchy; each class carries its exit code and inherits the built-in it resembles.

The CLI turns any DrmodelError into one line on stderr and its exit code (see README, "Exit codes").
Messages always end with the fix: a flag to pass, a permission to grant, a command to run.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1  # unexpected failure (a bug, or an error drmodel does not know yet)
    USAGE = 2  # wrong or missing argument
    NOT_FOUND = 3  # model, bucket, folder or training job not found
    ACCESS_DENIED = 4  # credentials missing, refused or lacking a permission
    INVALID_MODEL = 5  # not a DeepRacer layout, unreadable JSON or YAML, broken model
    AMBIGUOUS = 6  # several training jobs or layouts fit: choose one
    REFUSED = 7  # a destructive step was not confirmed (no --yes, or answered no)
    DIFFERENT = 8  # verify: the two models differ; a written file failed verification
    TRANSFER_FAILED = 9  # a transfer failed or was cut; rerun the same command to resume
    LOCKED = 10  # another drmodel run is writing the same target model
    MISSING_COMPONENT = 11  # an optional part of drmodel is not installed (e.g. the demo's SeaweedFS)
    SOME_FAILED = 12  # a batch (copy --all/--only, check or diff of containers): some models failed, the others
    # are done; the report names each one's reason and a rerun finishes what is left
    INTERRUPTED = 130  # Ctrl-C

    @property
    def meaning(self) -> str:
        """A few words for `drmodel --help`'s list of exit codes (README's "Exit codes" table says more)."""
        return EXIT_CODE_MEANINGS[self]


# Every ExitCode's line in `drmodel --help`; the CLI's tests check that each member has one.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "ok (verify, diff: identical)",
    ExitCode.ERROR: "unexpected error (a bug: rerun with --debug and report it)",
    ExitCode.USAGE: "wrong or missing argument",
    ExitCode.NOT_FOUND: "model, bucket, folder or training job not found",
    ExitCode.ACCESS_DENIED: "credentials missing or refused, or a permission lacking",
    ExitCode.INVALID_MODEL: "invalid model (check: errors found)",
    ExitCode.AMBIGUOUS: "ambiguous: several training jobs or layouts fit",
    ExitCode.REFUSED: "a destructive step was refused (no --yes, or answered no)",
    ExitCode.DIFFERENT: "verify, diff: different; a written file failed verification",
    ExitCode.TRANSFER_FAILED: "a transfer failed or was cut: rerun to resume",
    ExitCode.LOCKED: "another drmodel run is writing the same target model",
    ExitCode.MISSING_COMPONENT: "an optional part of drmodel is not installed",
    ExitCode.SOME_FAILED: "a batch: some models failed (the report says why; rerun to finish)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


class DrmodelError(Exception):
    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.message} - {self.fix}" if self.fix else self.message


class UsageError(DrmodelError, ValueError):
    exit_code = ExitCode.USAGE


class NotFoundError(DrmodelError, FileNotFoundError):
    exit_code = ExitCode.NOT_FOUND


class AccessDeniedError(DrmodelError, PermissionError):
    exit_code = ExitCode.ACCESS_DENIED


class InvalidModelError(DrmodelError, ValueError):
    exit_code = ExitCode.INVALID_MODEL


class AmbiguousError(DrmodelError, LookupError):
    exit_code = ExitCode.AMBIGUOUS


class RefusedError(DrmodelError):
    exit_code = ExitCode.REFUSED


class VerificationError(DrmodelError):
    exit_code = ExitCode.DIFFERENT


class TransferError(DrmodelError, OSError):
    exit_code = ExitCode.TRANSFER_FAILED


class InterruptedRun(DrmodelError):
    exit_code = ExitCode.INTERRUPTED


class LockedError(DrmodelError):
    exit_code = ExitCode.LOCKED


class MissingComponentError(DrmodelError, ImportError):
    exit_code = ExitCode.MISSING_COMPONENT


class NotSupportedError(DrmodelError, NotImplementedError):
    """A store asked for something it declares it cannot do (drmodel.stores.base.Store): a drmodel bug."""

    exit_code = ExitCode.ERROR
