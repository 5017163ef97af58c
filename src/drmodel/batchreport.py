"""The completion report of an S3 Batch Operations job (drmodel.batchops writes the job), read and checked.

A report is a `manifest.json` (`Format` Report_CSV_20180820, `ReportSchema`, and `Results`: one entry per CSV of
results with its `Bucket`, `Key`, `MD5Checksum` and `TaskExecutionStatus`) beside `results/*.csv`, whose rows have
no header: Bucket, Key (URL-encoded as in the job's manifest), VersionId, TaskStatus, ErrorCode, HTTPStatusCode,
ResultMessage (AWS's own examples show the HTTP status in the fifth field and the error code in the
sixth, e.g. `succeeded,200,,Successful`: drmodel prints both as found). It is read from S3
(`s3://BUCKET/PREFIX/job-ID/manifest.json`) or from a local folder holding
`manifest.json` and the CSVs (as `aws s3 cp --recursive` downloads them).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from drmodel.access import AccessLike
from drmodel.address import parse
from drmodel.errors import InvalidModelError, NotFoundError, UsageError, VerificationError
from drmodel.stores.base import ObjectInfo
from drmodel.stores.s3 import S3Store

REPORT_FORMAT = "Report_CSV_20180820"
REPORT_LIMIT = 1024 ** 3  # a results CSV: about 150 bytes a task, so millions of tasks fit
SCHEMA = ("Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage")


@dataclass(frozen=True)
class TaskResult:
    bucket: str
    key: str  # decoded
    version_id: str
    status: str  # "succeeded" or "failed"
    error_code: str
    http_status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status.lower() == "succeeded"


@dataclass
class ReportCheck:
    location: str
    tasks: list[TaskResult]
    target: dict[str, str] = field(default_factory=dict)  # key -> verdict, when the target was compared
    different: set[str] = field(default_factory=set)  # keys whose target object is missing or differs

    @property
    def failed(self) -> list[TaskResult]:
        return [t for t in self.tasks if not t.ok]


def parse_results_csv(text: str) -> list[TaskResult]:
    """The rows of one results CSV (no header; keys URL-decoded)."""
    tasks = []
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        if len(row) < 4:
            raise InvalidModelError(f"a report row has {len(row)} fields, expected {len(SCHEMA)}: {row!r}",
                                    fix="give the job's manifest.json or the folder of its report")
        row = [*row, "", "", ""][:len(SCHEMA)]
        tasks.append(TaskResult(row[0], unquote(row[1]), *row[2:]))
    return tasks


def _reader(location: str, profile: AccessLike) -> tuple[str, Any]:
    """The report's manifest.json and a function reading each results file it names (bucket, key) -> bytes."""
    addr = parse(location)
    if addr.scheme == "s3" and addr.bucket:
        store = S3Store(addr.bucket, profile=profile)
        key = addr.path.strip("/")
        key = key if key.endswith("manifest.json") else f"{key}/manifest.json"

        def read_s3(bucket: str, name: str) -> bytes:
            other = store if bucket == addr.bucket else S3Store(bucket, profile=profile)
            return other.read_bytes(name, max_size=REPORT_LIMIT)
        return store.read_bytes(key, max_size=REPORT_LIMIT).decode("utf-8"), read_s3
    path = Path(location)
    folder = path if path.is_dir() else path.parent
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        raise NotFoundError(f"{manifest} does not exist", fix="give s3://BUCKET/PREFIX/job-ID/manifest.json, or a "
                            "folder holding a report's manifest.json and results/")

    def read_local(bucket: str, name: str) -> bytes:
        tail = Path(*name.split("/")[-2:])  # results/NAME.csv
        found = [folder / tail] if (folder / tail).is_file() else sorted(folder.rglob(tail.name))
        if not found:
            raise NotFoundError(f"{folder} holds no {tail} (the report names s3://{bucket}/{name})",
                                fix="download the whole report folder (aws s3 cp --recursive)")
        return found[0].read_bytes()
    return manifest.read_text(encoding="utf-8"), read_local


def read_report(location: str, *, profile: AccessLike = None) -> ReportCheck:
    """Every task of a job's completion report, each results file checked against its MD5Checksum."""
    text, read = _reader(location, profile)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidModelError(f"{location}: manifest.json is not valid JSON ({exc})",
                                fix="give the report's manifest.json") from None
    if not isinstance(doc, dict) or doc.get("Format") != REPORT_FORMAT or not isinstance(doc.get("Results"), list):
        raise UsageError(f"{location} is not an S3 Batch Operations completion report (Format {REPORT_FORMAT})",
                         fix="give s3://BUCKET/PREFIX/job-ID/manifest.json")
    tasks: list[TaskResult] = []
    for entry in doc["Results"]:
        data = read(entry["Bucket"], entry["Key"])
        expected = entry.get("MD5Checksum")
        if expected and hashlib.md5(data, usedforsecurity=False).hexdigest() != expected:
            raise VerificationError(f"{entry['Key']} differs from the MD5Checksum its manifest.json names",
                                    fix="download the report again")
        tasks += parse_results_csv(data.decode("utf-8"))
    return ReportCheck(location, tasks)


def _listing(store: S3Store, keys: Iterable[str]) -> dict[str, ObjectInfo]:
    """The objects at these keys, from one listing per top-level folder they are in."""
    wanted = set(keys)
    found: dict[str, ObjectInfo] = {}
    for top in sorted({k.split("/", 1)[0] + ("/" if "/" in k else "") for k in wanted}):
        found.update((o.key, o) for o in store.list(top) if o.key in wanted)
    return found


def verdict(source: ObjectInfo | None, target: ObjectInfo | None) -> tuple[str, bool]:
    """What the target holds for a copied key, and whether that is a difference."""
    if source is None:
        return "source object gone: not compared", False
    if target is None:
        return "MISSING in the target", True
    if target.size != source.size:
        return f"DIFFERENT size: {target.size} bytes, the source {source.size}", True
    if source.etag == target.etag:
        return "same size and ETag", False
    if "-" in (source.etag or ""):
        return "same size (the source's ETag is a multipart one: not comparable)", False
    return f"DIFFERENT ETag: {target.etag}, the source {source.etag} (an SSE-KMS target has other ETags)", True


def compare_targets(check: ReportCheck, target_bucket: str, *, source_profile: AccessLike = None,
                    target_profile: AccessLike = None) -> ReportCheck:
    """Each succeeded task's target object against the source's listing: size, and ETag when comparable."""
    done = [t for t in check.tasks if t.ok]
    buckets = {t.bucket for t in done}
    for bucket in sorted(buckets):
        keys = [t.key for t in done if t.bucket == bucket]
        source = _listing(S3Store(bucket, profile=source_profile), keys)
        target = _listing(S3Store(target_bucket, profile=target_profile), keys)
        for key in keys:
            check.target[key], differs = verdict(source.get(key), target.get(key))
            if differs:
                check.different.add(key)
    return check
