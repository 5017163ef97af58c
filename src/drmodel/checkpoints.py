"""Which checkpoints a model holds, which one evaluation will load, and narrowing a copy to some of them.

Evaluation (SimApp) picks the entry of `deepracer_checkpoints.json` named by EVAL_CHECKPOINT (default best)
and writes it over `.coach_checkpoint`; without the JSON it uses `.coach_checkpoint` as it is; and when that
checkpoint's files are missing it SILENTLY loads the highest-numbered checkpoint left in `model/`
(reference section 5). A checkpoint is matched on `<N>_Step-` exactly: N=1 never takes 14_Step-... files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from drmodel.errors import UsageError

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
        """Whether any file starts with the checkpoint's name: all SimApp looks for before it falls back."""
        return any(".ckpt." in p for p in self.files)

    def missing_for_evaluation(self) -> list[str]:
        """Parts evaluation downloads and needs (.data-*, .index, .meta); it never reads model_N.pb."""
        return [part for part in ("data", "index", "meta") if not self.has(part)]

    def missing(self) -> list[str]:
        """Every part a complete checkpoint has: the evaluation parts, and model_N.pb (car, DeepRacer on AWS)."""
        out = self.missing_for_evaluation()
        if self.pb is None:
            out.append(f"model_{self.number}.pb")
        return out


def checkpoint_number(name: str) -> int | None:
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
    best: str | None = None
    last: str | None = None
    best_entry: dict[str, Any] | None = None
    last_entry: dict[str, Any] | None = None
    json_present: bool = False
    json_error: str | None = None
    coach: str | None = None
    coach_dotless: bool = False  # only `coach_checkpoint` (no dot): SimApp does not read it
    tf_checkpoint: str | None = None  # model_checkpoint_path of the TF `checkpoint` file


def read_pointers(paths: Iterable[str], read: Callable[[str], bytes]) -> Pointers:
    paths = set(paths)
    ptr = Pointers()
    if "model/deepracer_checkpoints.json" in paths:
        ptr.json_present = True
        try:
            doc = json.loads(read("model/deepracer_checkpoints.json").decode("utf-8-sig"))
            if not isinstance(doc, dict):
                raise ValueError("not an object")
            ptr.best_entry = doc.get("best_checkpoint") if isinstance(doc.get("best_checkpoint"), dict) else None
            ptr.last_entry = doc.get("last_checkpoint") if isinstance(doc.get("last_checkpoint"), dict) else None
            ptr.best = (ptr.best_entry or {}).get("name")
            ptr.last = (ptr.last_entry or {}).get("name")
        except (ValueError, UnicodeDecodeError) as exc:
            ptr.json_error = str(exc).splitlines()[0]
    if "model/.coach_checkpoint" in paths:
        ptr.coach = read("model/.coach_checkpoint").decode("utf-8", "replace").strip() or None
    elif "model/coach_checkpoint" in paths:
        ptr.coach = read("model/coach_checkpoint").decode("utf-8", "replace").strip() or None
        ptr.coach_dotless = True
    if "model/checkpoint" in paths:
        m = re.search(r'model_checkpoint_path:\s*"([^"]+)"', read("model/checkpoint").decode("utf-8", "replace"))
        ptr.tf_checkpoint = m.group(1) if m else None
    return ptr


@dataclass
class EvalChoice:
    number: int | None
    name: str | None
    kind: str  # best, last, coach (.coach_checkpoint as is), fallback (highest-numbered), none
    reason: str
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def evaluation_choice(inv: dict[int, Checkpoint], ptr: Pointers, eval_checkpoint: str = "best") -> EvalChoice:
    """The checkpoint evaluation loads, in SimApp's order: EVAL_CHECKPOINT's JSON entry, .coach_checkpoint, fallback."""
    eval_checkpoint = "best" if eval_checkpoint.lower() == "best" else "last"  # SimApp: anything but best is last
    warnings: list[str] = []
    name: str | None = None
    kind, reason = "none", ""
    usable_json = ptr.json_present and ptr.json_error is None
    if usable_json and (ptr.best if eval_checkpoint == "best" else ptr.last):
        name = ptr.best if eval_checkpoint == "best" else ptr.last
        kind, reason = eval_checkpoint, f"{eval_checkpoint}_checkpoint in deepracer_checkpoints.json"
    elif ptr.coach and not ptr.coach_dotless:
        name, kind, reason = ptr.coach, "coach", ".coach_checkpoint (no usable deepracer_checkpoints.json)"
        if ptr.best and ptr.coach == ptr.best:
            kind = "best"
        elif ptr.last and ptr.coach == ptr.last:
            kind = "last"
    if ptr.coach_dotless and not usable_json:
        warnings.append("model/coach_checkpoint lacks its leading dot: evaluation does not read it (drmodel repair)")
    number = checkpoint_number(name) if name else None
    if number is not None and number in inv and inv[number].has_ckpt_files:
        ck = inv[number]
        if ck.name and name and ck.name != name.strip():
            warnings.append(f"{name} names checkpoint {number}, whose files are {ck.name}")
        if ck.missing_for_evaluation():
            warnings.append(f"checkpoint {name} lacks {', '.join(ck.missing_for_evaluation())}: evaluation will "
                            "fail to load it (it only falls back when no file of the checkpoint is left)")
        return EvalChoice(number, name, kind, reason, warnings, sorted(ck.files))
    present = sorted(n for n, ck in inv.items() if ck.has_ckpt_files)
    if name:
        warnings.append(f"no file of {name} ({reason}) is in model/: evaluation SILENTLY loads the highest-numbered "
                        "checkpoint left in model/ instead")
    elif not present:
        return EvalChoice(None, None, "none", "no checkpoint files in model/", warnings)
    else:
        warnings.append("no deepracer_checkpoints.json or .coach_checkpoint names a checkpoint: evaluation falls back "
                        "to the highest-numbered checkpoint in model/")
    if not present:
        return EvalChoice(None, None, "none", "no checkpoint files in model/", warnings)
    fallback = max(present)
    ck = inv[fallback]
    if ck.missing_for_evaluation():
        warnings.append(f"the fallback checkpoint {fallback} lacks {', '.join(ck.missing_for_evaluation())}: "
                        "evaluation will fail")
    return EvalChoice(fallback, ck.name, "fallback", "highest-numbered checkpoint in model/ (fallback)", warnings,
                      sorted(ck.files))


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
        if ptr.coach is not None and checkpoint_number(ptr.coach) not in keep:
            fix["model/.coach_checkpoint"] = (inv[last].name or str(last)).encode()
        if keep == set(inv):
            return Selection(keep, fix, "best and last (all the model has)")
        return Selection(keep, fix, f"best ({ptr.best}) and last ({ptr.last})")
    if isinstance(spec, int):
        if spec not in inv:
            raise UsageError(f"the model has no checkpoint {spec}", fix=f"choose one of {sorted(inv)}")
        n = spec
    else:
        n = number_of(ptr.best if spec == "best" else ptr.last, spec)
    name = inv[n].name or f"{n}"
    entry = _entry(name, ptr)
    pointers = {"model/.coach_checkpoint": name.encode(),
                "model/deepracer_checkpoints.json": json.dumps({"best_checkpoint": entry,
                                                                "last_checkpoint": entry}).encode()}
    if ptr.tf_checkpoint is not None:
        pointers["model/checkpoint"] = (f'model_checkpoint_path: "{name}"\n'
                                        f'all_model_checkpoint_paths: "{name}"\n').encode()
    return Selection({n}, pointers, f"only checkpoint {name} ({spec}); best = last = it")
