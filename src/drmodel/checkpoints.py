"""Which checkpoints a model holds, which one evaluation will load, and narrowing a copy to some of them.

Evaluation (SimApp) picks the entry of `deepracer_checkpoints.json` named by EVAL_CHECKPOINT (default best) and
writes it over `.coach_checkpoint`; without a usable entry it uses `.coach_checkpoint` as it is, and without that
file it FAILS ("Checkpoint not found"). When no file under `model*` starts with the chosen name it SILENTLY loads
the highest-numbered checkpoint listed there. The rules, with their sources, are in `drmodel.simapp`; this module
reads a model's pointer files for them. `inventory` is drmodel's own view (checkpoints by number, top-level
`model/` only), for copying and narrowing: N=1 never takes 14_Step-... files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drmodel import simapp
from drmodel.errors import UsageError
from drmodel.simapp import EvalChoice

__all__ = ["EvalChoice", "Checkpoint", "Pointers", "evaluation_choice", "inventory", "read_pointers", "select"]

FILE_RE = re.compile(r"^(?P<n>\d+)_Step-(?P<step>\d+)\.ckpt\.(?P<part>data-\d+-of-\d+|index|meta)$")
PB_RE = re.compile(r"^model_(?P<n>\d+)\.pb$")
NAME_RE = re.compile(r"^(?P<n>\d+)_Step-(?P<step>\d+)\.ckpt$")
POINTERS = ("model/.coach_checkpoint", "model/coach_checkpoint", "model/checkpoint", "model/deepracer_checkpoints.json")


@dataclass
class Checkpoint:
    number: int
    name: str | None = None  # N_Step-M.ckpt, from its files
    files: list[str] = field(default_factory=list)  # canonical paths (model/...)

    def has(self, part: str) -> bool:
        return any(p.endswith(f".ckpt.{part}") or (part.startswith("data") and ".ckpt.data-" in p) for p in self.files)

    @property
    def pb(self) -> str | None:
        return next((p for p in self.files if PB_RE.match(p[len("model/"):])), None)

    @property
    def has_ckpt_files(self) -> bool:
        """Whether any .ckpt file of this number is in model/ (drmodel's view; SimApp's test is simapp.present)."""
        return any(".ckpt." in p for p in self.files)

    def missing_for_evaluation(self) -> list[str]:
        """Parts evaluation needs to load it: .data-* and .index (it regenerates .meta, never reads model_N.pb)."""
        return [part for part in ("data", "index") if not self.has(part)]

    def missing(self) -> list[str]:
        """Every part a complete checkpoint has: the evaluation parts, .meta, and model_N.pb (car, DeepRacer on AWS)."""
        out = self.missing_for_evaluation() + ([] if self.has("meta") else ["meta"])
        if self.pb is None:
            out.append(f"model_{self.number}.pb")
        return out


def checkpoint_number(name: Any) -> int | None:
    """The number of a canonical checkpoint name or file name (drmodel's reading; SimApp's is simapp.read_name)."""
    if not isinstance(name, str):
        return None
    m = NAME_RE.match(name.strip()) or FILE_RE.match(name.strip())
    return int(m.group("n")) if m else None


def inventory(paths: Iterable[str]) -> dict[int, Checkpoint]:
    found: dict[int, Checkpoint] = {}
    for path in sorted(paths):
        if not path.startswith("model/") or path.count("/") != 1:
            continue
        base = path[len("model/"):]
        m = FILE_RE.match(base)
        if m:
            ck = found.setdefault(int(m.group("n")), Checkpoint(int(m.group("n"))))
            ck.name = f"{m.group('n')}_Step-{m.group('step')}.ckpt"
            ck.files.append(path)
        elif (pm := PB_RE.match(base)) is not None:
            found.setdefault(int(pm.group("n")), Checkpoint(int(pm.group("n")))).files.append(path)
    return found


@dataclass
class Pointers:
    """The pointer files, read twice: leniently for drmodel's own use (best, last, coach: names, stripped, a BOM
    forgiven), and as bytes for SimApp's reading (`*_raw`, see simapp.evaluate)."""

    best: str | None = None  # best_checkpoint's name when it is a string
    last: str | None = None
    best_entry: dict[str, Any] | None = None
    last_entry: dict[str, Any] | None = None
    json_present: bool = False
    json_error: str | None = None  # not JSON even when read leniently, or not an object
    json_bom: bool = False  # starts with a UTF-8 BOM: SimApp ignores the file
    coach: str | None = None
    coach_dotless: bool = False  # only `coach_checkpoint` (no dot): SimApp does not read it
    tf_checkpoint: str | None = None  # model_checkpoint_path of the TF `checkpoint` file
    json_raw: bytes | None = None
    coach_raw: bytes | None = None  # model/.coach_checkpoint (with its dot), b"" when empty
    tf_raw: bytes | None = None

    def pick(self, eval_checkpoint: str) -> tuple[str | None, str]:
        """The JSON entry's name evaluation writes over .coach_checkpoint, or None and why (R3)."""
        which = simapp.which_entry(eval_checkpoint)
        if self.json_raw is not None or not self.json_present:
            return simapp.json_pick(self.json_raw, which)
        if self.json_error or self.json_bom:
            return None, "model/deepracer_checkpoints.json is not usable"
        name = self.best if which == "best" else self.last
        return (name, "") if name else (None, f"model/deepracer_checkpoints.json has no {which}_checkpoint name")

    def coach_bytes(self) -> bytes | None:
        if self.coach_raw is not None:
            return self.coach_raw
        return self.coach.encode() if self.coach is not None and not self.coach_dotless else None

    def tf_bytes(self) -> bytes | None:
        if self.tf_raw is not None:
            return self.tf_raw
        return f'model_checkpoint_path: "{self.tf_checkpoint}"\n'.encode() if self.tf_checkpoint else None


