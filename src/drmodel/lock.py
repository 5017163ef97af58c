"""One writer per target model: a lock object created with a conditional put, removed when the run ends.

The lock sits inside the model's own keys (`<training prefix>/drmodel.lock`, `<prefix>/drmodel.lock`, or
`drmodel.lock` in a folder). A second run is refused with a message naming the first. A lock left by a run
that died on this same machine (its process is gone) is taken over with a note; any other stale lock is only
broken by `--break-lock`.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from drmodel import __version__
from drmodel.errors import LockedError
from drmodel.stores.base import Store

LOCK_NAME = "drmodel.lock"


def _alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs. On Windows `os.kill(pid, 0)` would terminate it, and there
    is no harmless standard-library probe: a lock of the same host counts as alive there (--break-lock takes it)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(doc: dict[str, Any]) -> str:
    return (f"drmodel {doc.get('command', '?')} (host {doc.get('host')}, pid {doc.get('pid')}, since "
            f"{doc.get('started')})")


@contextmanager
def model_lock(store: Store, key: str, command: str, *, break_lock: bool = False,
               notes: list[str] | None = None) -> Iterator[None]:
    put = getattr(store, "put_if_absent", None)
    if put is None:
        yield
        return
    doc = {"host": socket.gethostname(), "pid": os.getpid(), "run": str(uuid.uuid4()), "command": command,
           "started": datetime.now(UTC).isoformat(timespec="seconds"), "drmodel": __version__}
    data = json.dumps(doc).encode()
    for _ in range(3):
        if put(key, data):
            break
        try:
            other = json.loads(store.read_bytes(key, 64 * 1024))
        except Exception:
            other = {}
        dead_here = other.get("host") == doc["host"] and isinstance(other.get("pid"), int) and not _alive(other["pid"])
        if break_lock or dead_here:
            if notes is not None:
                notes.append(f"broke the lock of {_describe(other)}" + (" (that process is gone)" if dead_here else ""))
            store.delete([key])
            time.sleep(0.05)
            continue
        raise LockedError(f"another run is writing this model: {_describe(other)}; lock {store.describe(key)}",
                          fix="wait for it to finish; if it died on another machine, rerun with --break-lock")
    else:
        raise LockedError(f"could not take the lock {store.describe(key)}", fix="rerun, or --break-lock")
    try:
        yield
    finally:
        try:
            if json.loads(store.read_bytes(key, 64 * 1024)).get("run") == doc["run"]:
                store.delete([key])
        except Exception:
            pass  # leave it: the next run detects and explains it
