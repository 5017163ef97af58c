"""`diff`: verify, plus the verdict that matters: will the same weights race, and if not, why not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drmodel import simapp
from drmodel.access import AccessLike
from drmodel.layouts import ModelLocation
from drmodel.model import EVAL_COPY, METADATA
from drmodel.reading import open_model
from drmodel.verification.verify import VerifyReport, compare_models

if TYPE_CHECKING:
    from drmodel.checks import CheckReport


@dataclass
class DiffReport:
    files: VerifyReport
    a: CheckReport
    b: CheckReport
    reasons: list[str] = field(default_factory=list)

    @property
    def same_weights(self) -> bool:
        return not self.reasons


def diff(a: str, b: str, *, a_profile: AccessLike = None, b_profile: AccessLike = None, layout: str | None = None,
         b_layout: str | None = None, training_job: str | None = None, b_training_job: str | None = None,
         eval_checkpoint: str = "best") -> DiffReport:
    """verify, plus the verdict that matters: will the same weights race, and if not, why not."""

    ma = open_model(a, profile=a_profile, layout=layout, training_job=training_job)
    mb = open_model(b, profile=b_profile, layout=b_layout, training_job=b_training_job)
    return diff_models(ma, mb, eval_checkpoint=eval_checkpoint)


def diff_models(ma: ModelLocation, mb: ModelLocation, *, eval_checkpoint: str = "best") -> DiffReport:
    """`diff` of two opened models."""
    from drmodel.checks import check_model

    files = compare_models(ma, mb)
    ca, cb = check_model(ma, eval_checkpoint=eval_checkpoint), check_model(mb, eval_checkpoint=eval_checkpoint)
    report = DiffReport(files, ca, cb)
    ea, eb = ca.evaluation, cb.evaluation
    if ea is None or eb is None or ea.number is None or eb.number is None:
        fatal = "; ".join(f"{side}: {e.fatal}" for side, e in (("A", ea), ("B", eb)) if e is not None and e.fatal)
        report.reasons.append("one of the models has no checkpoint evaluation can load"
                              + (f" ({fatal})" if fatal else ""))
    elif ea.name != eb.name:
        report.reasons.append(f"different checkpoint chosen: A loads {ea.name} ({ea.kind}), B loads {eb.name} "
                              f"({eb.kind})")
    elif ca.evaluation_sha256 != cb.evaluation_sha256:
        names = sorted(p for p in set(ca.file_sha256) | set(cb.file_sha256)
                       if ca.file_sha256.get(p) != cb.file_sha256.get(p))
        report.reasons.append(f"different bytes in the checkpoint that races ({ea.name}): {', '.join(names)}")
    meta_a, meta_b = (_eval_metadata(m) for m in (ma, mb))
    if meta_a is not None and meta_b is not None and meta_a != meta_b:
        phys_a, phys_b = (simapp.physics(simapp.metadata_version(m)) for m in (meta_a, meta_b))
        if phys_a != phys_b:  # the wheel radius (so each action's wheel speed) and per-step physics follow it
            report.reasons.append(f"different physics version in model/model_metadata.json (SimApp physics {phys_a} "
                                  f"vs {phys_b})")
        if meta_a.get("action_space") != meta_b.get("action_space") or (
                meta_a.get("action_space_type") != meta_b.get("action_space_type")):
            report.reasons.append("different action space in model/model_metadata.json (what evaluation reads)")
        else:
            fields = sorted(k for k in set(meta_a) | set(meta_b) if meta_a.get(k) != meta_b.get(k)
                            and (phys_a == phys_b or k != "version"))
            if fields:
                report.reasons.append(f"model/model_metadata.json differs in {', '.join(fields)}")
    return report


def _eval_metadata(loc: ModelLocation) -> dict[str, Any] | None:
    path = EVAL_COPY if EVAL_COPY in loc.files else METADATA if METADATA in loc.files else None
    if path is None:
        return None
    try:
        doc = json.loads(loc.read(path).decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None
