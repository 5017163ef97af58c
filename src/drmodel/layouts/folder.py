"""The prefix layout: a model in a folder on disk or under an S3 prefix (DRfC, the import layout).

`model_metadata.json`, `reward_function.py`, `model/*`, optional `ip/*`, `training_params*.yaml`, `metrics/*`. The
manual procedure's folder keeps the checkpoints in `model-files/*` instead of `model/*`; it is read, and drmodel
always writes `model/`. In S3, training_params*.yaml name their model's bucket and prefix: a target gets them
rewritten to its own.

A DRfC *training* prefix (what `dr-start-training` fills) has no root `model_metadata.json`: the SimApp writes only
`model/model_metadata.json`, and DRfC keeps its own copies in `custom_files/`, a folder beside the prefixes, with
the reward function it copies into the prefix at the start of training. Such a prefix is read as one model whose
root metadata is `model/model_metadata.json`; `custom_files/` is not a model. The folders `model/` and
`model-files/` are the layout's own checkpoint folders, never models of a container.
"""

from __future__ import annotations

from drmodel import paramsfile
from drmodel.checkpoints import inventory
from drmodel.errors import InvalidModelError, NotFoundError
from drmodel.layouts.base import Layout, ModelLocation, ModelSummary, TargetRequest, map_reads, probe
from drmodel.layouts.legacy import CONSOLE_ROOTS
from drmodel.model import EVAL_COPY, METADATA, REWARD, TRAINING_PARAMS_RE, is_model_file
from drmodel.stores.base import ObjectInfo, Store

MANUAL_DIR = "model-files/"
CHECKPOINT_DIRS = ("model/", MANUAL_DIR)
CUSTOM_FILES = "hyperparameters.json"  # at the root of DRfC's custom_files/, never of a model
DRFC_TRAINING = "DRfC training prefix"


def _join(path: str, rel: str) -> str:
    path = path.strip("/")
    return f"{path}/{rel}" if path else rel


def export_timestamp(segment: str) -> bool:
    from drmodel.layouts.export import EXPORT_TS_RE

    return bool(EXPORT_TS_RE.match(segment))


def _leaf(d: str) -> str:
    return d.rstrip("/").rsplit("/", 1)[-1] + "/"


def _drfc_training(files: dict[str, ObjectInfo]) -> bool:
    """A listing (canonical paths) that is a DRfC training prefix: no root metadata, the SimApp's
    model/model_metadata.json, and the root reward function DRfC copies in, or checkpoint state in model/."""
    return METADATA not in files and EVAL_COPY in files and (
        REWARD in files or any(p.startswith("model/") and p != EVAL_COPY for p in files))


