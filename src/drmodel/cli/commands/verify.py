"""`drmodel verify`: two models compared file by file, each comparison naming its proof."""

from __future__ import annotations

import argparse

from drmodel.cli.options import JSON_HELP, pair_of, pair_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "compare two models file by file (stored checksums, else the bytes read; --hash: sha256 of every file)"
EXAMPLE = ("drmodel verify s3://aws-deepracer-6f1c.../Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter \\\n"
           "      --source-profile racer --target-profile friend")


def add_arguments(p: argparse.ArgumentParser) -> None:
    pair_options(p)
    p.add_argument("--hash", action="store_true", help="prove every file by sha256: read and hash each file whose "
                   "sha256 is not stored on both sides (an MD5 ETag or an S3 checksum is accepted otherwise)")
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import dump_json, human, table
    from drmodel.units import by_count, plural

    report = api.verify(args.a, args.b, **pair_of(args), hash_all=args.hash)
    if args.json:
        dump_json({"a": report.a, "b": report.b, "identical": report.identical,
                   "files": [vars(f) for f in report.files]}, io.out)
    else:
        table([["STATUS", "FILE", "SIZE A", "SIZE B", "SHA256 A", "PROOF"]] + [
            [f.status, f.path, human(f.size_a), human(f.size_b), (f.sha256_a or "-")[:16], f.proof or "-"]
            for f in report.files], io.out)
        diffs = [f for f in report.files if not f.status.startswith("same")]
        if diffs:
            io.out.write(f"DIFFERENT: {len(diffs)} of {plural(len(report.files), 'file')} "
                         f"{'differs or is' if len(diffs) == 1 else 'differ or are'} missing.\n")
        else:
            proofs = by_count(f.proof for f in report.files)
            every = "all " if len(report.files) > 1 else ""
            io.out.write(f"IDENTICAL: {every}{plural(len(report.files), 'file')} proven the same ({proofs}).\n")
    return ExitCode.OK if report.identical else ExitCode.DIFFERENT
