"""`drmodel diff`: `verify` plus the verdict, whether the same weights will race and if not why."""

from __future__ import annotations

import argparse
from typing import Any

from drmodel.cli.options import JSON_HELP, eval_checkpoint_option, pair_of, pair_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = ("compare two models and say whether the same weights will race, and if not why; given two buckets or "
        "folders, every model of the same name (exit 8 when some differ)")
EXAMPLE = ("drmodel diff s3://aws-deepracer-6f1c.../Apex-Hunter s3://aws-deepracer-9a8b.../Apex-Hunter \\\n"
           "      --source-profile racer --target-profile friend")


def add_arguments(p: argparse.ArgumentParser) -> None:
    pair_options(p)
    eval_checkpoint_option(p)
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import check_json, dump_json

    pair = pair_of(args)
    d = None
    if pair.get("training_job") is None and pair.get("b_training_job") is None:
        # two models, or two buckets, folders or deployments (their models paired by name): each detected once
        pa = api.open_place(args.a, profile=pair.get("a_profile"), layout=pair.get("layout"))
        pb = api.open_place(args.b, profile=pair.get("b_profile"), layout=pair.get("b_layout"))
        if isinstance(pa, api.Container) and isinstance(pb, api.Container):
            from drmodel.cli.containers import diff_all

            return diff_all(pa, pb, args, io)
        if not isinstance(pa, api.Container) and not isinstance(pb, api.Container):
            d = api.diff_models(pa, pb, eval_checkpoint=args.eval_checkpoint)
    if d is None:  # a training job chosen, or a model against a container (diff says which side is which)
        d = api.diff(args.a, args.b, **pair, eval_checkpoint=args.eval_checkpoint)
    verdict = "the same weights will race" if d.same_weights else "different weights will race: " + "; ".join(
        d.reasons)
    if args.json:
        dump_json({"same_weights": d.same_weights, "reasons": d.reasons, "verdict": verdict,
                   "identical": d.files.identical, "a": check_json(d.a)["evaluation"],
                   "b": check_json(d.b)["evaluation"], "files": [vars(f) for f in d.files.files]}, io.out)
    else:
        _render(d, verdict, io)
    return ExitCode.OK if d.same_weights else ExitCode.DIFFERENT


def _render(d: Any, verdict: str, io: IO) -> None:
    from drmodel.cli.render import human, table
    from drmodel.units import plural

    rows = [f for f in d.files.files if not f.status.startswith("same")]
    if rows:
        table([["STATUS", "FILE", "SIZE A", "SIZE B"]] +
              [[f.status, f.path, human(f.size_a), human(f.size_b)] for f in rows], io.out)
    differ = f"{len(rows)} of {plural(len(d.files.files), 'file')} differ{'s' if len(rows) == 1 else ''}"
    io.out.write(f"Files: {differ if rows else 'identical'}.\n")
    for side, rep in (("A", d.a), ("B", d.b)):
        e = rep.evaluation
        io.out.write(f"{side} evaluation loads: {e.name if e else '-'} ({e.kind if e else '-'}), sha256 "
                     f"{rep.evaluation_sha256 or '-'}\n")
    io.out.write(f"Verdict: {verdict}.\n")