class FolderLayout(Layout):
    name = "prefix"
    description = "prefix or folder (model_metadata.json, reward_function.py, model/ or model-files/): DRfC, import"

    def _probe_training(self, store: Store, base: str) -> bool:
        """Whether base (a key prefix with "/", or "") is a DRfC training prefix, by two HEADs."""
        return probe(store, base + EVAL_COPY) and probe(store, base + REWARD)

    def detect(self, store: Store, path: str) -> str | None:
        if export_timestamp(path.strip("/").rsplit("/", 1)[-1]):
            return None  # a console export: its own layout
        base = _join(path, "")
        if probe(store, base + METADATA):
            return "model"
        dirs = [d for d in store.list_dirs(base) if not export_timestamp(d.rstrip("/").rsplit("/", 1)[-1])]
        if base + "model/" in dirs and self._probe_training(store, base):
            return "model"
        # the children are probed all at once where the store reads in parallel; a console bucket's own folders (a
        # folder per training job) are not probed: none is a model folder (legacy.CONSOLE_ROOTS)
        children = [d for d in dirs if _leaf(d) not in CHECKPOINT_DIRS and not _leaf(d).startswith(CONSOLE_ROOTS)]
        if any(map_reads(store, lambda d: probe(store, d + METADATA), children)):
            return "container"
        if any(map_reads(store, lambda d: self._probe_training(store, d), children)):
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
                  listed: set[str], *, source: bool = False) -> ModelLocation:
        base = _join(path, "")
        keys = {p: o.key for p, o in files.items() if o.key.startswith(base + MANUAL_DIR)}
        details = {"folder": "manual (model-files/)" if keys else "import (model/)"}
        notes = []
        if source and _drfc_training(files):
            # the root metadata a DRfC training prefix lacks is its model/ copy: what evaluation and the car read
            files[METADATA] = files[EVAL_COPY]
            keys[METADATA] = files[EVAL_COPY].key
            details["flavour"] = DRFC_TRAINING
            notes.append(f"{DRFC_TRAINING}: it has no root model_metadata.json; model/model_metadata.json (the one "
                         "the SimApp wrote) stands for it")
        name = path.strip("/").rsplit("/", 1)[-1] or store.name or "model"
        return ModelLocation(store=store, layout=self.name, name=name, address=store.describe(base), files=files,
                             key_for=lambda p: keys.get(p, base + p), exists=exists, details=details, notes=notes,
                             listed_under=base, listed=frozenset(listed))

    def _child_model(self, store: Store, d: str) -> dict[str, ObjectInfo] | None:
        """The files of child folder d when it is a model: root metadata and a checkpoint folder (DRfC's
        custom_files/ has the metadata and nothing else), or a DRfC training prefix."""
        if _leaf(d).startswith(CONSOLE_ROOTS):
            return None
        if store.head(d + METADATA) is not None:
            files = self._files(store, d)
            return files if any(p.startswith("model/") for p in files) else None
        if not self._probe_training(store, d):
            return None
        files = self._files(store, d)
        return files if _drfc_training(files) else None

    def list_models(self, store: Store, path: str) -> list[ModelSummary]:
        rows = []
        for d in store.list_dirs(_join(path, "")):
            if export_timestamp(d.rstrip("/").rsplit("/", 1)[-1]) or _leaf(d) in CHECKPOINT_DIRS:
                continue
            files = self._child_model(store, d)
            if files is None:
                continue
            details = {"training_prefix": d.rstrip("/")}
            if _drfc_training(files):
                details["flavour"] = DRFC_TRAINING
            n = len(inventory(files))
            rows.append(ModelSummary(name=d.rstrip("/").rsplit("/", 1)[-1], layout=self.name,
                                     address=store.describe(d), size=sum(f.size for f in files.values()),
                                     checkpoints=n, details=details))
        return rows

    def open_model(self, store: Store, path: str, *, training_job: str | None = None) -> ModelLocation:
        listed: set[str] = set()
        files = self._files(store, path, listed)
        base = _join(path, "")
        where = store.describe(base)
        if base + CUSTOM_FILES in listed and not any(p.startswith("model/") for p in files):
            raise InvalidModelError(f"{where} looks like DRfC's custom_files/ (the files staged for the next "
                                    "training), not a model", fix="point at a training prefix, e.g. "
                                    f"{store.describe(_join(path.strip('/').rpartition('/')[0], ''))}"
                                    "rl-deepracer-sagemaker (drmodel ls lists them)")
        if METADATA not in files and not _drfc_training(files):
            if not files and not store.list_dirs(base):
                raise NotFoundError(f"{where} does not exist or is empty", fix="check the folder name")
            raise InvalidModelError(f"{where} has no model_metadata.json: not a DeepRacer model folder",
                                    fix="point at the folder that holds model_metadata.json and model/")
        return self._location(store, path, files, exists=True, listed=listed, source=True)

    def resolve_target(self, store: Store, path: str, request: TargetRequest) -> ModelLocation:
        listed: set[str] = set()
        files = self._files(store, path, listed)
        loc = self._location(store, path, files, exists=bool(files), listed=listed)
        bucket = store.bucket
        if bucket:
            prefix = path.strip("/")
            base = f"{prefix}/" if prefix else ""

            def rewrite(p: str, data: bytes) -> bytes:
                if not TRAINING_PARAMS_RE.match(p):
                    return data
                return paramsfile.moved(data, p, bucket=bucket, prefix=prefix, metadata_key=base + METADATA,
                                        reward_key=base + REWARD, metrics_key=base + "metrics/TrainingMetrics.json")

            loc.rewrite = rewrite
            loc.details["prefix"] = prefix
        return loc
