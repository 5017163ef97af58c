"""`verify`: two models compared file by file, each row proven from stored checksums where they prove it, else by
reading, and naming its proof."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from drmodel import paramsfile
from drmodel.access import AccessLike
from drmodel.compare import BY_READ, BY_SHA256, facts, prove, sha256_of
from drmodel.layouts import ModelLocation
from drmodel.model import TRAINING_PARAMS_RE
from drmodel.reading import open_model

LOCATION_KEYS = paramsfile.LOCATION_KEYS


@dataclass
class FileComparison:
    path: str
    status: str  # same, same (locations rewritten), differs, only in A, only in B
    size_a: int | None = None
    size_b: int | None = None
    sha256_a: str | None = None
    sha256_b: str | None = None
    proof: str = ""


@dataclass
class VerifyReport:
    a: str
    b: str
    files: list[FileComparison] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(f.status.startswith("same") for f in self.files)


def _params_without_locations(data: bytes, where: str) -> dict[str, Any]:
    doc = paramsfile.load(data, where)
    return {k: v for k, v in doc.items() if k not in LOCATION_KEYS}


def verify(a: str, b: str, *, a_profile: AccessLike = None, b_profile: AccessLike = None,
           layout: str | None = None, b_layout: str | None = None, training_job: str | None = None,
           b_training_job: str | None = None, hash_all: bool = False) -> VerifyReport:
    """Compare two models file by file: from stored checksums where they prove it, else by reading. Each row names
    its proof; with `hash_all`, every file whose sha256 is not known on both sides is read and hashed, so every
    row is proven by sha256."""
    ma = open_model(a, profile=a_profile, layout=layout, training_job=training_job)
    mb = open_model(b, profile=b_profile, layout=b_layout, training_job=b_training_job)
    return compare_models(ma, mb, hash_all=hash_all)


def compare_models(ma: ModelLocation, mb: ModelLocation, *, hash_all: bool = False) -> VerifyReport:
    report = VerifyReport(ma.address, mb.address)
    for path in sorted(set(ma.files) | set(mb.files)):
        fa, fb = ma.files.get(path), mb.files.get(path)
        if fa is None or fb is None:
            report.files.append(FileComparison(path, "only in B" if fa is None else "only in A",
                                               fa.size if fa else None, fb.size if fb else None))
            continue
        row = FileComparison(path, "differs", fa.size, fb.size)
        if TRAINING_PARAMS_RE.match(path):
            da, db = ma.read(path), mb.read(path)
            row.sha256_a, row.sha256_b = hashlib.sha256(da).hexdigest(), hashlib.sha256(db).hexdigest()
            row.proof = BY_SHA256
            if da == db:
                row.status = "same"
            elif _params_without_locations(da, path) == _params_without_locations(db, path):
                row.status, row.proof = "same (locations rewritten)", "yaml values"
        else:
            facts_a, facts_b = facts(ma.store, fa), facts(mb.store, fb)
            verdict, row.proof = prove(facts_a, facts_b, provenance=False)
            if verdict is None or (hash_all and verdict and row.proof != BY_SHA256):
                facts_a.sha256 = sha256_of(ma.store, fa, facts_a)
                facts_b.sha256 = sha256_of(mb.store, fb, facts_b)
                verdict, row.proof = facts_a.sha256 == facts_b.sha256, BY_READ if verdict is None else BY_SHA256
            row.sha256_a, row.sha256_b = facts_a.sha256, facts_b.sha256
            if verdict:
                row.status = "same"
        report.files.append(row)
    return report
