"""What a transfer writes: the checkpoints kept (`--checkpoint`), the files whose bytes differ from the source's,
and the model checked as it will be written."""

from __future__ import annotations

from drmodel import checkpoints as ckpts
from drmodel import paramsfile
from drmodel.errors import InvalidModelError
from drmodel.layouts import ModelLocation
from drmodel.model import EVAL_COPY, METADATA, TRAINING_PARAMS_RE, parse_json
from drmodel.stores.base import ObjectInfo


def files_to_write(src: ModelLocation, tgt: ModelLocation, checkpoint: str, notes: list[str]
                   ) -> tuple[dict[str, ObjectInfo], dict[str, tuple[bytes, str]], ckpts.Selection]:
    """The source files the target gets (`--checkpoint` applied), and those whose bytes differ from the source's:
    pointer files for the kept checkpoints, the evaluation copy of the metadata, rewritten training params."""
    src_files, rewritten, selection = select_checkpoints(src, checkpoint)
    meta = src.read(METADATA)
    parse_json(meta, src.store.describe(src.key_for(METADATA)))
    if EVAL_COPY not in src_files:
        notes.append("the source has no model/model_metadata.json (evaluation reads that copy): the target gets "
                     "the root copy there too")
        rewritten[EVAL_COPY] = (meta, "added: evaluation reads this copy")
        src_files[EVAL_COPY] = src_files[METADATA]
    elif src.read(EVAL_COPY) != meta:
        notes.append("warning: the source's model/model_metadata.json differs from its model_metadata.json; both are "
                     "copied as they are (evaluation reads model/model_metadata.json)")
    if tgt.rewrite:
        for path in src_files:
            if TRAINING_PARAMS_RE.match(path):
                data = src.read(path)
                new = tgt.rewrite(path, data)
                if new != data:
                    rewritten[path] = (new, "rewrote " + ", ".join(paramsfile.changed_keys(data, new)))
    return src_files, rewritten, selection


def select_checkpoints(src: ModelLocation, spec: str
                       ) -> tuple[dict[str, ObjectInfo], dict[str, tuple[bytes, str]], ckpts.Selection]:
    """The source files to copy for `--checkpoint spec`, and the pointer files rewritten to match."""
    files = dict(src.files)
    inv = ckpts.inventory(files)
    ptr = ckpts.read_pointers(files, src.read)
    selection = ckpts.select(inv, ptr, ckpts.parse_selection(spec))
    for n, ck in inv.items():
        if n not in selection.keep:
            for path in ck.files:
                files.pop(path, None)
    rewritten: dict[str, tuple[bytes, str]] = {}
    for path, data in selection.pointer_files.items():
        rewritten[path] = (data, f"written for the kept checkpoints ({spec})")
        files.setdefault(path, ObjectInfo(key="", size=len(data)))
    if "model/.coach_checkpoint" in selection.pointer_files:
        files.pop("model/coach_checkpoint", None)  # the dotless copy would contradict the new pointer
    return files, rewritten, selection


def gate(src: ModelLocation, files: dict[str, ObjectInfo], rewritten: dict[str, tuple[bytes, str]], kind: str,
         force: bool, notes: list[str]) -> str | None:
    """Check the model as it will be written; refuse a broken one on copy and push unless forced.

    Returns which checkpoint will race in the target, e.g. `140_Step-123889.ckpt (best)`."""
    from drmodel.checks import check_model

    view = ModelLocation(store=src.store, layout=src.layout, name=src.name, address=src.address, files=files,
                         key_for=src.key_for, overrides={p: d for p, (d, _) in rewritten.items()},
                         _reads=src._reads)  # the same files, read once
    report = check_model(view, hashes=False)
    for f in report.findings:
        if f.severity in ("error", "warning") and f.topic in ("checkpoints", "evaluation", "metadata"):
            notes.append(f"{f.severity}: {f.message}")
    if report.errors and kind in ("copy", "push") and not force:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        raise InvalidModelError(f"the target would be broken: {first.topic}: {first.message}{more}",
                                fix=f"run `drmodel check {src.address}` for details, or pass --force to copy anyway")
    e = report.evaluation
    return f"{e.name} ({e.kind})" if e and e.name else None
