"""`check` and `diff` of containers: one row per model and a summary line; exit 12 (SOME_FAILED) when a check
finds errors in some models or a model cannot be read, 8 (DIFFERENT) when some pairs differ."""

from __future__ import annotations

import argparse
from typing import Any

from drmodel.cli.streams import IO
from drmodel.errors import ExitCode


def check_all(container: Any, args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import check_json, dump_json, table
    from drmodel.units import plural

    rows = api.check_container(container, eval_checkpoint=args.eval_checkpoint)
    bad = [r for r in rows if r.check is None or r.check.errors]
    code = ExitCode.SOME_FAILED if bad else ExitCode.OK
    if args.json:
        dump_json({"container": container.address, "models": [
            {"name": r.name, "address": r.address, "problem": r.problem, "fix": r.fix, "exit_code": r.exit_code,
             **({"check": check_json(r.check)} if r.check else {})} for r in rows],
            "ok": len(rows) - len(bad), "failed": len(bad), "exit_code": code.value}, io.out)
        return code
    io.out.write(f"Check of {plural(len(rows), 'model')} in {container.address}\n")
    table([["MODEL", "VERDICT", "EVALUATION LOADS", "SHA256"]] + [
        [r.name, _verdict(r), (r.check.evaluation.name or "-") if r.check and r.check.evaluation else "-",
         (r.check.evaluation_sha256 or "-")[:16] if r.check else "-"] for r in rows], io.out)
    for r in bad:
        for f in (r.check.errors if r.check else []):
            io.out.write(f"  {r.name}: {f.line()}\n")
    io.out.write(f"{len(rows) - len(bad)} ok, {len(bad)} with errors or unreadable, of "
                 f"{plural(len(rows), 'model')}.\n")
    return code


def _verdict(row: Any) -> str:
    if row.check is None:
        return f"unreadable: {row.problem}" + (f" - {row.fix}" if row.fix else "")
    n_err = len(row.check.errors)
    n_warn = sum(f.severity == "warning" for f in row.check.findings)
    return "ok" if not n_err and not n_warn else f"{n_err} errors, {n_warn} warnings"


def diff_all(a: Any, b: Any, args: argparse.Namespace, io: IO) -> ExitCode:
    from drmodel import api
    from drmodel.cli.render import dump_json, table

    rows = api.diff_containers(a, b, eval_checkpoint=args.eval_checkpoint)
    same = [r for r in rows if r.diff is not None and r.diff.same_weights]
    unreadable = [r for r in rows if r.diff is None and r.only_in is None]
    code = ExitCode.OK if len(same) == len(rows) else ExitCode.SOME_FAILED if unreadable else ExitCode.DIFFERENT
    if args.json:
        dump_json({"a": a.address, "b": b.address, "models": [
            {"name": r.name, "a": r.address if r.only_in != "B" else None,
             "b": r.b_address if r.only_in is None else r.address if r.only_in == "B" else None,
             "same_weights": r.diff.same_weights if r.diff else False,
             "reasons": r.diff.reasons if r.diff else [], "identical": r.diff.files.identical if r.diff else False,
             "only_in": r.only_in, "problem": r.problem, "fix": r.fix} for r in rows],
            "same": len(same), "different": len(rows) - len(same), "exit_code": code.value}, io.out)
        return code
    table([["MODEL", "VERDICT"]] + [[r.name, _diff_verdict(r)] for r in rows], io.out)
    io.out.write(f"{len(same)} of {len(rows)} models race the same weights in both"
                 + (f"; {len(rows) - len(same)} differ, are missing on one side or unreadable" if len(same) < len(rows)
                    else "") + ".\n")
    return code


def _diff_verdict(row: Any) -> str:
    if row.diff is None:
        return row.problem + (f" - {row.fix}" if row.fix else "")
    if row.diff.same_weights:
        return "same weights" + ("" if row.diff.files.identical else " (other files differ)")
    return "DIFFERENT: " + "; ".join(row.diff.reasons)
