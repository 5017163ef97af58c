"""Ctrl-C for transfers. Python raises KeyboardInterrupt in the main thread only; the threads that move bytes learn of
it here: once `request()` was called, each of them stops at its next chunk (1 MiB at most) with `Cancelled`.

The flag belongs to the process, as SIGINT does: an interrupt stops every transfer the process runs. `execute`
clears it when a run starts and sets it when the run is interrupted.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


class Cancelled(Exception):
    """A transfer stopped because the run was interrupted (Ctrl-C)."""


def request() -> None:
    """Ask every transfer of the process to stop at its next chunk."""
    _requested.set()


def reset() -> None:
    _requested.clear()


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise Cancelled when an interrupt was requested: called by every loop that moves bytes, once per chunk."""
    if _requested.is_set():
        raise Cancelled("interrupted")
