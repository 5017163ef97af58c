"""The checks after every run: the target (bucket or folder) must hold the model, or the benchmark stops."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from .world import JOB_RE, MANIFEST, PUSHED, Bench


def listing(client: Any, bucket: str) -> dict[str, int]:
    """{key: size} of every object in a bucket."""
    return {key: size for key, (size, _) in snapshot(client, bucket).items()}


def snapshot(client: Any, bucket: str) -> dict[str, tuple[int, str]]:
    """{key: (size, ETag + last-modified time)} of every object in a bucket: any rewrite changes it."""
    out: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out.update({o["Key"]: (o["Size"], f"{o['ETag']} {o['LastModified']}") for o in page.get("Contents", [])})
    return out


def folder_listing(folder: Path) -> dict[str, int]:
    """{relative path: size} of every file under a folder (none when it does not exist)."""
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def shape(objects: dict[str, int]) -> dict[str, int]:
    """Keys with the training-job folder replaced by <job>/ (drmodel --create makes a new job prefix)."""
    return {JOB_RE.sub("<job>/", key): size for key, size in objects.items()}


def compare(where: str, got: dict[str, int], want: dict[str, int], renamed: bool = False) -> None:
    """`got` must hold exactly the names and sizes in `want`; fail loudly otherwise.

    renamed: drmodel --create writes a new training prefix (same length) and rewrites the S3 keys inside
    training_params_*.yaml, so names are compared as <job>/... and that yaml's size may differ.
    """
    have, need = (shape(got), shape(want)) if renamed else (got, want)
    bad = sorted(k for k in have.keys() | need.keys() if have.get(k) != need.get(k)
                 and not (renamed and k.endswith(".yaml") and k in have and k in need))
    if bad or len(got) != len(want):
        raise RuntimeError(f"{where} holds {len(got)} files, {sum(got.values())} B; expected {len(want)} files, "
                           f"{sum(want.values())} B; wrong or missing: "
                           + ", ".join(f"{k} ({have.get(k)} B, expected {need.get(k)} B)" for k in bad[:10]))


def b_holds_objects(s: Bench) -> None:
    """B's bucket holds the source's objects under the same keys."""
    compare(f"s3://{s.dst}", listing(s.client_b, s.dst), s.model.objects)


def b_holds_copy(s: Bench) -> None:
    """B's bucket holds the model under the training prefix drmodel made."""
    compare(f"s3://{s.dst}", listing(s.client_b, s.dst), s.model.objects, renamed=True)


def b_holds_batch_copy(s: Bench) -> None:
    """B's bucket holds every model of the batch, each under a training prefix drmodel made.

    The batch's models have the same file sizes, so the check counts (key with <job>/, size) pairs: every file
    of every model, none missing or extra; a training_params yaml is counted by name only (drmodel rewrites it).
    """
    def counted(objects: dict[str, int]) -> Counter[tuple[str, int | None]]:
        return Counter((JOB_RE.sub("<job>/", key), None if key.endswith(".yaml") else size)
                       for key, size in objects.items())

    got, want = counted(listing(s.client_b, s.dst)), counted(s.model.objects)
    if got != want:
        wrong = sorted((got - want) + (want - got), key=str)[:10]
        raise RuntimeError(f"s3://{s.dst} holds {sum(got.values())} objects, expected {sum(want.values())}; "
                           f"differing (key, size): {wrong}")


def a_holds_copy(s: Bench) -> None:
    """A's bucket holds the (big) model under the training prefix drmodel push made."""
    compare(f"s3://{s.src}", listing(s.client_a, s.src), s.model.objects, renamed=True)


def b_holds_pushed_folder(s: Bench) -> None:
    """B's bucket holds every file of the pushed folder under PUSHED."""
    want = {PUSHED + path: size for path, size in folder_listing(s.pulled).items()}
    compare(f"s3://{s.dst}", listing(s.client_b, s.dst), want)


def download_holds_objects(s: Bench) -> None:
    """The download folder holds the source's objects as files."""
    compare(str(s.download), folder_listing(s.download), s.model.objects)


def download_holds_model(s: Bench) -> None:
    """The download folder holds the model in the import layout, plus drmodel's manifest."""
    got = folder_listing(s.download)
    if got.pop(MANIFEST, None) is None:
        raise RuntimeError(f"drmodel pull wrote no {MANIFEST} in {s.download}")
    compare(str(s.download), got, s.model.files)


def exit_status_only(s: Bench) -> None:
    """`drmodel --help` and `ls` write nothing: the exit status, checked for every command, is the check.

    (The ls baseline exits non-zero when a replayed request gets another status or the counts differ.)
    """
