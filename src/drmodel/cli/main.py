# PYTHON_ARGCOMPLETE_OK
"""drmodel's entry point: the parser built from the command table, and the one place that decides exit codes.

The commands live in drmodel.cli.commands, one module each, listed in its COMMANDS table. A run imports the module
of the command it names only, and the commands import boto3 and the library inside `run`, so `drmodel --help`
answers fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from typing import Any, NoReturn, TextIO

from drmodel.cli.commands import COMMANDS, load
from drmodel.cli.options import COMMON
from drmodel.cli.streams import IO
from drmodel.errors import DrmodelError, ExitCode

DESCRIPTION = ("Move trained AWS DeepRacer models between AWS accounts and every place a model lives: "
               "plan, back up, copy, verify.")
EPILOG_EXAMPLES = ("ls", "copy", "verify")


class Parser(argparse.ArgumentParser):
    """drmodel's top-level parser. It knows its commands' parsers, so that an argument nothing recognizes is reported
    by the command's parser, with the command's usage."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            where = self.commands.get(getattr(parsed, "command", None) or "", self)
            where.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed


def command_in(argv: list[str]) -> str | None:
    """The command argv names (the first word that is not a flag), if it is one of drmodel's and no --help comes
    before it (that help lists every command)."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def epilog() -> str:
    """Examples, and every exit code with its meaning (from ExitCode: the list cannot drift from the enum)."""
    examples = "\n  ".join(load(name).EXAMPLE for name in EPILOG_EXAMPLES)
    codes = "\n".join(f"  {code.value:<4} {code.meaning}" for code in ExitCode)
    return f"examples:\n  {examples}\n\nexit codes:\n{codes}"


def build_parser(only: str | None = None) -> Parser:
    """drmodel's parser; with `only`, the parser of that command alone, which imports that command's module alone
    (building all 14 took 2.45 ms of every start-up, one 0.42 ms: a run needs one; --help and an unknown command get
    them all)."""
    parser = Parser(prog="drmodel", formatter_class=argparse.RawDescriptionHelpFormatter, description=DESCRIPTION,
                    epilog=epilog() if only is None else None)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and botocore's log")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes on stderr")
    parser.add_argument("--version", action="store_true", help="print drmodel's version")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=argparse.ArgumentParser,
                                 help="the command to run (`drmodel COMMAND --help` for its options)")
    for name in COMMANDS:
        if only in (None, name):
            command = load(name)
            p = subs.add_parser(name, help=command.HELP, description=command.HELP,
                                epilog=f"example:\n  {command.EXAMPLE}", parents=[COMMON], allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
            command.add_arguments(p)
            parser.commands[name] = p
    return parser


COMPLETING = "_ARGCOMPLETE"  # set by the completion function `register-python-argcomplete drmodel` installs


def complete(parser: Parser) -> None:
    """Shell completion: argcomplete reads COMP_LINE and COMP_POINT, writes the completions to the shell (file
    descriptor 8) and ends the process. Imported here only: a normal run never loads it."""
    try:
        import argcomplete
    except ImportError:  # installed without its dependencies: no completion, and no error in the shell either
        return
    argcomplete.autocomplete(parser)


def parse(parser: Parser, argv: list[str] | None, io: IO) -> argparse.Namespace | ExitCode:
    """argv's arguments; or, after --help or a usage error (written to io), the exit code."""
    try:
        with contextlib.redirect_stdout(io.out), contextlib.redirect_stderr(io.err):
            return parser.parse_args(argv)
    except SystemExit as exc:
        return ExitCode(exc.code or ExitCode.OK) if isinstance(exc.code, int | None) else ExitCode.ERROR


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None,
         stdin: TextIO | None = None) -> ExitCode:
    io = IO(out or sys.stdout, err or sys.stderr, stdin or sys.stdin)
    if COMPLETING in os.environ:  # the shell asks for completions (argcomplete's protocol): answer and exit
        complete(build_parser())
    parser = build_parser(only=command_in(sys.argv[1:] if argv is None else argv))
    args = parse(parser, argv, io)
    if isinstance(args, ExitCode):
        return args
    if args.version:
        from drmodel import __version__

        io.out.write(f"drmodel {__version__}\n")
        return ExitCode.OK
    if not args.command:
        parser.print_help(io.out)
        return ExitCode.USAGE
    if args.debug:
        import logging

        from drmodel.redact import RedactingFormatter

        handler = logging.StreamHandler(io.err)
        handler.setFormatter(RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
    return run_command(args, io)


def run_command(args: argparse.Namespace, io: IO) -> ExitCode:
    """Run the command; turn its errors into one line on stderr (a traceback too with --debug) and an exit code."""
    from drmodel.redact import redact

    try:
        code: ExitCode = load(args.command).run(args, io)
        return code
    except DrmodelError as exc:
        if args.debug:
            io.err.write(redact(traceback.format_exc()))
        io.err.write(redact(f"drmodel: error: {exc.line()}\n"))
        return exc.exit_code
    except KeyboardInterrupt:
        io.err.write("drmodel: interrupted - rerun the same command (a copy resumes where it stopped)\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: one line unless --debug
        if args.debug:
            io.err.write(redact(traceback.format_exc()))
        io.err.write(redact(f"drmodel: unexpected error: {exc.__class__.__name__}: {exc} - rerun with --debug and "
                            "report it\n"))
        return ExitCode.ERROR


def run() -> NoReturn:
    """The `drmodel` command. After an interrupted run has said what the target holds, a further Ctrl-C ends the
    process at once, without a second message, while the transfer threads finish stopping."""
    code = main()
    if code == ExitCode.INTERRUPTED:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(code)


if __name__ == "__main__":
    run()
