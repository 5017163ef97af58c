"""Addresses are plain values: `s3://BUCKET[/PATH]` or a local path. Stores hold credentials and do I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from drmodel.errors import UsageError

BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Address:
    scheme: str  # "s3", "file", "archive" (.tar.gz, .tgz, .tar, .zip) or "droa" (bucket = the deployment's name)
    bucket: str | None
    path: str  # key prefix or model name inside the bucket; "" for a folder itself
    root: Path | None = None  # local folder

    def __str__(self) -> str:
        if self.scheme == "droa":
            return f"droa://{self.bucket}/{self.path}".rstrip("/")
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.path}".rstrip("/") if self.path else f"s3://{self.bucket}"
        return str(self.root)


def parse(text: str) -> Address:
    if not text or CONTROL_RE.search(text):
        raise UsageError(f"{text.encode('unicode_escape').decode()!r} is not an address",
                         fix="give s3://BUCKET[/MODEL] or a folder path")
    if text.startswith("s3://"):
        bucket, _, path = text[5:].partition("/")
        if not BUCKET_RE.match(bucket):
            raise UsageError(f"{bucket!r} is not a valid S3 bucket name", fix="check the address (s3://BUCKET/MODEL)")
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise UsageError(f"{text!r} has a '.' or '..' segment", fix="write the key path without them")
        return Address("s3", bucket, "/".join(parts))
    if text.startswith("droa://"):
        name, _, model = text[7:].partition("/")
        if not re.match(r"^[A-Za-z0-9_-]+$", name) or "/" in model.strip("/"):
            raise UsageError(f"{text!r} is not a DRoA address", fix="use droa://DEPLOYMENT[/MODEL]")
        return Address("droa", name, model.strip("/"))
    if re.match(r"^[a-z][a-z0-9+.-]*://", text):
        raise UsageError(f"{text!r}: unknown scheme", fix="use s3://BUCKET/MODEL or a local folder")
    try:
        local = Path(text).expanduser().absolute()
    except RuntimeError:  # ~user with no such user
        raise UsageError(f"{text!r}: no home folder for that ~user", fix="write the path without ~user") from None
    if local.name.endswith((".tar.gz", ".tgz", ".tar", ".zip")):
        return Address("archive", None, "", local)
    return Address("file", None, "", local)
