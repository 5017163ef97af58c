"""The command table: each command's name and the module that implements it, in `drmodel --help`'s order.

A command module has HELP (one line), EXAMPLE, `add_arguments(parser)` and `run(args, io) -> ExitCode`, and
imports the library inside `run` only (`drmodel --help` imports every command module). Adding a command is one
module here and one line below.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMANDS: dict[str, str] = {
    "ls": "drmodel.cli.commands.ls",
    "show": "drmodel.cli.commands.show",
    "pull": "drmodel.cli.commands.pull",
    "push": "drmodel.cli.commands.push",
    "copy": "drmodel.cli.commands.copy",
    "verify": "drmodel.cli.commands.verify",
    "diff": "drmodel.cli.commands.diff",
    "check": "drmodel.cli.commands.check",
    "repair": "drmodel.cli.commands.repair",
    "car": "drmodel.cli.commands.car",
    "droa": "drmodel.cli.commands.droa",
    "policy": "drmodel.cli.commands.policy",
    "batch": "drmodel.cli.commands.batch",
    "restore": "drmodel.cli.commands.restore",
    "demo": "drmodel.cli.commands.demo",
}


def load(name: str) -> ModuleType:
    """The module of command `name` (imported on first use)."""
    return importlib.import_module(COMMANDS[name])
