"""Shared test helpers: run the CLI in-process, snapshot buckets, build models."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from drmodel.cli.main import main


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
