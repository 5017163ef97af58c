"""Console "Copy to S3" exports (2020-2025): `.../<model>/<timestamp>/` in a bucket (reference section 2).

The timestamp folder looks like `Wed, 27 Oct 2021 19:42:10 GMT` (spaces and commas in keys) and holds
`model_metadata.json`, `reward_function.py`, `training_params_<uuid>.yaml`, `ip/hyperparameters.json`,
`model/` (often with a dotless `coach_checkpoint`), plus `metrics/` (in the console's own format), `logs/` and
`sagemaker-artifacts/`, which are not copied. Exports are read, never written: the console that made them is gone.
"""

from __future__ import annotations

import re
from datetime import datetime

from drmodel.checkpoints import inventory
from drmodel.errors import NotFoundError, UsageError
from drmodel.layouts.base import Layout, ModelLocation, ModelSummary, TargetRequest, probe
from drmodel.layouts.legacy import CONSOLE_ROOTS
from drmodel.layouts.names import choose_job
from drmodel.model import METADATA, METRICS_DIR, is_model_file
from drmodel.stores.base import ObjectInfo, Store

EXPORT_TS_RE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
TS_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"

def sortable(ts: str) -> str:
    """`Wed, 27 Oct 2021 19:42:10 GMT` -> `20211027194210` (what --training-job matches)."""
    try:
        return datetime.strptime(ts, TS_FORMAT).strftime("%Y%m%d%H%M%S")
    except ValueError:
        return ts


class ConsoleExportLayout(Layout):
    name = "export"
    description = "console export (<model>/<Wed, 27 Oct 2021 19:42:10 GMT>/model_metadata.json ...)"

    def _exports(self, store: Store, path: str) -> dict[str, str]:
        """Every export below path: timestamp folder (key prefix, with trailing /) -> model name."""
        base = f"{path.strip('/')}/" if path.strip("/") else ""
        # at a bucket's root, the console's own folders (training jobs, metadata, metrics: most of a legacy
        # bucket's objects) hold no export and are not listed
        bases = [d for d in store.list_dirs("") if not d.startswith(CONSOLE_ROOTS)] if not base else [base]
        found = {}
        for prefix in bases:
            for obj in store.list(prefix):
                parts = obj.key.split("/")
                if len(parts) >= 3 and parts[-1] == METADATA and EXPORT_TS_RE.match(parts[-2]):
                    found["/".join(parts[:-1]) + "/"] = parts[-3]
        return found

    def detect(self, store: Store, path: str) -> str | None:
        segments = path.strip("/").split("/") if path.strip("/") else []
        if segments and EXPORT_TS_RE.match(segments[-1]):
            return "model" if probe(store, f"{path.strip('/')}/{METADATA}") else None
        exports = self._exports(store, path)
        if not exports:
            return None
        base = f"{path.strip('/')}/" if path.strip("/") else ""
        if all(key.rsplit("/", 2)[0] + "/" == base for key in exports):
            return "model"  # path is a model folder holding one or more timestamped exports
        return "container"

    def _location(self, store: Store, folder: str, name: str) -> ModelLocation:
        files: dict[str, ObjectInfo] = {}
        for obj in store.list(folder):
            rel = obj.key[len(folder):]
            if is_model_file(rel) and not rel.startswith(METRICS_DIR):  # the console's metrics stay (see above)
                files[rel] = obj
        ts = folder.rstrip("/").rsplit("/", 1)[-1]
        return ModelLocation(store=store, layout=self.name, name=name, address=store.describe(folder), files=files,
                             key_for=lambda p: folder + p,
                             details={"export_timestamp": ts, "training_timestamp": sortable(ts)})

    def list_models(self, store: Store, path: str) -> list[ModelSummary]:
        rows = []
        for folder, name in sorted(self._exports(store, path).items()):
            loc = self._location(store, folder, name)
            n = len(inventory(loc.files))
            rows.append(ModelSummary(name=name, layout=self.name, address=loc.address,
                                     size=sum(f.size for f in loc.files.values()), checkpoints=n,
                                     details={"training_prefix": folder.rstrip("/"),
                                              "training_timestamp": sortable(folder.rstrip("/").rsplit("/", 1)[-1])}))
        return rows

    def open_model(self, store: Store, path: str, *, training_job: str | None = None) -> ModelLocation:
        clean = path.strip("/")
        if clean and EXPORT_TS_RE.match(clean.rsplit("/", 1)[-1]):
            parts = clean.rsplit("/", 2)
            return self._location(store, clean + "/", parts[-2] if len(parts) > 1 else "model")
        exports = self._exports(store, path)
        if not exports:
            raise NotFoundError(f"no console export under {store.describe(clean)}", fix="check the path (drmodel ls)")
        jobs = {folder.rstrip("/").rsplit("/", 1)[-1]: sortable(folder.rstrip("/").rsplit("/", 1)[-1])
                for folder in exports}
        name = next(iter(exports.values()))
        chosen = choose_job(name, jobs, training_job)
        folder = next(f for f in exports if f.rstrip("/").endswith(chosen))
        return self._location(store, folder, exports[folder])

    def resolve_target(self, store: Store, path: str, request: TargetRequest) -> ModelLocation:
        raise UsageError("console exports are read-only (the console is gone)",
                         fix="write a prefix instead: --target-layout prefix, or a folder or archive")
