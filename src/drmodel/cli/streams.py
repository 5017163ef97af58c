"""The streams a command reads and writes, injected by `main` (the tests and the demo pass their own)."""

from __future__ import annotations

from typing import NamedTuple, TextIO


class IO(NamedTuple):  # not a dataclass: dataclasses imports inspect, 7 ms of every start-up
    out: TextIO  # data: tables, JSON, the summary
    err: TextIO  # progress, notes, questions and errors
    stdin: TextIO  # answers to questions (only read when it is a terminal)
