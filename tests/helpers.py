"""Shared test helpers: run the CLI in-process, snapshot buckets, build models."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from drmodel.cli.main import main


@dataclass(frozen=True)
class Request:
    phase: str  # "start" before the request is sent, "done" after it succeeded
    op: str  # the S3 operation, e.g. "PutObject"
    bucket: str
    key: str
    access_key: str = ""  # the access key that signs it ("" for an unsigned client)


def record_requests(monkeypatch: Any) -> list[Request]:
    """Every S3 API call made in this process from now on (any botocore client, any thread), in order: a "start"
    entry before it is sent and a "done" entry once it succeeded, each with the access key that signs it."""
    import botocore.client

    calls: list[Request] = []
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def record(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        credentials = self._request_signer._credentials  # botocore's; None when unsigned
        signer = credentials.get_frozen_credentials().access_key if credentials is not None else ""
        args = (operation_name, str(api_params.get("Bucket", "")), str(api_params.get("Key", "")), signer)
        with lock:
            calls.append(Request("start", *args))
        result = original(self, operation_name, api_params)
        with lock:
            calls.append(Request("done", *args))
        return result

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def cli(*argv: str, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, stdin=stdin or io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


def snapshot(client: Any, bucket: str) -> dict[str, str]:
    """key -> sha256 of the object's bytes, for every object in the bucket."""
    result = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            result[obj["Key"]] = hashlib.sha256(body).hexdigest()
    return result


def changed_keys(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def model_keys(snap: dict[str, str], name: str, prefix: str) -> dict[str, str]:
    return {k: v for k, v in snap.items() if k.startswith(prefix + "/") or k in (
        f"model-metadata/{name}/model_metadata.json", f"reward-functions/{name}/reward_function.py")}


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def folder_digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_report(folder: Path, rows: str, *, checksum: str | None = None) -> Path:
    """A report as Batch Operations writes it (s3://club-reports/batch/job-ID/), downloaded into `folder`."""
    job_dir = folder / "job-4ba7f1c2-0000-4000-8000-000000000001"
    (job_dir / "results").mkdir(parents=True)
    data = rows.encode()
    (job_dir / "results" / "5c8e1c3a-result.csv").write_bytes(data)
    (job_dir / "manifest.json").write_text(json.dumps({
        "Format": "Report_CSV_20180820", "ReportCreationDate": "2026-12-01T10:00:00.000Z",
        "Results": [{"TaskExecutionStatus": "succeeded", "Bucket": "club-reports",
                     "MD5Checksum": checksum or hashlib.md5(data).hexdigest(),
                     "Key": "batch/job-4ba7f1c2-0000-4000-8000-000000000001/results/5c8e1c3a-result.csv"}],
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}))
    return job_dir


def rows_for(bucket: str, keys: list[str], failed: str | None = None) -> str:
    """A results CSV as AWS's examples show it (the HTTP status in the fifth field), keys encoded as the manifest's."""
    return "".join(f"{bucket},{quote(k, safe='/')},,failed,403,AccessDenied,Access Denied\n" if k == failed else
                   f"{bucket},{quote(k, safe='/')},,succeeded,200,,Successful\n" for k in keys)
