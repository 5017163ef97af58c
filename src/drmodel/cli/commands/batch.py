"""`drmodel batch`: a bucket's models copied by S3 Batch Operations (the job's files, optionally the job itself), and
the check of the job's completion report."""

from __future__ import annotations

import argparse
from typing import Any

from drmodel.cli.options import JSON_HELP, layout_help, two_sided_access_options
from drmodel.cli.streams import IO
from drmodel.errors import ExitCode

HELP = "copy many models with S3 Batch Operations: write the job (manifest, request, IAM role), or check its report"
EXAMPLE = ("drmodel batch s3://aws-deepracer-6f1c... s3://aws-deepracer-9a8b... --all --out batch/ "
           "--role-arn arn:aws:iam::210987654321:role/DeepRacerBatchCopy --report s3://racing-club-reports/batch")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="the bucket whose models are copied (s3://BUCKET)")
    p.add_argument("target", nargs="?", help="the bucket they are copied into, under the same keys (s3://BUCKET)")
    p.add_argument("--out", metavar="DIR", help="the folder for manifest.csv, create-job.json, role-trust.json, "
                   "role-policy.json, source-bucket-policy.json and README.txt (the commands to run)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="copy every model of SOURCE")
    which.add_argument("--only", metavar="NAMES", help="copy these models only (comma-separated names)")
    p.add_argument("--role-arn", metavar="ARN", help="the IAM role the job runs as, in the target account "
                   "(role-trust.json and role-policy.json describe it)")
    p.add_argument("--report", metavar="S3URL", help="where the job writes its completion report "
                   "(s3://BUCKET/PREFIX; the manifest goes under PREFIX/manifests/)")
    p.add_argument("--account-id", help="the account the job runs in (default: the role's)")
    p.add_argument("--source-account", help="the source bucket's account: the role may read only that account's "
                   "bucket (aws:ResourceAccount)")
    p.add_argument("--priority", type=int, default=10, help="the job's priority (default 10)")
    p.add_argument("--no-confirmation", action="store_true", help="the job starts once created (default: it waits "
                   "for `aws s3control update-job-status --requested-job-status Ready`)")
    p.add_argument("--create", action="store_true", help="also upload the manifest and create the job, with the "
                   "target's credentials")
    p.add_argument("--verify-report", metavar="REPORT", help="check a job's completion report instead "
                   "(s3://BUCKET/PREFIX/job-ID/manifest.json, or a local folder); with SOURCE and TARGET, compare "
                   "each copied object's size and ETag too")
    p.add_argument("--layout", help=layout_help("the source's"))
    two_sided_access_options(p)
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel.errors import UsageError

    if args.verify_report:
        return _verify(args, io)
    missing = [flag for flag, value in (("SOURCE", args.source), ("TARGET", args.target), ("--out", args.out),
                                        ("--role-arn", args.role_arn), ("--report", args.report)) if not value]
    if missing or not (args.all or args.only):
        raise UsageError(f"drmodel batch needs {', '.join(missing or ['--all or --only NAMES'])}",
                         fix="see `drmodel batch --help`; or check a report with --verify-report")
    return _plan(args, io)


def _plan(args: argparse.Namespace, io: IO) -> ExitCode:
    from pathlib import Path

    from drmodel import batchops
    from drmodel.cli.options import access_of
    from drmodel.cli.render import dump_json
    from drmodel.units import human, plural

    source, target = access_of(args, "source"), access_of(args, "target")
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    job = batchops.plan_batch(args.source, args.target, role_arn=args.role_arn, report=args.report, names=names,
                              source_profile=source, target_profile=target, account_id=args.account_id,
                              source_account=args.source_account, priority=args.priority,
                              confirmation_required=not args.no_confirmation, layout=args.layout)
    files = batchops.write_job(job, Path(args.out), source_profile=source, target_profile=target)
    job_id = None
    if args.create:  # the files first: a refused CreateJob leaves the commands to do it by hand
        job_id, etag = batchops.create_job(job, target_profile=target)
        batchops.write_job(job, Path(args.out), etag=etag, source_profile=source, target_profile=target)
    size = sum(c.size for c in job.copies)
    doc: dict[str, Any] = {"out": str(Path(args.out)), "files": sorted(files), "models": list(job.models),
                           "objects": len(job.copies), "bytes": size, "skipped": list(job.skipped),
                           "notes": list(job.notes), "job_id": job_id}
    if args.json:
        dump_json({"mode": "plan", "plan": doc, "verify": None}, io.out)
        return ExitCode.OK
    io.out.write(f"Batch: {plural(len(job.models), 'model')}, {plural(len(job.copies), 'object')}, {human(size)} "
                 f"from s3://{job.source_bucket} to s3://{job.target_bucket}, same keys\n")
    for line in (*(f"Skipped: {s}" for s in job.skipped), *(f"Note: {n}" for n in job.notes)):
        io.out.write(line + "\n")
    io.out.write(f"Wrote {args.out}: {', '.join(files)}\n")
    if job_id:
        io.out.write(f"Job: {job_id} created in account {job.target_account}, {job.region}"
                     + (" (waiting for confirmation: README.txt step 5)\n" if job.confirmation_required else "\n"))
    else:
        io.out.write(f"Next: the commands in {Path(args.out) / 'README.txt'} (or rerun with --create)\n")
    return ExitCode.OK


def _verify(args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel.batchops import split_s3
    from drmodel.batchreport import compare_targets, read_report
    from drmodel.cli.options import access_of
    from drmodel.cli.render import dump_json
    from drmodel.errors import UsageError
    from drmodel.units import plural

    if bool(args.source) != bool(args.target):
        raise UsageError("--verify-report compares the target with SOURCE and TARGET: give both, or neither",
                         fix="drmodel batch --verify-report REPORT s3://SOURCE s3://TARGET")
    check = read_report(args.verify_report, profile=access_of(args, "target"))
    if args.target:
        compare_targets(check, split_s3(args.target, "TARGET")[0], source_profile=access_of(args, "source"),
                        target_profile=access_of(args, "target"))
    code = (ExitCode.TRANSFER_FAILED if check.failed else ExitCode.DIFFERENT if check.different else ExitCode.OK)
    if args.json:
        tasks = [{"bucket": t.bucket, "key": t.key, "status": t.status, "error_code": t.error_code,
                  "http_status": t.http_status, "message": t.message, "target": check.target.get(t.key)}
                 for t in check.tasks]
        dump_json({"mode": "verify", "plan": None, "verify": {
            "report": check.location, "tasks": tasks, "succeeded": len(check.tasks) - len(check.failed),
            "failed": len(check.failed), "compared": len(check.target), "different": len(check.different)}}, io.out)
        return code
    for t in check.tasks:
        line = (f"succeeded  {t.key}" + (f"  ({check.target[t.key]})" if t.key in check.target else "") if t.ok else
                f"FAILED     {t.key}  {t.error_code or '-'} {t.http_status or '-'} {t.message}".rstrip())
        io.out.write(line + "\n")
    summary = (f"Report: {plural(len(check.tasks), 'task')}, {len(check.tasks) - len(check.failed)} succeeded, "
               f"{len(check.failed)} failed")
    if args.target:
        summary += f"; target: {len(check.target)} compared, {len(check.different)} missing or different"
    io.out.write(summary + ".\n")
    if check.failed:
        io.out.write("Next: fix what the failed tasks name, then run the same `drmodel batch SOURCE TARGET ...` "
                     "again: it plans only what the target lacks\n")
    return code
