"""A rerun of a push into DeepRacer on AWS: does the deployment's READY model of that name already hold the files
this push would upload?

DRoA keeps no checksum a caller may read (its users cannot read the model bucket), so the proof is made on the
model's export (VIRTUAL_MODEL, downloaded and opened as an archive, as `drmodel diff` does): each path the push
would upload is compared with the export's member of that path. Bytes the plan carries (pre-flight fixes) by the
sha256 of the planned bytes; files taken from the source by the proofs of `drmodel.compare` (the source's stored
checksum or MD5 ETag against the exported file, else both read and hashed). A member missing, of another size, or
different is a difference; nothing unproven is called equal.

What DRoA stores is compared, not what was uploaded: where DRoA changes a file at import, the bytes it stores are
predicted and compared (`expected`). The one such change known is the model validator's: it writes
deepracer_checkpoints.json's best (else last) checkpoint name into the upload's model/.coach_checkpoint before the
files are copied (aws-deepracer-community/deepracer-simapp @ 01f5f015, bundle/markov/validation_worker.py#L68-L93;
drmodel.droa.rules.validator_pointer, which the stand-in applies too). A change drmodel does not predict is a
difference: the rerun refuses rather than call the model up to date.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from drmodel.compare import BY_READ, BY_SHA256, BY_SIZE, facts, prove, sha256_of
from drmodel.layouts.base import ModelLocation
from drmodel.plan import Action
from drmodel.stores.base import ObjectInfo, Store

POINTER = "model/.coach_checkpoint"


@dataclass(frozen=True)
class Proof:
    """The outcome of comparing a push's files with the deployment's model: `differs` is None when every file was
    proven equal; else the first path (in path order) that differs or could not be proven, and why."""

    proofs: Mapping[str, str]  # path -> the proof that made it equal
    differs: str | None = None
    why: str = ""

    @property
    def same(self) -> bool:
        return self.differs is None


def prove_imported(actions: Iterable[Action], sources: Mapping[str, ObjectInfo], source_store: Store,
                   export: ModelLocation, expected: Mapping[str, bytes] | None = None) -> Proof:
    """Compare each planned upload (`sources`: path -> the source object of the files taken from the source) with
    the export's member of the same path; `expected`: path -> the bytes DRoA stores there instead of the upload's
    (rules.validator_pointer's model/.coach_checkpoint)."""
    proofs: dict[str, str] = {}
    for action in sorted(actions, key=lambda a: a.path):
        member = export.store.head(action.path)
        if member is None:
            return Proof(proofs, action.path, "not in the deployment's model")
        if expected and action.path in expected:
            data = expected[action.path]
            action = replace(action, data=data, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        verdict, proof, detail = _compare(action, sources.get(action.path), source_store, member, export.store)
        if not verdict:
            why = detail or ("differs" if verdict is False else "could not be proven equal")
            if action.path == POINTER:
                why = _pointers(action, sources.get(action.path), source_store, member, export.store)
            return Proof(proofs, action.path, why)
        proofs[action.path] = proof
    return Proof(proofs)


def _pointers(action: Action, source: ObjectInfo | None, source_store: Store, member: ObjectInfo,
              export_store: Store) -> str:
    """What the two model/.coach_checkpoint files name (a few bytes each)."""
    planned = action.data if action.data is not None or source is None else source_store.read_bytes(source.key)
    stored = export_store.read_bytes(member.key)
    return (f"names {stored.decode('utf-8', 'replace').strip()!r} in the deployment's model, "
            f"{(planned or b'').decode('utf-8', 'replace').strip()!r} after this push's import")


def stored_instead(actions: Iterable[Action], sources: Mapping[str, ObjectInfo], source_store: Store
                   ) -> dict[str, bytes]:
    """path -> the bytes DRoA stores in place of the upload's: model/.coach_checkpoint as the model validator
    rewrites it (rules.validator_pointer), when the upload has one and the validator writes one."""
    from drmodel.droa.rules import validator_pointer

    planned = {a.path: a for a in actions}
    if POINTER not in planned:
        return {}

    def read(path: str) -> bytes:
        action = planned[path]
        return action.data if action.data is not None else source_store.read_bytes(sources[path].key)

    pointer = validator_pointer(set(planned), read)
    return {POINTER: pointer} if pointer is not None else {}


def _compare(action: Action, source: ObjectInfo | None, source_store: Store, member: ObjectInfo,
             export_store: Store) -> tuple[bool | None, str, str]:
    """(equal?, the proof, what differs in words)."""
    if member.size != action.size:
        return False, BY_SIZE, f"{action.size} bytes to upload, {member.size} bytes in the deployment's model"
    if action.data is not None or source is None:
        planned = action.sha256 or hashlib.sha256(action.data or b"").hexdigest()
        stored = sha256_of(export_store, member)
        return planned == stored, BY_SHA256, "" if planned == stored else \
            f"sha256 {planned[:12]}... to upload, {stored[:12]}... in the deployment's model"
    mine, theirs = facts(source_store, source), facts(export_store, member)
    verdict, proof = prove(mine, theirs, provenance=False)
    if verdict is None:
        mine.sha256 = sha256_of(source_store, source, mine)
        theirs.sha256 = sha256_of(export_store, member, theirs)
        verdict, proof = mine.sha256 == theirs.sha256, BY_READ
    detail = "" if verdict else (f"the source's file and the deployment's differ ({proof})" if proof != BY_SIZE
                                 else "")
    return verdict, proof, detail
