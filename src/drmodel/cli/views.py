"""Read-only commands: ls, show, verify."""

from __future__ import annotations

import argparse
from typing import TextIO

from drmodel.cli.render import dump_json, human, table


def run(args: argparse.Namespace, out: TextIO) -> int:
    from drmodel import api

    if args.command == "ls":
        rows = api.list_models(args.container, profile=args.profile, layout=args.layout)
        if args.json:
            dump_json([vars(r) for r in rows], out)
            return 0
        if not rows:
            out.write(f"No models in {args.container}.\n")
            return 0
        table([["NAME", "TRAINING PREFIX", "TIMESTAMP", "CHECKPOINTS", "SIZE"]] + [
            [r.name, r.details.get("training_prefix") or "-", r.details.get("training_timestamp") or "-",
             str(r.checkpoints), human(r.size)] for r in rows], out)
        return 0
    if args.command == "show":
        info = api.show(args.model, profile=args.profile, layout=args.layout, training_job=args.training_job)
        if args.json:
            dump_json(info, out)
            return 0
        m, ck = info["metadata"], info["checkpoints"]
        out.write(f"{info['name']}  ({info['layout']} layout)  {info['address']}\n")
        if info["details"].get("training_prefix"):
            out.write(f"  training job:  {info['details']['training_prefix']}\n")
        out.write(f"  action space:  {m['action_space']}\n  sensors:       {', '.join(m['sensor'])}\n"
                  f"  network:       {m['neural_network']}\n  algorithm:     {m['training_algorithm']}\n"
                  f"  checkpoints:   best {ck['best'] or '-'}, last {ck['last'] or '-'}, "
                  f".coach_checkpoint {ck['coach_checkpoint'] or '-'}, iterations "
                  f"{', '.join(map(str, ck['iterations'])) or '-'}\n")
        if info["evaluation_metadata_copy"]:
            out.write(f"  model/model_metadata.json: {info['evaluation_metadata_copy']}\n")
        out.write(f"  {len(info['files'])} files, {human(info['size'])}:\n")
        table([[human(f["size"]).rjust(10), f["path"], f["role"]] for f in info["files"]], out)
        return 0
    if args.command == "verify":
        report = api.verify(args.a, args.b, a_profile=args.source_profile, b_profile=args.target_profile,
                            layout=args.layout, b_layout=args.target_layout, training_job=args.training_job,
                            b_training_job=args.target_training_job)
        if args.json:
            dump_json({"a": report.a, "b": report.b, "identical": report.identical,
                       "files": [vars(f) for f in report.files]}, out)
        else:
            table([["STATUS", "FILE", "SIZE A", "SIZE B", "SHA256 A", "PROOF"]] + [
                [f.status, f.path, human(f.size_a), human(f.size_b), (f.sha256_a or "")[:16], f.proof]
                for f in report.files], out)
            diffs = [f for f in report.files if not f.status.startswith("same")]
            out.write(f"IDENTICAL: all {len(report.files)} files have the same sha256.\n" if not diffs else
                      f"DIFFERENT: {len(diffs)} of {len(report.files)} files differ or are missing.\n")
        return 0 if report.identical else 8
    raise AssertionError(args.command)
