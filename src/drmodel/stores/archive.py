"""Archives as stores: a `.tar.gz`/`.zip` read through a safe extraction, a `.tar.gz` written from a staging folder.

Reading extracts into a private temporary folder (never outside it; links, devices, traversal and bombs are
refused by `drmodel.archive.safe_extract`) and serves it like a local folder. Writing stages the files in a
temporary folder and packs them, manifest included, into the archive atomically when the plan has run.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

from drmodel.archive import Limits, model_root, safe_extract, write_targz
from drmodel.errors import NotFoundError, UsageError
from drmodel.stores.local import LocalStore

SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def archive_name(path: Path) -> str:
    """The model name an archive carries: `virtualmodel-Apex-Hunter.tar.gz` -> `Apex-Hunter`."""
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.removeprefix("virtualmodel-") or "model"


def _temp_dir(owner: object, prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    weakref.finalize(owner, shutil.rmtree, folder, True)
    return folder


class ArchiveSource(LocalStore):
    """A model archive opened for reading."""

    def __init__(self, archive: Path, limits: Limits | None = None) -> None:
        self.archive = Path(archive).expanduser().absolute()
        if not self.archive.is_file():
            raise NotFoundError(f"archive {self.archive} does not exist", fix="check the path")
        tmp = _temp_dir(self, "drmodel-archive-")
        files = safe_extract(self.archive, tmp / "x", limits or Limits())
        super().__init__(tmp / "x" / model_root(files))
        self.model_name = archive_name(self.archive)

    @property
    def name(self) -> str | None:
        return self.model_name

    def describe(self, key: str = "") -> str:
        return f"{self.archive}" + (f"!/{key}" if key else "")


class ArchiveTarget(LocalStore):
    """A `.tar.gz` to be written: files are staged, then packed by `finalize()`. A new file: no run to lock out."""

    staged = True
    lockable = False

    def __init__(self, archive: Path) -> None:
        self.archive = Path(archive).expanduser().absolute()
        if not self.archive.name.endswith((".tar.gz", ".tgz")):
            raise UsageError(f"{self.archive.name}: drmodel writes .tar.gz archives", fix="name it NAME.tar.gz")
        if self.archive.exists():
            raise UsageError(f"{self.archive} already exists", fix="remove it or choose another file name")
        if not self.archive.parent.is_dir():
            raise NotFoundError(f"folder {self.archive.parent} does not exist", fix="create it first")
        super().__init__(_temp_dir(self, "drmodel-bundle-") / archive_name(self.archive))
        self.model_name = archive_name(self.archive)

    @property
    def name(self) -> str | None:
        return self.model_name

    def describe(self, key: str = "") -> str:
        return f"{self.archive}" + (f"!/{key}" if key else "")

    def finalize(self) -> None:
        files = sorted(o.key for o in self.list(""))
        write_targz(self.root, files, self.archive)
