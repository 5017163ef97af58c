"""Planning a repair: what can be fixed without guessing, as a Plan shown, backed up and executed like a push."""

from __future__ import annotations

import hashlib
import json

from drmodel import checkpoints as ckpts
from drmodel.access import AccessLike
from drmodel.lock import LOCK_NAME
from drmodel.model import EVAL_COPY, METADATA
from drmodel.plan import Action, Lock, Plan, destructive
from drmodel.planning.transfer import backup_folder
from drmodel.reading import open_model


def plan_repair(address: str, *, profile: AccessLike = None, layout: str | None = None,
                training_job: str | None = None, from_copy: str | None = None,
                backup_to: str | None = None) -> Plan:
    """Fix what can be fixed without guessing, as a Plan (shown, backed up, executed like a push)."""
    loc = open_model(address, profile=profile, layout=layout, training_job=training_job)
    paths = set(loc.files)
    ptr = ckpts.read_pointers(paths, loc.read)
    fixes: dict[str, tuple[bytes, str]] = {}
    notes: list[str] = []
    if ptr.coach_dotless and ptr.coach:
        fixes["model/.coach_checkpoint"] = (ptr.coach.encode(), "copy of the dotless model/coach_checkpoint")
    if ptr.coach and (not ptr.json_present or ptr.json_error):
        entry = {"name": ptr.coach}
        fixes["model/deepracer_checkpoints.json"] = (json.dumps({"best_checkpoint": entry, "last_checkpoint": entry})
                                                     .encode(), "rebuilt from .coach_checkpoint: best = last = it")
    elif not ptr.coach and (not ptr.json_present or ptr.json_error):
        notes.append("neither deepracer_checkpoints.json nor .coach_checkpoint names a checkpoint: choosing one would "
                     "be a guess; copy with --checkpoint N instead")
    if METADATA in paths:
        root = loc.read(METADATA)
        if EVAL_COPY not in paths:
            fixes[EVAL_COPY] = (root, "restored from model_metadata.json (evaluation reads this copy)")
        elif loc.read(EVAL_COPY) != root:
            if from_copy == "root":
                fixes[EVAL_COPY] = (root, "replaced by model_metadata.json (--from root)")
            elif from_copy == "model":
                fixes[METADATA] = (loc.read(EVAL_COPY), "replaced by model/model_metadata.json (--from model)")
            else:
                notes.append("model/model_metadata.json differs from model_metadata.json: pass --from root or "
                             "--from model to say which copy is right")
    actions: list[Action] = []
    for path, (data, note) in sorted(fixes.items()):
        old = loc.files.get(path)
        actions.append(Action(op="overwrite" if old else "create", path=path, key=loc.key_for(path), size=len(data),
                              old_size=old.size if old else None, data=data, note=note,
                              sha256=hashlib.sha256(data).hexdigest()))
    return Plan(kind="repair", source_address=loc.address, target_address=loc.address, source_store=loc.store,
                target_store=loc.store, actions=tuple(actions), notes=tuple(notes),
                target={"layout": loc.layout, **loc.details}, allowed_keys=frozenset(a.key for a in actions),
                lock=Lock(loc.key_for(LOCK_NAME)),
                backup_root=backup_folder(backup_to, loc) if destructive(actions) else None)