def read_pointers(paths: Iterable[str], read: Callable[[str], bytes]) -> Pointers:
    paths = set(paths)
    ptr = Pointers()
    if "model/deepracer_checkpoints.json" in paths:
        ptr.json_present = True
        ptr.json_raw = read("model/deepracer_checkpoints.json")
        ptr.json_bom = ptr.json_raw.startswith(simapp.BOM)
        try:
            doc = json.loads(ptr.json_raw.decode("utf-8-sig"))
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            ptr.best_entry = doc.get("best_checkpoint") if isinstance(doc.get("best_checkpoint"), dict) else None
            ptr.last_entry = doc.get("last_checkpoint") if isinstance(doc.get("last_checkpoint"), dict) else None
            best, last = (ptr.best_entry or {}).get("name"), (ptr.last_entry or {}).get("name")
            ptr.best = best if isinstance(best, str) and best else None
            ptr.last = last if isinstance(last, str) and last else None
        except (ValueError, UnicodeDecodeError) as exc:
            ptr.json_error = str(exc).splitlines()[0]
    if "model/.coach_checkpoint" in paths:
        ptr.coach_raw = read("model/.coach_checkpoint")
        ptr.coach = ptr.coach_raw.decode("utf-8-sig", "replace").strip() or None
    elif "model/coach_checkpoint" in paths:
        ptr.coach = read("model/coach_checkpoint").decode("utf-8-sig", "replace").strip() or None
        ptr.coach_dotless = True
    if "model/checkpoint" in paths:
        ptr.tf_raw = read("model/checkpoint")
        m = re.search(r'model_checkpoint_path:\s*"([^"]+)"', ptr.tf_raw.decode("utf-8", "replace"))
        ptr.tf_checkpoint = m.group(1) if m else None
    return ptr


def evaluation_choice(inv: dict[int, Checkpoint], ptr: Pointers, eval_checkpoint: str = "best", *,
                      listing: Sequence[str] | None = None, version: float | None = None) -> EvalChoice:
    """The checkpoint evaluation loads, or why it fails, by SimApp's rules (simapp.evaluate).

    `listing`: every file under `model*` (relative paths, any order); by default the files of `inv` and the
    pointer files. `version`: the metadata version evaluation reads (None: unknown)."""
    if listing is None:
        listing = [p for ck in inv.values() for p in ck.files]
        listing += [p for p, present in (("model/.coach_checkpoint", ptr.coach_bytes() is not None),
                                         ("model/checkpoint", ptr.tf_bytes() is not None),
                                         ("model/deepracer_checkpoints.json", ptr.json_present)) if present]
    choice = simapp.evaluate(simapp.s3_order(list(listing)), json_raw=ptr.json_raw, coach_raw=ptr.coach_bytes(),
                             tf_raw=ptr.tf_bytes(), eval_checkpoint=eval_checkpoint, version=version,
                             pick=ptr.pick(eval_checkpoint), dotless=ptr.coach_dotless)
    usable_json = ptr.json_present and not ptr.json_error and not ptr.json_bom
    if choice.kind == "coach" and usable_json and choice.pointed is not None:
        if choice.pointed == ptr.best:
            choice.kind = "best"
        elif choice.pointed == ptr.last:
            choice.kind = "last"
    return choice


