"""The prefix layout: a model in a folder on disk or under an S3 prefix (DRfC, the import layout).

`model_metadata.json`, `reward_function.py`, `model/*`, optional `ip/*`, `training_params*.yaml`. The manual
procedure's folder keeps the checkpoints in `model-files/*` instead of `model/*`; it is read, and drmodel
always writes `model/`. In S3, training_params*.yaml name their model's bucket and prefix: a target gets
them rewritten to its own.
"""

from __future__ import annotations

from drmodel import paramsfile
from drmodel.checkpoints import inventory
from drmodel.errors import InvalidModelError, NotFoundError
from drmodel.layouts.base import ModelLocation, ModelSummary, TargetRequest, probe
from drmodel.model import METADATA, REWARD, TRAINING_PARAMS_RE, is_model_file
from drmodel.stores.base import ObjectInfo, Store

MANUAL_DIR = "model-files/"


def _join(path: str, rel: str) -> str:
    path = path.strip("/")
    return f"{path}/{rel}" if path else rel


def export_timestamp(segment: str) -> bool:
    from drmodel.layouts.export import EXPORT_TS_RE

    return bool(EXPORT_TS_RE.match(segment))


class FolderLayout:
    name = "prefix"
    description = "prefix or folder (model_metadata.json, reward_function.py, model/ or model-files/): DRfC, import"

    def detect(self, store: Store, path: str) -> str | None:
        if export_timestamp(path.strip("/").rsplit("/", 1)[-1]):
            return None  # a console export: its own layout
        base = _join(path, "")
        if probe(store, base + METADATA):
            return "model"
        if any(probe(store, d + METADATA) for d in store.list_dirs(base)
               if not export_timestamp(d.rstrip("/").rsplit("/", 1)[-1])):
            return "container"
        return None

    def _files(self, store: Store, path: str, keys: set[str] | None = None) -> dict[str, ObjectInfo]:
        """The model files under path, by canonical path; `keys` collects every key listed there."""
        base = _join(path, "")
        files: dict[str, ObjectInfo] = {}
        for obj in store.list(base):
            if keys is not None:
                keys.add(obj.key)
            rel = obj.key[len(base):]
            canonical = "model/" + rel[len(MANUAL_DIR):] if rel.startswith(MANUAL_DIR) else rel
            if is_model_file(canonical) and canonical not in files:
                files[canonical] = obj
        return files

    def _location(self, store: Store, path: str, files: dict[str, ObjectInfo], exists: bool,
                  listed: set[str]) -> ModelLocation:
        base = _join(path, "")
        manual = {p: o.key for p, o in files.items() if o.key.startswith(base + MANUAL_DIR)}
        name = (path.strip("/").rsplit("/", 1)[-1] or getattr(store, "model_name", None)
                or getattr(store, "root", None).name)  # type: ignore[union-attr]
        return ModelLocation(store=store, layout=self.name, name=name, address=store.describe(base), files=files,
                             key_for=lambda p: manual.get(p, base + p), exists=exists,
                             details={"folder": "manual (model-files/)" if manual else "import (model/)"},
                             listed_under=base, listed=frozenset(listed))

    def list_models(self, store: Store, path: str) -> list[ModelSummary]:
        rows = []
        for d in store.list_dirs(_join(path, "")):
            if export_timestamp(d.rstrip("/").rsplit("/", 1)[-1]) or store.head(d + METADATA) is None:
                continue
            files = self._files(store, d)
            n = len(inventory(files))
            rows.append(ModelSummary(name=d.rstrip("/").rsplit("/", 1)[-1], layout=self.name,
                                     address=store.describe(d), size=sum(f.size for f in files.values()),
                                     checkpoints=n, details={"training_prefix": d.rstrip("/")}))
        return rows

    def open_model(self, store: Store, path: str, *, training_job: str | None = None) -> ModelLocation:
        listed: set[str] = set()
        files = self._files(store, path, listed)
        if METADATA not in files:
            where = store.describe(_join(path, ""))
            if not files and not store.list_dirs(_join(path, "")):
                raise NotFoundError(f"{where} does not exist or is empty", fix="check the folder name")
            raise InvalidModelError(f"{where} has no model_metadata.json: not a DeepRacer model folder",
                                    fix="point at the folder that holds model_metadata.json and model/")
        return self._location(store, path, files, exists=True, listed=listed)

    def resolve_target(self, store: Store, path: str, request: TargetRequest) -> ModelLocation:
        listed: set[str] = set()
        files = self._files(store, path, listed)
        loc = self._location(store, path, files, exists=bool(files), listed=listed)
        bucket = getattr(store, "bucket", None)
        if bucket:
            prefix = path.strip("/")
            base = f"{prefix}/" if prefix else ""
            values = {"SAGEMAKER_SHARED_S3_BUCKET": bucket, "SAGEMAKER_SHARED_S3_PREFIX": prefix,
                      "MODEL_METADATA_FILE_S3_KEY": base + METADATA, "REWARD_FILE_S3_KEY": base + REWARD,
                      "METRICS_S3_BUCKET": bucket, "METRICS_S3_OBJECT_KEY": base + "metrics/TrainingMetrics.json"}
            loc.rewrite = lambda p, data: paramsfile.rewrite(data, values) if TRAINING_PARAMS_RE.match(p) else data
            loc.details["prefix"] = prefix
        return loc
