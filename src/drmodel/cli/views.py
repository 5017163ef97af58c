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
        out.write(f"{len(rows)} models in {args.container} ({', '.join(sorted({r.layout for r in rows}))} layout)\n")
        droa = all(r.layout == "droa" for r in rows)
        header = ["NAME", "MODEL ID", "CREATED", "CHECKPOINTS", "STATUS"] if droa else [
            "NAME", "TRAINING PREFIX", "TIMESTAMP", "CHECKPOINTS", "SIZE"]
        table([header] + [
            [r.name, r.details.get("training_prefix") or "-", r.details.get("training_timestamp") or "-",
             str(r.checkpoints) if r.layout != "droa" else "-",
             human(r.size) if r.layout != "droa" else r.details.get("status") or "-"] for r in rows], out)
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
    if args.command == "policy":
        from drmodel.policy import policies

        doc = policies(args.source, args.target, source_profile=args.source_profile,
                       target_profile=args.target_profile, layout=args.layout, target_layout=args.target_layout,
                       target_account=args.target_account)
        dump_json(doc, out)
        return 0
    if args.command == "droa":
        from drmodel.droa.transfer import client_for

        client = client_for(args.deployment)
        models = client.list_models()
        out.write(f"Logged in to DRoA deployment {args.deployment} ({client.dep.site}) as {client.dep.username}: "
                  f"{len(models)} models, region {client.region}.\n")
        return 0
    if args.command == "car":
        pkg = api.car(args.model, args.out, profile=args.profile, layout=args.layout, training_job=args.training_job,
                      checkpoint=args.checkpoint, overwrite=args.force)
        if args.json:
            dump_json(vars(pkg), out)
            return 0
        for note in pkg.notes:
            out.write(f"  note: {note}\n")
        out.write(f"Wrote {pkg.path} ({human(pkg.size)}): agent/model.pb from {pkg.pb_source} "
                  f"(checkpoint {pkg.checkpoint}, sha256 {pkg.pb_sha256}) and model_metadata.json\n")
        return 0
    if args.command == "check":
        report = api.check(args.model, profile=args.profile, layout=args.layout, training_job=args.training_job,
                           eval_checkpoint=args.eval_checkpoint)
        if args.json:
            dump_json(check_json(report), out)
        else:
            render_check(report, out)
        return 5 if report.errors else 0
    if args.command == "diff":
        d = api.diff(args.a, args.b, a_profile=args.source_profile, b_profile=args.target_profile,
                     layout=args.layout, b_layout=args.target_layout, training_job=args.training_job,
                     b_training_job=args.target_training_job, eval_checkpoint=args.eval_checkpoint)
        verdict = "the same weights will race" if d.same_weights else "different weights will race: " + "; ".join(
            d.reasons)
        if args.json:
            dump_json({"same_weights": d.same_weights, "reasons": d.reasons, "verdict": verdict,
                       "identical": d.files.identical, "a": check_json(d.a)["evaluation"],
                       "b": check_json(d.b)["evaluation"], "files": [vars(f) for f in d.files.files]}, out)
        else:
            rows = [f for f in d.files.files if not f.status.startswith("same")]
            if rows:
                table([["STATUS", "FILE", "SIZE A", "SIZE B"]] + [[f.status, f.path, human(f.size_a), human(f.size_b)]
                                                                   for f in rows], out)
            out.write(f"Files: {'identical' if not rows else f'{len(rows)} of {len(d.files.files)} differ'}.\n")
            for side, rep in (("A", d.a), ("B", d.b)):
                e = rep.evaluation
                out.write(f"{side} evaluation loads: {e.name if e else '-'} ({e.kind if e else '-'}), sha256 "
                          f"{rep.evaluation_sha256 or '-'}\n")
            out.write(f"Verdict: {verdict}.\n")
        return 0 if d.same_weights else 8
    raise AssertionError(args.command)


def check_json(report) -> dict:  # type: ignore[no-untyped-def, type-arg]
    e = report.evaluation
    return {"address": report.address, "layout": report.layout, "ok": not report.errors,
            "findings": [vars(f) for f in report.findings],
            "evaluation": {"checkpoint": e.name if e else None, "number": e.number if e else None,
                           "kind": e.kind if e else None, "reason": e.reason if e else None,
                           "sha256": report.evaluation_sha256, "files": report.file_sha256}}


def render_check(report, out: TextIO) -> None:  # type: ignore[no-untyped-def]
    out.write(f"Check of {report.address} ({report.layout} layout)\n")
    order = {"error": 0, "warning": 1, "info": 2}
    for f in sorted(report.findings, key=lambda f: order[f.severity]):
        out.write(f"  {f.line()}\n")
    e = report.evaluation
    if e and e.name:
        out.write(f"Evaluation will load: {e.name} ({e.kind}), sha256 {report.evaluation_sha256}\n")
    n_err = len(report.errors)
    n_warn = sum(f.severity == "warning" for f in report.findings)
    out.write(f"{n_err} errors, {n_warn} warnings.\n")