# -- narrowing a copy -----------------------------------------------------------------------------------------
SELECTIONS = ("best", "last", "both", "all")


def parse_selection(text: str) -> str | int:
    if text in SELECTIONS:
        return text
    if text.isdigit():
        return int(text)
    raise UsageError(f"--checkpoint {text!r} is not one of best, last, both, all or a checkpoint number",
                     fix="e.g. --checkpoint last, or --checkpoint 145")


@dataclass
class Selection:
    keep: set[int]  # checkpoint numbers kept
    pointer_files: dict[str, bytes]  # canonical path -> new content (.coach_checkpoint, deepracer_checkpoints.json)
    description: str


def _entry(name: str, ptr: Pointers) -> dict[str, Any]:
    for entry in (ptr.best_entry, ptr.last_entry):
        if entry and entry.get("name") == name:
            return dict(entry)
    return {"name": name}


def _loadable_name(inv: dict[int, Checkpoint], n: int) -> str | None:
    """The name to write into .coach_checkpoint for checkpoint n, or None when rl_coach could not read one (a
    checkpoint with only model_N.pb: never write a bare number)."""
    name = inv[n].name
    return name if name is not None and simapp.read_name(name) is not None else None


def select(inv: dict[int, Checkpoint], ptr: Pointers, spec: str | int) -> Selection:
    """Checkpoints to keep and the pointer files that make the kept set consistent."""
    def number_of(name: str | None, label: str) -> int:
        n = checkpoint_number(name) if name else None
        if n is None or n not in inv:
            fallback = ptr.coach if label == "last" else None
            n = checkpoint_number(fallback) if fallback else None
            if n is None or n not in inv:
                raise UsageError(f"the model has no usable {label} checkpoint to select",
                                 fix="run `drmodel check` on it, or choose --checkpoint all or a number")
        return n

    if spec == "all":
        return Selection(set(inv), {}, "all checkpoints, pointer files as they are")
    if spec == "both":
        last = number_of(ptr.last, "last")
        keep = {number_of(ptr.best, "best"), last}
        fix: dict[str, bytes] = {}
        if ptr.coach is not None and checkpoint_number(ptr.coach) not in keep and _loadable_name(inv, last):
            fix["model/.coach_checkpoint"] = str(_loadable_name(inv, last)).encode()
        if keep == set(inv):
            return Selection(keep, fix, "best and last (all the model has)")
        return Selection(keep, fix, f"best ({ptr.best}) and last ({ptr.last})")
    if isinstance(spec, int):
        if spec not in inv:
            raise UsageError(f"the model has no checkpoint {spec}", fix=f"choose one of {sorted(inv)}")
        n = spec
    else:
        n = number_of(ptr.best if spec == "best" else ptr.last, spec)
    name = _loadable_name(inv, n)
    if name is None:  # the check that follows says what evaluation will do with the pointers as they are
        return Selection({n}, {}, f"only checkpoint {n} ({spec}), which has no .ckpt files: pointer files as they are")
    entry = _entry(name, ptr)
    pointers = {"model/.coach_checkpoint": name.encode(),
                "model/deepracer_checkpoints.json": json.dumps({"best_checkpoint": entry,
                                                                "last_checkpoint": entry}).encode()}
    if ptr.tf_checkpoint is not None:
        pointers["model/checkpoint"] = (f'model_checkpoint_path: "{name}"\n'
                                        f'all_model_checkpoint_paths: "{name}"\n').encode()
    return Selection({n}, pointers, f"only checkpoint {name} ({spec}); best = last = it")
