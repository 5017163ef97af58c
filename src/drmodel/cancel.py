"""Ctrl-C for transfers. Python raises KeyboardInterrupt in the main thread only; the threads that move bytes learn of
it here: once `request()` was called, each of them stops at its next chunk (1 MiB at most) with `Cancelled`.

The flag belongs to the process, as SIGINT does: an interrupt stops every transfer the process runs. `execute`
clears it when a run starts and sets it when the run is interrupted.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

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


_again = threading.Event()
_saved_handler: list[Any] = []


def defer_interrupts() -> None:
    """While a Ctrl-C is being handled: further Ctrl-Cs only set a flag (`pressed_again`), so that the account of
    what landed is written whole. Main thread only (where Python delivers signals); elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread() or _saved_handler:
        return
    _again.clear()
    _saved_handler.append(signal.getsignal(signal.SIGINT))
    signal.signal(signal.SIGINT, lambda signum, frame: _again.set())


def pressed_again() -> bool:
    return _again.is_set()


def restore_interrupts() -> None:
    """Ctrl-C raises KeyboardInterrupt again, as before `defer_interrupts`."""
    if _saved_handler and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _saved_handler.pop())


def check() -> None:
    """Raise Cancelled when an interrupt was requested: called by every loop that moves bytes, once per chunk."""
    if _requested.is_set():
        raise Cancelled("interrupted")
