"""Model names and training-job selection, shared by the layouts."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from drmodel.errors import AmbiguousError, NotFoundError, UsageError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")  # \Z: "$" would let a final newline in


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or ".." in name:
        shown = name.encode("unicode_escape").decode()
        raise UsageError(f"{shown!r} is not a valid model name",
                         fix="use letters, digits, '-', '_' and '.', with no '/' or '..'")
    return name


def not_found(name: str, known: Sequence[str], where: str) -> NotFoundError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"run `drmodel ls {where}` to see the models there"
    return NotFoundError(f"no model {name!r} in {where}", fix=hint)


def common_prefix_len(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def choose_job(name: str, jobs: dict[str, str], wanted: str | None, flag: str = "--training-job") -> str:
    """Pick one training job among `jobs` (job -> timestamp) by a unique prefix of the job or its timestamp.

    The console's timestamp may differ from the prefix's in its last characters, so a full timestamp that
    matches nothing falls back to the closest timestamp sharing at least its first 10 digits (to the hour).
    """
    if not jobs:
        raise NotFoundError(f"model {name!r} has no training job", fix="pass --create to write a new one")
    if wanted is None:
        if len(jobs) == 1:
            return next(iter(jobs))
        listing = "; ".join(f"{j} ({ts})" for j, ts in sorted(jobs.items(), key=lambda kv: kv[1]))
        raise AmbiguousError(f"model {name!r} has {len(jobs)} training jobs: {listing}",
                             fix=f"choose one with {flag} TIMESTAMP (a unique prefix of the job or its timestamp)")
    hits = [j for j, ts in jobs.items() if j.startswith(wanted) or ts.startswith(wanted)
            or j.split("-")[-5:][0].startswith(wanted)]
    if not hits and wanted.isdigit() and len(wanted) >= 10:
        best = max(common_prefix_len(wanted, ts) for ts in jobs.values())
        if best >= 10:
            hits = [j for j, ts in jobs.items() if common_prefix_len(wanted, ts) == best]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise NotFoundError(f"no training job of model {name!r} matches {wanted!r}",
                            fix=f"use one of: {', '.join(sorted(jobs.values()))}")
    raise AmbiguousError(f"{wanted!r} matches {len(hits)} training jobs of {name!r}: {', '.join(sorted(hits))}",
                         fix=f"give more characters to {flag}")
