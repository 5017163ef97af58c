"""Model archives: a safe extractor (.tar.gz, .tgz, .tar, .zip) and a reproducible, atomic .tar.gz writer.

safe_extract checks every member before writing anything, streams regular files by hand under byte, count and
compression-ratio limits, never writes outside its destination and leaves nothing behind when it refuses.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import secrets
import stat
import tarfile
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from drmodel.errors import DrmodelError, InvalidModelError, NotFoundError, RefusedError, UsageError
from drmodel.model import JUNK, METADATA

SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
CHUNK = 1024 * 1024
HOSTILE = "this archive is not a DeepRacer model bundle; do not use it"
TMP = ".drmodel-tmp-"
_DRIVE = re.compile(r"^[A-Za-z]:")
# What reading a broken archive raises (gzip.BadGzipFile is an OSError). Used around reads only, never writes.
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError, ValueError)
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class Limits:
    """Most an archive may unpack to; ratio = unpacked bytes / archive size on disk (a bomb trips it)."""

    max_bytes: int = 4 * 1024**3
    max_files: int = 5000
    max_ratio: float = 200.0


@dataclass(frozen=True)
class _Entry:
    name: str  # clean relative POSIX path
    is_dir: bool
    size: int  # declared
    mtime: float | None
    ref: Any  # TarInfo or ZipInfo


class _Bad(Exception):
    """A member name that could land outside the destination (the reason)."""


def is_archive(path: Path) -> bool:
    """Whether the file name says .tar.gz, .tgz, .tar or .zip."""
    return Path(path).name.lower().endswith(SUFFIXES)


def _refuse(archive: Path, member: str, reason: str) -> InvalidModelError:
    shown = ascii(member[:200]) + ("..." if len(member) > 200 else "")
    return InvalidModelError(f"{archive.name}: member {shown} {reason}", fix=HOSTILE)


def _exceeds(archive: Path, what: str) -> InvalidModelError:
    return InvalidModelError(f"{archive.name} would unpack to more than {what}", fix=HOSTILE)


def _unreadable(archive: Path, exc: BaseException) -> InvalidModelError:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return InvalidModelError(f"{archive.name} is not a readable archive ({detail})",
                             fix="download or export the model again")


def _clean_name(raw: str) -> str:
    """The relative POSIX path of a member name; _Bad(reason) when it could land outside the destination."""
    if any(unicodedata.category(c) == "Cc" for c in raw):
        raise _Bad("has a control character or NUL in its name")
    if any("\udc80" <= c <= "\udcff" for c in raw):
        raise _Bad("has a name that is not valid UTF-8")
    name = raw.replace("\\", "/")
    if name.startswith("/"):
        raise _Bad("has an absolute path")
    if _DRIVE.match(name) or (os.name == "nt" and ":" in name):
        raise _Bad("has a drive letter")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _Bad("has a '..' segment (path traversal)")
    if any(len(p.encode()) > 255 for p in parts):
        raise _Bad("has a name longer than 255 bytes")
    return "/".join(parts)


def _is_junk(parts: list[str]) -> bool:
    return "__MACOSX" in parts or parts[-1] in JUNK or parts[-1].startswith("._")


def _tar_items(tf: tarfile.TarFile) -> Iterator[tuple[str, str, int, float | None, Any]]:
    while (m := tf.next()) is not None:
        kind = ("file" if m.isreg() else "dir" if m.isdir() else f"is a symlink (to {m.linkname!r})" if m.issym()
                else f"is a hardlink (to {m.linkname!r})" if m.islnk() else "is a FIFO" if m.isfifo()
                else "is a device file" if m.ischr() or m.isblk() else "is a special file")
        yield m.name, kind, m.size, m.mtime, m


def _zip_items(zf: zipfile.ZipFile) -> Iterator[tuple[str, str, int, float | None, Any]]:
    for zi in zf.infolist():
        ftype = stat.S_IFMT(zi.external_attr >> 16)
        kind = ("is encrypted" if zi.flag_bits & 0x1 else "is a symlink" if ftype == stat.S_IFLNK
                else "dir" if zi.is_dir() or ftype == stat.S_IFDIR else "file" if ftype in (0, stat.S_IFREG)
                else "is a FIFO" if ftype == stat.S_IFIFO
                else "is a device file" if ftype in (stat.S_IFCHR, stat.S_IFBLK) else "is a special file")
        try:
            mtime: float | None = time.mktime(zi.date_time + (0, 0, -1))
        except (OverflowError, ValueError):
            mtime = None
        yield zi.filename, kind, zi.file_size, mtime, zi


def _plan(archive: Path, items: Iterable[Any], limits: Limits, on_disk: int) -> list[_Entry]:
    """Check every member (names, types, duplicates, declared sizes) before anything is written."""
    entries: list[_Entry] = []
    files: dict[str, str] = {}  # name as a case- and normalisation-insensitive file system sees it -> name
    dirs: set[str] = set()
    count = total = 0
    for raw, kind, size, mtime, ref in items:
        count += 1
        if count > limits.max_files:
            raise _exceeds(archive, f"{limits.max_files} files")
        try:
            name = _clean_name(raw)
        except _Bad as exc:
            raise _refuse(archive, raw, str(exc)) from None
        if kind not in ("file", "dir"):
            raise _refuse(archive, raw, kind)
        if not name and kind == "file":
            raise _refuse(archive, raw, "has an empty name")
        parts = name.split("/")
        if not name or _is_junk(parts):
            continue
        if kind == "dir":
            dirs.add(name)
            entries.append(_Entry(name, True, 0, mtime, ref))
            continue
        if size < 0:
            raise _refuse(archive, raw, "declares a negative size")
        total += size
        if total > limits.max_bytes:
            raise _exceeds(archive, f"{limits.max_bytes} bytes")
        if total > limits.max_ratio * on_disk:
            raise _exceeds(archive, f"{limits.max_ratio:g} times its own size (a compression bomb)")
        key = unicodedata.normalize("NFC", name).casefold()
        if (seen := files.get(key)) is not None:
            raise _refuse(archive, raw, "appears twice (duplicate member)" if seen == name
                          else f"differs only in case or Unicode form from {ascii(seen)}")
        files[key] = name
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        entries.append(_Entry(name, False, size, mtime, ref))
    for name in files.values():
        if name in dirs:
            raise _refuse(archive, name, "is both a file and a folder")
    return entries


@contextlib.contextmanager
def _opened(archive: Path) -> Iterator[tuple[Iterator[Any], Callable[[Any], IO[bytes]]]]:
    try:
        handle: Any = zipfile.ZipFile(archive) if archive.name.lower().endswith(".zip") else tarfile.open(archive)
    except _READ_ERRORS as exc:
        raise _unreadable(archive, exc) from None
    with handle:
        if isinstance(handle, zipfile.ZipFile):
            yield _zip_items(handle), handle.open
        else:
            yield _tar_items(handle), handle.extractfile


def _remove(created: list[tuple[Path, bool]]) -> None:
    for path, is_dir in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(path) if is_dir else os.unlink(path)


def _mkdirs(base: Path, parts: list[str], created: list[tuple[Path, bool]]) -> Path:
    path = base
    for part in parts:
        path = path / part
        try:
            os.mkdir(path)
            created.append((path, True))
        except FileExistsError:
            if path.is_symlink() or not path.is_dir():
                raise UsageError(f"{path} appeared while extracting",
                                 fix="extract into a folder nothing else writes to") from None
    return path


def _chunks(archive: Path, open_member: Callable[[Any], IO[bytes]], ref: Any) -> Iterator[bytes]:
    """A member's bytes; errors reading the archive become InvalidModelError."""
    try:
        with open_member(ref) as src:
            while chunk := src.read(CHUNK):
                yield chunk
    except _READ_ERRORS as exc:
        raise _unreadable(archive, exc) from None


