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
    _again.clear()


def requested() -> bool:
    return _requested.is_set()


_again = threading.Event()
_saved_handler: list[Any] = []


def _on_sigint(signum: int, frame: Any) -> None:
    """The first Ctrl-C of a run raises KeyboardInterrupt (and asks every transfer to stop); the next ones only
    set `pressed_again`, so that no second KeyboardInterrupt can cut the account of what landed."""
    if _requested.is_set():
        _again.set()
        return
    _requested.set()
    raise KeyboardInterrupt


def take_interrupts() -> None:
    """From now until `release_interrupts` (which `execute` calls when a run ends without an interrupt; after one,
    the caller does, or the process ends), Ctrl-C is handled as `_on_sigint` says. Main thread only (where Python
    delivers signals), and only where Python's own handler is in place; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread() or _saved_handler:
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    _again.clear()
    _saved_handler.append(signal.getsignal(signal.SIGINT))
    signal.signal(signal.SIGINT, _on_sigint)


def pressed_again() -> bool:
    return _again.is_set()


def release_interrupts() -> None:
    """Ctrl-C raises KeyboardInterrupt again, as before `take_interrupts`."""
    if _saved_handler and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _saved_handler.pop())


def check() -> None:
    """Raise Cancelled when an interrupt was requested: called by every loop that moves bytes, once per chunk."""
    if _requested.is_set():
        raise Cancelled("interrupted")
