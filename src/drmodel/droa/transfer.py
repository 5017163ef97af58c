"""DRoA as a source (export VIRTUAL_MODEL, download, read safely) and as a target (pre-flight, upload, import)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drmodel.droa.client import DroaClient
from drmodel.droa.config import load_deployment
from drmodel.droa.preflight import check_name, preflight
from drmodel.errors import TransferError, UsageError
from drmodel.layouts.base import ModelLocation, ModelSummary
from drmodel.plan import Action, DroaImport, Plan
from drmodel.stores.base import ObjectInfo
from drmodel.stores.s3 import S3Store


@dataclass(frozen=True)
class DroaPushOptions:
    """What a push into DRoA may do beyond the default."""

    run_reward_function: bool = False  # run DRoA's run-time reward check here (a separate, limited process)
    allow_duplicate_name: bool = False  # import although the deployment has a model of that name (DRoA allows it)


class UploadBucketStore(S3Store):
    """A deployment's upload bucket, as its users may use it: PutObject and the multipart-upload calls, nothing else
    (no GetObject, HeadObject or ListBucket: aws-solutions/deepracer-on-aws @ 61af778f,
    source/apps/infra/lib/constructs/auth/userRolePolicies.ts#L38-L54; ListBucketMultipartUploads is granted on
    `bucket/*` only, so it is refused too). Each write is confirmed by the answer to the write itself: a PUT's echoed
    checksum (S3 refuses a body that does not match it), or CompleteMultipartUpload's composite SHA256 of the parts
    sent. Nothing is read back (S3Store.write_only)."""

    write_only = True

    def __init__(self, bucket: str, *, client: Any) -> None:
        super().__init__(bucket, client=client)


_clients: dict[str, DroaClient] = {}


def forget_clients() -> None:
    """Drop the per-deployment clients (and their logins) this process made, e.g. after its deployments stopped."""
    _clients.clear()


def client_for(name: str) -> DroaClient:
    """One client (one login) per deployment per process."""
    if name not in _clients:
        _clients[name] = DroaClient(load_deployment(name))
    return _clients[name]


def list_models(name: str) -> list[ModelSummary]:
    client = client_for(name)
    models = client.list_models()
    count: dict[str, int] = {}
    for m in models:
        count[m.get("name", "")] = count.get(m.get("name", ""), 0) + 1
    def address(m: dict) -> str:  # a name several models share does not address one: the id does
        return f"droa://{name}/{m.get('name') if count[m.get('name', '')] == 1 else m.get('modelId')}"

    return [ModelSummary(name=m.get("name", ""), layout="droa", address=address(m), size=0, checkpoints=0,
                         details={"training_prefix": m.get("modelId"), "status": m.get("status"),
                                  "training_timestamp": m.get("createdAt")})
            for m in models]


def open_model(name: str, model: str, progress: Any = None) -> ModelLocation:
    """Export the model (VIRTUAL_MODEL), download the archive and open it like any archive."""
    from drmodel.layouts import get_layout
    from drmodel.stores.archive import ArchiveSource

    client = client_for(name)
    m = client.find(model)
    if m.get("status") not in (None, "READY"):
        raise UsageError(f"model {model!r} in droa://{name} is {m.get('status')}", fix="wait until it is READY")
    model = str(m.get("name") or model)
    url = client.export_url(m["modelId"], progress=progress)
    folder = Path(tempfile.mkdtemp(prefix="drmodel-droa-"))
    archive = folder / f"virtualmodel-{model}.tar.gz"
    try:
        with urllib.request.urlopen(url, timeout=300) as resp, open(archive, "wb") as out:  # noqa: S310  # DRoA's URL
            shutil.copyfileobj(resp, out, 1 << 20)
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise TransferError(f"downloading the export of {model!r} failed ({exc})",
                            fix="run the command again") from exc
    store = ArchiveSource(archive)
    weakref.finalize(store, shutil.rmtree, folder, True)
    loc = get_layout("prefix").open_model(store, "")
    loc.name = model
    loc.address = f"droa://{name}/{model}"
    loc.layout = "droa"
    loc.details.update({"modelId": m["modelId"], "deployment": name})
    return loc


def plan_push(src: ModelLocation, files: dict, overrides: dict[str, bytes], target_name: str, model: str,
              description: str | None, options: DroaPushOptions | None = None) -> Plan:
    """The upload of a model into a deployment's upload bucket, after every pre-flight rule passed. When the
    deployment already holds one READY model of that name (a rerun), the plan is up to date (no upload, no import)
    if that model holds every file this push would upload (droa.rerun: proven on its export), else refused."""
    options = options or DroaPushOptions()
    check_name(model, description)
    client = client_for(target_name)
    existing, warnings = _same_name(target_name, model, client.models_named(model), options)

    def read(path: str) -> bytes:
        return overrides[path] if path in overrides else src.read(path)

    up = preflight(files, read, run_reward_function=options.run_reward_function)
    prefix = f"uploads/models/{uuid.uuid4()}/"
    store = UploadBucketStore(client.upload_bucket, client=client.s3_client())
    actions, sources = [], {}
    for path in up.paths():
        data = up.data.get(path)
        if data is None and up.sources[path] in overrides:
            data = overrides[up.sources[path]]
        if data is None:
            sources[path] = files[up.sources[path]]
        actions.append(Action(op="create", path=path, key=prefix + path,
                              size=len(data) if data is not None else sources[path].size,
                              source_key=None if data is not None else src.key_for(up.sources[path]), data=data,
                              note=up.fixes.get(path, ""),
                              sha256=hashlib.sha256(data).hexdigest() if data is not None else None))
    notes = tuple([f"fix: {p}: {note}" for p, note in sorted(up.fixes.items())]
                  + [f"warning (DRoA accepts it; drmodel advises against): {w}" for w in warnings + up.warnings]
                  + [f"note: {n}" for n in up.notes])
    if existing is not None:
        return _up_to_date(src, sources, actions, target_name, model, existing, store, notes)
    return Plan(kind="push", source_address=src.address, target_address=f"droa://{target_name}/{model}",
                source_store=src.store, target_store=store, actions=tuple(actions), notes=notes,
                source={"layout": src.layout}, target={"layout": "droa"},
                allowed_keys=frozenset(a.key for a in actions),
                droa=DroaImport(deployment=target_name, model=model, description=description, upload_prefix=prefix,
                                bucket=client.upload_bucket, fixes=dict(up.fixes),
                                warnings=tuple(warnings + up.warnings), notes=tuple(up.notes)))


def _same_name(target_name: str, model: str, same: list[dict], options: DroaPushOptions
               ) -> tuple[dict | None, list[str]]:
    """What the deployment's models of that name mean for this push: (the one READY model a rerun may find up to
    date, or None; warnings). DRoA itself accepts a second model of a name (its import handler checks the name's
    pattern only: aws-solutions/deepracer-on-aws, source/libs/lambda/src/api/handlers/importModel.ts#L164-L191);
    refusing it is drmodel's rule, so that droa://DEP/NAME names one model."""
    live = [m for m in same if m.get("status") != "ERROR"]
    listed = ", ".join(f"{m.get('modelId')} {m.get('status')}" for m in same)
    if live and options.allow_duplicate_name:
        return None, [f"droa://{target_name} already has a model named {model!r} ({listed}): DRoA accepts a second "
                      f"one; address each by its id afterwards (droa://{target_name}/<modelId>)"]
    importing = [m for m in live if m.get("status") == "IMPORTING"]
    if importing:
        raise UsageError(f"droa://{target_name} is importing a model named {model!r} ({listed}): whether it holds "
                         "this model is known once it is READY",
                         fix=f"wait until `drmodel ls droa://{target_name}` shows it READY (or ERROR), then rerun")
    if len(live) == 1 and live[0].get("status") == "READY":
        return live[0], []
    if live:
        raise UsageError(f"droa://{target_name} already has a model named {model!r} ({listed}); DRoA itself would "
                         f"accept a second one, but then droa://{target_name}/{model} would name two models",
                         fix="choose another name with --as NEWNAME, or pass --allow-duplicate-name")
    return None, [f"an earlier import named {model!r} ended ERROR ({listed}): it stays listed until deleted in the "
                  "web site"] if same else []


def _up_to_date(src: ModelLocation, sources: dict[str, ObjectInfo], actions: list[Action], target_name: str,
                model: str, existing: dict, store: UploadBucketStore, notes: tuple[str, ...]) -> Plan:
    """A rerun: the deployment's READY model of that name, exported and compared file by file with what this push
    would upload. Proven equal: a plan with nothing to write and no import. Else drmodel's refusal of a second model
    of one name, naming the first file that differs."""
    from drmodel.droa.rerun import prove_imported, stored_instead
    from drmodel.units import by_count, human

    model_id = str(existing.get("modelId"))
    export = open_model(target_name, model_id)
    proof = prove_imported(actions, sources, src.store, export, stored_instead(actions, sources, src.store))
    if not proof.same:
        raise UsageError(f"droa://{target_name} already has a model named {model!r} ({model_id} READY) whose "
                         f"files are not this push's: {proof.differs}: {proof.why}; DRoA itself would accept a "
                         f"second one, but then droa://{target_name}/{model} would name two models",
                         fix="choose another name with --as NEWNAME, or pass --allow-duplicate-name")
    size = sum(f.size for f in export.files.values())
    note = (f"up to date: droa://{target_name}/{model} (model id {model_id}, READY) holds every file this push would "
            f"upload, proven on its export ({by_count(proof.proofs.values())}); nothing is uploaded or imported. "
            f"Proving it exported and downloaded that model ({human(size)}): each rerun does so once per model "
            "already imported")
    skips = tuple(Action(op="skip", path=a.path, key=f"{model_id}/{a.path}", size=a.size, source_key=a.source_key,
                         note=proof.proofs[a.path]) for a in actions)
    return Plan(kind="push", source_address=src.address, target_address=f"droa://{target_name}/{model}",
                source_store=src.store, target_store=store, actions=skips, notes=(*notes, f"note: {note}"),
                source={"layout": src.layout}, target={"layout": "droa", "modelId": model_id},
                target_exists=True, allowed_keys=frozenset())


def finish_import(plan: Plan, progress: Any = None) -> dict:
    """POST /importmodel for what the plan uploaded, then poll until READY (or raise with ERROR's message)."""
    info = plan.droa
    assert info is not None, "only a push into DRoA has an import to finish"
    client = client_for(info.deployment)
    model_id = client.import_model(info.upload_prefix.rstrip("/"), info.model, info.description)
    if progress:
        progress.note(f"import of {info.model} started: model id {model_id}")
    model = client.wait_import(model_id, progress=progress)
    return {"modelId": model_id, "status": model.get("status"), "name": info.model}