def safe_extract(archive: Path, dest: Path, limits: Limits = Limits()) -> list[str]:
    """Extract a model archive into `dest` (empty or absent); the sorted relative paths of the files written."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise NotFoundError(f"{archive} does not exist or is not a file", fix="check the path")
    if not is_archive(archive):
        raise InvalidModelError(f"{archive.name} is not a .tar.gz, .tgz, .tar or .zip file",
                                fix="pass the exported model archive")
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise UsageError(f"{dest} is not an empty folder", fix="extract into a new or empty folder")
    on_disk = max(archive.stat().st_size, 1)
    created: list[tuple[Path, bool]] = []  # what to remove on failure, in creation order
    written: list[str] = []
    total = 0
    with _opened(archive) as (items, open_member):
        try:
            entries = _plan(archive, items, limits, on_disk)
        except DrmodelError:
            raise
        except _READ_ERRORS as exc:  # nothing is written while planning: every error here is a read error
            raise _unreadable(archive, exc) from None
        try:
            missing = [p for p in (dest, *dest.parents) if not (p.exists() or p.is_symlink())]
            for p in reversed(missing):
                os.mkdir(p)
                created.append((p, True))
            root = os.path.realpath(dest)
            for e in entries:
                parts = e.name.split("/")
                folder = _mkdirs(dest, parts if e.is_dir else parts[:-1], created)
                if e.is_dir:
                    continue
                if os.path.commonpath([root, os.path.realpath(folder)]) != root:
                    raise _refuse(archive, e.name, "would land outside the destination")
                tmp = folder / f"{TMP}{secrets.token_hex(8)}"
                fd = os.open(tmp, _OPEN_FLAGS, 0o644)
                created.append((tmp, False))
                n = 0
                with os.fdopen(fd, "wb") as out:
                    for chunk in _chunks(archive, open_member, e.ref):
                        n, total = n + len(chunk), total + len(chunk)
                        if total > limits.max_bytes:
                            raise _exceeds(archive, f"{limits.max_bytes} bytes")
                        if total > limits.max_ratio * on_disk:
                            raise _exceeds(archive, f"{limits.max_ratio:g} times its own size (a compression bomb)")
                        if n > e.size:
                            raise _refuse(archive, e.name, "holds more bytes than its header declares")
                        out.write(chunk)
                if n < e.size:
                    raise _refuse(archive, e.name, "holds fewer bytes than its header declares (truncated)")
                os.replace(tmp, folder / parts[-1])
                created[-1] = (folder / parts[-1], False)
                written.append(e.name)
                if e.mtime is not None:
                    with contextlib.suppress(OverflowError, OSError, ValueError):
                        os.utime(folder / parts[-1], (e.mtime, e.mtime))
        except BaseException:
            _remove(created)
            raise
    return sorted(written)


def model_root(files: list[str]) -> str:
    """The folder holding the model in an extracted tree: "" (top) or the single top-level folder, with "/"."""
    found = [f for f in files if f.rsplit("/", 1)[-1] == METADATA]
    folders = [f[: -len(METADATA)] for f in found if f.count("/") == 1]
    if METADATA in files or any(not f.startswith("model/") for f in files):
        folders = [f for f in folders if f != "model/"]  # model/model_metadata.json is the evaluation copy
    candidates = ([""] if METADATA in files else []) + folders
    if not candidates:  # a DRfC training prefix: the SimApp's model/model_metadata.json is its only metadata
        evaluation_copy = f"model/{METADATA}"
        candidates = [f[: -len(evaluation_copy)] for f in files
                      if f.endswith(evaluation_copy) and f[: -len(evaluation_copy)].count("/") <= 1]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        where = f" (found only {', '.join(sorted(found)[:5])})" if found else ""
        raise InvalidModelError(f"no {METADATA} at the top of the archive or in one top-level folder{where}",
                                fix="this is not a DeepRacer model bundle; export the model again")
    raise InvalidModelError("several models in one archive: " + ", ".join(c or "(top level)" for c in candidates),
                            fix="extract it and use one model folder at a time")


def write_targz(src_dir: Path, files: list[str], out: Path, *, overwrite: bool = False) -> None:
    """Write exactly `files` (relative to src_dir) as a reproducible .tar.gz, atomically, at `out`."""
    src_dir, out = Path(src_dir), Path(out)
    names = sorted(set(files))
    for name in names:
        try:
            if _clean_name(name) != name:
                raise _Bad("is not a plain relative path")
        except _Bad as exc:
            raise InvalidModelError(f"cannot archive {name!r}: it {exc}", fix="rename or leave out that file") from None
    exists = RefusedError(f"{out} already exists", fix="choose another file name or allow overwriting it")
    if out.exists() and not overwrite:
        raise exists
    tmp = out.parent / f".{out.name}{TMP}{secrets.token_hex(8)}"
    try:
        with os.fdopen(os.open(tmp, _OPEN_FLAGS, 0o644), "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
                    for name in names:
                        if not (src_dir / name).is_file():  # is_file: never open a FIFO or a device
                            raise NotFoundError(f"{src_dir / name} is missing or not a regular file",
                                                fix="check the model folder")
                        with open(src_dir / name, "rb") as f:
                            st, info = os.fstat(f.fileno()), tarfile.TarInfo(name)
                            info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o644
                            info.uid, info.gid, info.uname, info.gname = 0, 0, "", ""
                            tf.addfile(info, f)
            raw.flush()
            os.fsync(raw.fileno())
        try:
            os.replace(tmp, out) if overwrite else os.link(tmp, out)  # link: never replaces a file that appeared
        except FileExistsError:
            raise exists from None
        except OSError:  # no hard links here (FAT, exFAT: a USB stick for the car)
            if overwrite:
                raise
            if out.exists():
                raise exists from None
            os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
