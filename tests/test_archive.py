"""drmodel.archive: round trips, and hostile or broken archives refused with nothing written anywhere."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from drmodel import archive
from drmodel.archive import Limits, is_archive, model_root, safe_extract, write_targz
from drmodel.errors import InvalidModelError, NotFoundError, RefusedError, UsageError
from drmodel.testing.synth import model_metadata

MODEL: dict[str, bytes] = {
    "model_metadata.json": model_metadata(),
    "reward_function.py": b"def reward_function(params):\n    return 1.0\n",
    "training_params.yaml": b"WORLD_NAME: reInvent2019_track\n",
    "ip/hyperparameters.json": b'{"batch_size": 64}',
    "model/model_metadata.json": model_metadata(),
    "model/.coach_checkpoint": b"145_Step-136982.ckpt",
    "model/deepracer_checkpoints.json": b'{"best_checkpoint": {"name": "145_Step-136982.ckpt"}}',
    "model/145_Step-136982.ckpt.data-00000-of-00001": os.urandom(300_000),
    "model/145_Step-136982.ckpt.index": os.urandom(1_180),
    "model/model_145.pb": os.urandom(120_000),
}
HOSTILE = "not a DeepRacer model bundle"


def snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def read_tree(root: Path, names: list[str]) -> dict[str, bytes]:
    return {n: (root / n).read_bytes() for n in names}


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, data: bytes | None = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, data


def good() -> tuple:
    return member("model_metadata.json", MODEL["model_metadata.json"])


def make_zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for info, data in members:
                zf.writestr(info, data)
    return path


def zinfo(name: str, mode: int) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name)
    zi.create_system = 3
    zi.external_attr = mode << 16
    return zi


class Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        k = min(len(buf), self.left)
        buf[:k] = bytes(k)
        self.left -= k
        return k


DEFAULT_LIMITS = Limits()  # frozen: one instance is a safe default


def refused(archive: Path, tmp_path: Path, match: str, limits: Limits = DEFAULT_LIMITS, *,
            streamed: bool = False) -> InvalidModelError:
    """Extraction is refused with one line, nothing is written in dest or anywhere else under tmp_path.

    Unless `streamed`, the refusal must come from the check of all members, before any member is opened.
    """
    def no_open(*args, **kwargs):
        raise AssertionError("a member was opened before the archive was refused")

    dest = tmp_path / "out" / "dest"
    dest.parent.mkdir(exist_ok=True)
    before = snapshot(tmp_path)
    with pytest.MonkeyPatch.context() as mp, pytest.raises(InvalidModelError, match=match) as info:
        if not streamed:
            mp.setattr(tarfile.TarFile, "extractfile", no_open)
            mp.setattr(zipfile.ZipFile, "open", no_open)
        safe_extract(archive, dest, limits)
    assert snapshot(tmp_path) == before
    assert not dest.exists()
    assert "\n" not in str(info.value) and str(info.value).count(" - ") >= 1
    return info.value


# --- round trips -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["", "Apex-Hunter/"])
def test_write_targz_and_extract_round_trip(tmp_path, prefix):
    src = tmp_path / "src"
    files = {prefix + k: v for k, v in MODEL.items()}
    write_tree(src, files)
    out = tmp_path / "virtualmodel-Apex-Hunter.tar.gz"
    write_targz(src, list(files), out)
    got = safe_extract(out, tmp_path / "dest")
    assert got == sorted(files)
    assert read_tree(tmp_path / "dest", got) == files
    assert model_root(got) == prefix
    assert [p.name for p in tmp_path.iterdir() if ".drmodel-tmp-" in p.name] == []
    assert not [p for p in (tmp_path / "dest").rglob("*") if ".drmodel-tmp-" in p.name]


def test_write_targz_members_are_plain_sorted_and_reproducible(tmp_path):
    write_tree(tmp_path / "src", MODEL)
    os.utime(tmp_path / "src" / "reward_function.py", (1_600_000_000, 1_600_000_000))
    (tmp_path / "src" / "extra.txt").write_bytes(b"not listed")
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_targz(tmp_path / "src", list(reversed(MODEL)), a)
    write_targz(tmp_path / "src", list(MODEL), b)
    assert a.read_bytes() == b.read_bytes()
    with tarfile.open(a) as tf:
        infos = tf.getmembers()
    assert [i.name for i in infos] == sorted(MODEL)
    assert all(i.isreg() and i.mode == 0o644 and i.uid == i.gid == 0 and i.uname == i.gname == "" for i in infos)
    assert next(i for i in infos if i.name == "reward_function.py").mtime == 1_600_000_000
    assert gzip.decompress(a.read_bytes())  # a plain gzip stream


def test_write_targz_refuses_overwrite_unless_asked(tmp_path):
    write_tree(tmp_path / "src", MODEL)
    out = tmp_path / "m.tar.gz"
    out.write_bytes(b"keep me")
    with pytest.raises(RefusedError, match="already exists"):
        write_targz(tmp_path / "src", list(MODEL), out)
    assert out.read_bytes() == b"keep me"
    write_targz(tmp_path / "src", list(MODEL), out, overwrite=True)
    assert tarfile.open(out).getnames() == sorted(MODEL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tar.gz", "src"]


@pytest.mark.parametrize("bad", ["../evil", "/abs", "a/../b", "a\nb", "./x"])
def test_write_targz_refuses_bad_names(tmp_path, bad):
    (tmp_path / "src").mkdir()
    with pytest.raises(InvalidModelError, match="cannot archive"):
        write_targz(tmp_path / "src", [bad], tmp_path / "o.tar.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_write_targz_missing_file_leaves_nothing(tmp_path):
    write_tree(tmp_path / "src", MODEL)
    with pytest.raises(NotFoundError):
        write_targz(tmp_path / "src", [*MODEL, "model/missing"], tmp_path / "o.tar.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_zip_with_folders_and_junk_round_trips(tmp_path):
    members: list = [("Apex-Hunter/", b""), ("Apex-Hunter/model/", b"")]
    members += [(f"Apex-Hunter/{k}", v) for k, v in MODEL.items()]
    members += [("__MACOSX/Apex-Hunter/._model_metadata.json", b"junk"), ("Apex-Hunter/.DS_Store", b"junk"),
                ("Apex-Hunter/model/Thumbs.db", b"junk"), ("desktop.ini", b"junk")]
    arc = make_zip(tmp_path / "in" / "m.zip", members)
    got = safe_extract(arc, tmp_path / "dest")
    assert got == sorted(f"Apex-Hunter/{k}" for k in MODEL)
    assert read_tree(tmp_path / "dest", got) == {f"Apex-Hunter/{k}": v for k, v in MODEL.items()}
    assert not (tmp_path / "dest" / "__MACOSX").exists()
    assert model_root(got) == "Apex-Hunter/"


def test_tar_with_dot_prefix_and_existing_empty_dest(tmp_path):
    arc = make_tar(tmp_path / "in" / "m.tar", [member("./", None, tarfile.DIRTYPE)]
                   + [member(f"./{k}", v) for k, v in MODEL.items()], mode="w")
    (tmp_path / "dest").mkdir()
    got = safe_extract(arc, tmp_path / "dest")
    assert got == sorted(MODEL) and read_tree(tmp_path / "dest", got) == MODEL


def test_is_archive():
    assert all(is_archive(Path(n)) for n in ["a.tar.gz", "a.tgz", "a.tar", "a.zip", "A.ZIP", "x/virtualmodel-m.TAR.GZ"])
    assert not any(is_archive(Path(n)) for n in ["a.gz", "a.tar.bz2", "a", "zip", "a.json"])


def test_destination_must_be_empty(tmp_path):
    arc = make_tar(tmp_path / "m.tar.gz", [good()])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_bytes(b"")
    (tmp_path / "file").write_bytes(b"")
    for dest in (tmp_path / "full", tmp_path / "file"):
        with pytest.raises(UsageError, match="not an empty folder"):
            safe_extract(arc, dest)
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["x"]
    with pytest.raises(NotFoundError):
        safe_extract(tmp_path / "nope.tar.gz", tmp_path / "d")


# --- hostile tar members ----------------------------------------------------------------------------------------

def hostile_tar_members(tmp_path: Path) -> dict[str, tuple[list, str]]:
    nul = tarfile.TarInfo("placeholder")
    nul.pax_headers = {"path": "evil\x00name"}
    chr_dev = tarfile.TarInfo("dev")
    chr_dev.type, chr_dev.devmajor, chr_dev.devminor = tarfile.CHRTYPE, 1, 3
    return {
        "traversal": ([member("../evil")], r"'\.\.' segment"),
        "nested traversal": ([member("model/../../evil")], r"'\.\.' segment"),
        "backslash traversal": ([member("..\\evil")], r"'\.\.' segment"),
        "absolute": ([member(str(tmp_path / "abs-evil"))], "absolute path"),
        "drive letter": ([member("C:/evil")], "drive letter"),
        "symlink": ([member("link", None, tarfile.SYMTYPE, "../../outside"), member("link/x")], "symlink"),
        "absolute symlink": ([member("model", None, tarfile.SYMTYPE, str(tmp_path))], "symlink"),
        "hardlink": ([member("hl", None, tarfile.LNKTYPE, "model_metadata.json")], "hardlink"),
        "char device": ([(chr_dev, None)], "device file"),
        "block device": ([member("blk", None, tarfile.BLKTYPE)], "device file"),
        "fifo": ([member("fifo", None, tarfile.FIFOTYPE)], "FIFO"),
        "unknown type": ([member("odd", None, b"Z")], "special file"),
        "nul in name": ([(nul, b"x")], "control character or NUL"),
        "escape in name": ([member("model/\x1b[2Jx")], "control character"),
        "newline in name": ([member("a\nb")], "control character"),
        "duplicate": ([good()], "duplicate"),
        "case duplicate": ([member("MODEL_METADATA.JSON")], "differs only in case"),
        "unicode duplicate": ([member("caf\u00e9.py"), member("cafe\u0301.py")], "Unicode form"),
        "segment too long": ([member("model/" + "a" * 300)], r"'model/aaa.*\.\.\. has a name longer than 255"),
        "file and folder": ([member("model"), member("model/x")], "both a file and a folder"),
    }


@pytest.mark.parametrize("case", list(hostile_tar_members(Path("/x"))))
def test_hostile_tar_member_refused_before_any_write(tmp_path, case):
    members, match = hostile_tar_members(tmp_path)[case]
    arc = make_tar(tmp_path / "in" / "m.tar.gz", [good(), *members, member("reward_function.py", b"r")])
    err = refused(arc, tmp_path, match)
    assert HOSTILE in str(err) and "m.tar.gz" in str(err)
    assert not (tmp_path / "abs-evil").exists() and not (tmp_path / "out" / "evil").exists()


def test_too_many_files(tmp_path):
    arc = make_tar(tmp_path / "in" / "m.tar.gz", [member(f"model/f{i}") for i in range(5)])
    refused(arc, tmp_path, "more than 4 files", Limits(max_files=4))
    assert len(safe_extract(arc, tmp_path / "ok", Limits(max_files=5))) == 5


def test_gzip_bomb(tmp_path):
    arc = tmp_path / "in" / "bomb.tar.gz"
    arc.parent.mkdir()
    with tarfile.open(arc, "w:gz") as tf:
        info, data = good()
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("model/model_145.pb")
        info.size = 100 * 1024**2
        tf.addfile(info, io.BufferedReader(Zeros(info.size), 1 << 20))
    assert arc.stat().st_size < 1024**2
    refused(arc, tmp_path, "more than 200 times its own size")
    refused(arc, tmp_path, "more than 1000000 bytes", Limits(max_bytes=1_000_000, max_ratio=1e9))


def test_declared_sizes_are_summed(tmp_path):
    arc = make_tar(tmp_path / "in" / "m.tar", [member(f"f{i}", os.urandom(400)) for i in range(3)], mode="w")
    refused(arc, tmp_path, "more than 1000 bytes", Limits(max_bytes=1000))


def test_tar_lying_size_header_writes_only_declared_bytes(tmp_path):
    arc = make_tar(tmp_path / "in" / "m.tar", [member("model/big", os.urandom(1_000_000))], mode="w")
    raw = bytearray(arc.read_bytes())
    start = raw.find(b"model/big")  # the ustar header of the member (after its pax header, if any)
    raw[start + 124:start + 136] = b"%011o\0" % 10
    raw[start + 148:start + 156] = b" " * 8
    raw[start + 148:start + 156] = b"%06o\0 " % sum(raw[start:start + 512])
    arc.write_bytes(bytes(raw))
    got = safe_extract(arc, tmp_path / "dest")
    assert got == ["model/big"] and (tmp_path / "dest/model/big").stat().st_size == 10


@pytest.mark.parametrize("extra, limits, match", [
    (10, Limits(), "holds more bytes than its header declares"),
    (2_000_000, Limits(max_bytes=1_000_000), "more than 1000000 bytes"),
    (-5, Limits(), "fewer bytes than its header declares"),
    (200_000, Limits(max_ratio=1.5), "more than 1.5 times its own size"),
])
@pytest.mark.parametrize("dest_exists", [False, True])
def test_streamed_bytes_are_checked_and_partial_output_removed(tmp_path, monkeypatch, extra, limits, match,
                                                               dest_exists):
    """A reader that trusts the data over the header: what is written is still counted and checked."""
    arc = make_tar(tmp_path / "in" / "m.tar", [good(), member("model/a/b", os.urandom(50_000)),
                                               member("model/z", os.urandom(1000))], mode="w")
    real = tarfile.TarFile.extractfile

    def lying(self, info):
        if info.name == "model/z":
            return io.BytesIO(os.urandom(1000 + extra))
        return real(self, info)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", lying)
    dest = tmp_path / "out" / "dest"
    dest.mkdir(parents=True) if dest_exists else dest.parent.mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(InvalidModelError, match=match):
        safe_extract(arc, dest, limits)
    assert snapshot(tmp_path) == before
    assert dest.exists() == dest_exists


def test_folder_swapped_for_a_symlink_while_extracting(tmp_path, monkeypatch):
    """Another process replaces a folder just made with a symlink: the file is not written through it."""
    arc = make_tar(tmp_path / "in" / "m.tar", [good(), member("model/x", b"data")], mode="w")
    outside = tmp_path / "outside"
    outside.mkdir()
    real = archive._mkdirs

    def swapped(base, parts, created):
        folder = real(base, parts, created)
        if parts == ["model"]:
            folder.rmdir()
            folder.symlink_to(outside)
        return folder

    monkeypatch.setattr(archive, "_mkdirs", swapped)
    with pytest.raises(InvalidModelError, match="'model/x' would land outside the destination"):
        safe_extract(arc, tmp_path / "dest")
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "dest" / "model_metadata.json").exists()


# --- hostile zip members ----------------------------------------------------------------------------------------

def hostile_zip_members(tmp_path: Path) -> dict[str, tuple[list, str]]:
    return {
        "traversal": ([("../evil", b"x")], r"'\.\.' segment"),
        "backslash traversal": ([("..\\..\\evil", b"x")], r"'\.\.' segment"),
        "absolute": ([(str(tmp_path / "abs-evil"), b"x")], "absolute path"),
        "drive letter": ([("C:\\evil", b"x")], "drive letter"),
        "symlink": ([(zinfo("link", stat.S_IFLNK | 0o777), b"../../outside")], "symlink"),
        "fifo": ([(zinfo("fifo", stat.S_IFIFO | 0o644), b"")], "FIFO"),
        "control char": ([("model/a\rb", b"x")], "control character"),
        "duplicate": ([("model_metadata.json", b"{}")], "duplicate"),
    }


@pytest.mark.parametrize("case", list(hostile_zip_members(Path("/x"))))
def test_hostile_zip_member_refused_before_any_write(tmp_path, case):
    members, match = hostile_zip_members(tmp_path)[case]
    arc = make_zip(tmp_path / "in" / "m.zip", [("model_metadata.json", MODEL["model_metadata.json"]), *members,
                                                ("reward_function.py", b"r")])
    assert HOSTILE in str(refused(arc, tmp_path, match))


def zip_headers(raw: bytes, name: str) -> tuple[int, int]:
    """Offsets of the local header and the central directory entry of one member."""
    local = zipfile.ZipFile(io.BytesIO(raw)).getinfo(name).header_offset
    eocd = raw.rfind(b"PK\x05\x06")
    at = int.from_bytes(raw[eocd + 16:eocd + 20], "little")
    while raw[at:at + 4] == b"PK\x01\x02":
        n, m, k = (int.from_bytes(raw[at + i:at + i + 2], "little") for i in (28, 30, 32))
        if raw[at + 46:at + 46 + n] == name.encode():
            return local, at
        at += 46 + n + m + k
    raise AssertionError(name)


def test_zip_encrypted_member(tmp_path):
    arc = make_zip(tmp_path / "in" / "m.zip", [("model_metadata.json", b"{}"), ("model/x", b"secret")])
    raw = bytearray(arc.read_bytes())
    local, central = zip_headers(bytes(raw), "model/x")
    raw[local + 6] |= 1
    raw[central + 8] |= 1
    arc.write_bytes(bytes(raw))
    refused(arc, tmp_path, "'model/x' is encrypted")


def test_zip_bomb(tmp_path):
    arc = tmp_path / "in" / "bomb.zip"
    arc.parent.mkdir()
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("model/model_145.pb", "w") as f:
        for _ in range(100):
            f.write(bytes(1024**2))
    refused(arc, tmp_path, "more than 200 times its own size")
    refused(arc, tmp_path, "more than 1000 bytes", Limits(max_bytes=1000, max_ratio=1e9))


def test_zip_lying_size_header(tmp_path):
    arc = tmp_path / "in" / "m.zip"
    arc.parent.mkdir()
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model_metadata.json", MODEL["model_metadata.json"])
        zf.writestr("model/big", bytes(5_000_000))
    raw = bytearray(arc.read_bytes())
    local, central = zip_headers(bytes(raw), "model/big")
    raw[local + 22:local + 26] = raw[central + 24:central + 28] = (100).to_bytes(4, "little")  # uncompressed size
    arc.write_bytes(bytes(raw))
    assert zipfile.ZipFile(arc).getinfo("model/big").file_size == 100
    refused(arc, tmp_path, "not a readable archive", streamed=True)  # CRC error: only the declared 100 bytes read


# --- broken files -----------------------------------------------------------------------------------------------

def test_corrupt_and_wrong_files_are_invalid(tmp_path):
    (tmp_path / "in").mkdir()
    cases = {"random.tar.gz": os.urandom(5000), "text.zip": b"hello", "empty.tar": b"",
             "notgzip.tgz": b"\x1f\x8b" + os.urandom(100)}
    for name, data in cases.items():
        (tmp_path / "in" / name).write_bytes(data)
        refused(tmp_path / "in" / name, tmp_path, "not a readable archive")
    (tmp_path / "in" / "m.rar").write_bytes(b"x")
    refused(tmp_path / "in" / "m.rar", tmp_path, "not a .tar.gz, .tgz, .tar or .zip")


def test_truncated_targz(tmp_path):
    write_tree(tmp_path / "src", MODEL)
    arc = tmp_path / "in" / "m.tar.gz"
    arc.parent.mkdir()
    write_targz(tmp_path / "src", list(MODEL), arc)
    arc.write_bytes(arc.read_bytes()[: arc.stat().st_size * 2 // 3])
    refused(arc, tmp_path, "not a readable archive")


def test_zip_bad_crc_after_a_good_file_leaves_nothing(tmp_path):
    arc = tmp_path / "in" / "m.zip"
    arc.parent.mkdir()
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("model_metadata.json", MODEL["model_metadata.json"])
        zf.writestr("model/z", b"A" * 10_000)
    raw = bytearray(arc.read_bytes())
    raw[raw.find(b"A" * 100) + 50] = ord("B")
    arc.write_bytes(bytes(raw))
    refused(arc, tmp_path, "not a readable archive", streamed=True)


# --- model_root -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("files, root", [
    (list(MODEL), ""),
    ([f"Apex-Hunter/{k}" for k in MODEL], "Apex-Hunter/"),
    ([f"model/{k}" for k in MODEL], "model/"),  # a model that is itself called "model"
    (["model_metadata.json", "agent/model.pb"], ""),  # car package
    # a DRfC training prefix: the SimApp's model/model_metadata.json is its only metadata (tests/test_conformance_
    # drfc_car.py cites the source)
    (["reward_function.py", "model/model_metadata.json", "model/x"], ""),
    (["p/reward_function.py", "p/model/model_metadata.json", "p/model/x"], "p/"),
])
def test_model_root(files, root):
    assert model_root(files) == root


@pytest.mark.parametrize("files, match", [
    ([], "no model_metadata.json"),
    (["x/y/model/model_metadata.json", "x/y/reward_function.py"], r"found only x/y/model/model_metadata\.json"),
    (["a/b/model_metadata.json"], r"found only a/b/model_metadata\.json"),
    (["A/model_metadata.json", "B/model_metadata.json"], "several models in one archive: A/, B/"),
    (["model_metadata.json", "B/model_metadata.json"], r"several models in one archive: \(top level\), B/"),
])
def test_model_root_refuses(files, match):
    with pytest.raises(InvalidModelError, match=match):
        model_root(files)


def test_the_command_removes_an_opened_archives_folder_on_its_fast_exit(tmp_path):
    """An archive is read from a temporary folder removed when the command ends, also through drmodel's
    os._exit (the exit handlers run first)."""
    import subprocess
    import sys

    src = tmp_path / "src"
    write_tree(src, MODEL)
    arc = tmp_path / "virtualmodel-Apex-Hunter.tar.gz"
    write_targz(src, list(MODEL), arc)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp))
    done = subprocess.run([sys.executable, "-m", "drmodel.cli.main", "show", str(arc)], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0 and "Apex-Hunter" in done.stdout, done.stderr
    assert list(temp.iterdir()) == []
