"""The legacy console bucket (2019 - July 2020), `aws-deepracer-<uuid>` (reference sections 1 and 5).

A model NAME is spread over `model-metadata/NAME/model_metadata.json`, `reward-functions/NAME/reward_function.py`
and a training prefix `DeepRacer-SageMaker-RoboMaker-comm-<account>-<timestamp>-<uuid>/`. A training prefix
is tied to NAME by its training_params*.yaml (MODEL_METADATA_FILE_S3_KEY), or, where it has none, by its
`model/model_metadata.json` being identical to NAME's. Names are compared whole: `Apex-Hunter` never takes
`Apex-Hunter-2`'s files.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from drmodel import paramsfile
from drmodel.checkpoints import inventory
from drmodel.errors import DrmodelError, InvalidModelError, NotFoundError, UsageError
from drmodel.layouts.base import Layout, ModelLocation, ModelSummary, TargetRequest, map_reads
from drmodel.layouts.names import check_name, choose_job, not_found
from drmodel.model import METADATA, REWARD, TRAINING_PARAMS_RE, is_model_file
from drmodel.stores.base import ObjectInfo, Store

JOB_PREFIX = "DeepRacer-SageMaker-RoboMaker-comm-"
# a legacy console bucket's own top-level folders: training jobs, metadata, reward functions, metrics. None holds
# a model_metadata.json at its top, an export or a DRfC training prefix (see ../shared/examples/
# legacy-bucket-listing.txt): the other layouts' detection does not probe them.
CONSOLE_ROOTS = (JOB_PREFIX, "model-metadata/", "reward-functions/", "DeepRacer-Metrics/")
JOB_RE = re.compile(r"^DeepRacer-SageMaker-RoboMaker-comm-(?P<account>\d+)-(?P<ts>\d{14})-(?P<id>.+)$")
META_KEY_RE = re.compile(r"^model-metadata/(?P<name>[^/]+)/model_metadata\.json$")


@dataclass
class BucketIndex:
    metadata: dict[str, ObjectInfo] = field(default_factory=dict)  # NAME -> model-metadata/NAME/...
    rewards: dict[str, ObjectInfo] = field(default_factory=dict)
    jobs: dict[str, dict[str, ObjectInfo]] = field(default_factory=dict)  # prefix -> {relative key: info}
    ties: dict[str, list[str]] = field(default_factory=dict)  # NAME -> prefixes
    tied_by: dict[str, str] = field(default_factory=dict)  # prefix -> how it was tied
    texts: dict[str, bytes] = field(default_factory=dict)  # key -> bytes of each training_params file read


def job_timestamp(prefix: str) -> str:
    m = JOB_RE.match(prefix)
    return m.group("ts") if m else ""


def _meta_key(name: str) -> str:
    return f"model-metadata/{name}/model_metadata.json"


def _reward_key(name: str) -> str:
    return f"reward-functions/{name}/reward_function.py"


class LegacyConsoleLayout(Layout):
    name = "legacy"
    description = "legacy console bucket (model-metadata/, reward-functions/, DeepRacer-SageMaker-RoboMaker-comm-*)"

    def __init__(self) -> None:
        self._cache: dict[int, BucketIndex] = {}
        self._ahead: dict[int, Future[BucketIndex]] = {}  # indexes being built in the background (`read_ahead`)

    @staticmethod
    def likely(store: Store, path: str) -> bool:
        """A bucket named as the console names its buckets, and a model name or nothing: this layout, nearly
        always (its index is worth reading before detection has decided)."""
        return (store.bucket or "").startswith("aws-deepracer-") and "/" not in path.strip("/")

    def detect(self, store: Store, path: str) -> str | None:
        if "/" in path.strip("/"):
            return None
        roots = store.list_dirs("")
        if any(d in ("model-metadata/", "reward-functions/") or d.startswith(JOB_PREFIX) for d in roots):
            return "model" if path.strip("/") else "container"
        return None

    # -- reading -------------------------------------------------------------------------------------
    def prepare(self, store: Store) -> None:
        """Read ahead what opening or resolving a model here needs (the bucket's index); see planning.target."""
        self.index(store)

    def read_ahead(self, store: Store) -> None:
        """Start building the store's index in the background, for `index` to take: while detection still lists
        the bucket's top level, the index's listings and reads are under way (a round trip or two saved). An error
        waits for `index`; if detection chooses another layout, this instance and its work are dropped."""
        if id(store) in self._cache or id(store) in self._ahead or not store.parallel_reads:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index")
        self._ahead[id(store)] = pool.submit(self._build_index, store)
        pool.shutdown(wait=False)

    def index(self, store: Store) -> BucketIndex:
        if id(store) in self._cache:
            return self._cache[id(store)]
        ahead = self._ahead.pop(id(store), None)
        idx = ahead.result() if ahead is not None else self._build_index(store)
        self._cache[id(store)] = idx
        return idx

    def _build_index(self, store: Store) -> BucketIndex:
        idx = BucketIndex()
        metadata, rewards, jobs = _list_all(store, ["model-metadata/", "reward-functions/", JOB_PREFIX])
        for obj in metadata:
            m = META_KEY_RE.match(obj.key)
            if m:
                idx.metadata[m.group("name")] = obj
        for obj in rewards:
            parts = obj.key.split("/")
            if len(parts) == 3 and parts[2] == "reward_function.py":
                idx.rewards[parts[1]] = obj
        for obj in jobs:
            prefix, _, rel = obj.key.partition("/")
            if JOB_RE.match(prefix) and rel:
                idx.jobs.setdefault(prefix, {})[rel] = ObjectInfo(obj.key, obj.size, obj.etag)
        params = _read_small(store, [f"{prefix}/{rel}" for prefix, files in idx.jobs.items() for rel in files
                                     if TRAINING_PARAMS_RE.match(rel)])
        idx.texts = {k: v for k, v in params.items() if isinstance(v, bytes)}
        for prefix, files in idx.jobs.items():
            for name in self._tie(store, idx, prefix, files, params):
                idx.ties.setdefault(name, []).append(prefix)
        return idx

    def _tie(self, store: Store, idx: BucketIndex, prefix: str, files: dict[str, ObjectInfo],
             texts: dict[str, bytes | DrmodelError]) -> list[str]:
        names: set[str] = set()
        for rel in files:
            if TRAINING_PARAMS_RE.match(rel):
                text = texts[f"{prefix}/{rel}"]
                if isinstance(text, DrmodelError):
                    continue  # unreadable: tie by content instead
                try:
                    params = paramsfile.load(text, f"{prefix}/{rel}")
                except DrmodelError:
                    continue  # a broken yaml is reported by check; tie by content instead
                m = META_KEY_RE.match(str(params.get("MODEL_METADATA_FILE_S3_KEY", "")))
                if m:
                    names.add(m.group("name"))
        if names:
            idx.tied_by[prefix] = "training_params"
            return sorted(names)
        copy = files.get("model/model_metadata.json")
        if copy is None:
            return []
        data: bytes | None = None
        for name, meta in idx.metadata.items():
            if meta.size != copy.size:
                continue
            if data is None:
                data = store.read_bytes(copy.key, 1024 * 1024)
            if store.read_bytes(meta.key, 1024 * 1024) == data:
                names.add(name)
        idx.tied_by[prefix] = "model/model_metadata.json content"
        return sorted(names)

    def list_models(self, store: Store, path: str) -> list[ModelSummary]:
        idx = self.index(store)
        rows = []
        for name in sorted(set(idx.metadata) | set(idx.ties)):
            for prefix in sorted(idx.ties.get(name, [None]), key=lambda p: job_timestamp(p or "")):
                loc = self._location(store, idx, name, prefix)
                n_ckpt = len(inventory(loc.files))
                rows.append(ModelSummary(name=name, layout=self.name, address=store.describe(name),
                                         size=sum(f.size for f in loc.files.values()), checkpoints=n_ckpt,
                                         details={"training_prefix": prefix, "training_timestamp":
                                                  job_timestamp(prefix) if prefix else None}))
        return rows

    def _location(self, store: Store, idx: BucketIndex, name: str, prefix: str | None) -> ModelLocation:
        files: dict[str, ObjectInfo] = {}
        if name in idx.metadata:
            files[METADATA] = idx.metadata[name]
        if name in idx.rewards:
            files[REWARD] = idx.rewards[name]
        for rel, info in (idx.jobs.get(prefix, {}) if prefix else {}).items():
            if rel not in (METADATA, REWARD) and is_model_file(rel):
                files[rel] = info

        def key_for(path: str) -> str:
            if path == METADATA:
                return _meta_key(name)
            if path == REWARD:
                return _reward_key(name)
            if prefix is None:
                raise UsageError(f"model {name!r} has no training prefix", fix="pass --create")
            return f"{prefix}/{path}"

        details: dict[str, Any] = {"training_prefix": prefix, "training_timestamp": job_timestamp(prefix or "")}
        if prefix:
            details["tied_by"] = idx.tied_by.get(prefix)
        loc = ModelLocation(store=store, layout=self.name, name=name, address=store.describe(name), files=files,
                            key_for=key_for, details=details, exists=bool(files))
        if prefix:  # the index listed every key of every training prefix (a new one: none yet)
            loc.listed_under = f"{prefix}/"
            loc.listed = frozenset(info.key for info in idx.jobs.get(prefix, {}).values())
        for path, info in files.items():  # the index read these already
            if info.key in idx.texts:
                loc.remember(path, idx.texts[info.key])
        return loc

    def open_listed(self, store: Store, row: ModelSummary) -> ModelLocation:
        """A row of list_models: its name and its training job (the row's training prefix)."""
        return self.open_model(store, row.name, training_job=row.details.get("training_prefix"))

    def open_model(self, store: Store, path: str, *, training_job: str | None = None) -> ModelLocation:
        name = check_name(path.strip("/"))
        named = self._read_named(store, name)
        idx = self.index(store)
        if name not in idx.metadata and name not in idx.ties:
            raise not_found(name, sorted(idx.metadata), store.describe())
        jobs = {p: job_timestamp(p) for p in idx.ties.get(name, [])}
        if not jobs:
            raise InvalidModelError(f"model {name!r} in {store.describe()} has no training prefix tied to it",
                                    fix="its training job's files are missing; check the bucket (drmodel ls)")
        loc = self._location(store, idx, name, choose_job(name, jobs, training_job))
        if METADATA not in loc.files:
            raise InvalidModelError(
                f"{store.describe(_meta_key(name))} is missing, though training job {loc.details['training_prefix']} "
                "names it", fix="a drmodel copy writes the metadata last: if one into this model stopped, rerun that "
                "copy to finish it; if the metadata was deleted, `drmodel restore` a backup or copy the model again")
        for p, read in named.items():
            if p in loc.files:
                loc.reading(p, read)
        return loc

    def _read_named(self, store: Store, name: str) -> dict[str, Future[bytes]]:
        """While the bucket's index is still being read ahead, the two files a model's name alone locates (its
        metadata and reward function) are read already: the small reads that follow the index (pointer files,
        the training prefix's metadata copy) then find a connection free, and planning is a round trip shorter."""
        if id(store) not in self._ahead:
            return {}
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="named")
        reads = {p: pool.submit(store.read_bytes, key) for p, key in ((METADATA, _meta_key(name)),
                                                                      (REWARD, _reward_key(name)))}
        pool.shutdown(wait=False)
        return reads

    # -- writing -------------------------------------------------------------------------------------
    def resolve_target(self, store: Store, path: str, request: TargetRequest) -> ModelLocation:
        name = check_name((request.name or path).strip("/"))
        idx = self.index(store)
        jobs = {p: job_timestamp(p) for p in idx.ties.get(name, [])}
        if jobs:
            prefix = choose_job(name, jobs, request.training_job, flag="--target-training-job")
            loc = self._location(store, idx, name, prefix)
        elif request.create:
            account = request.account_id or self.account_id(store, idx)
            stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
            prefix = f"{JOB_PREFIX}{account}-{stamp}-{uuid.uuid4()}"
            loc = self._location(store, idx, name, prefix)
            loc.details["created"] = True
        else:
            where = store.describe()
            state = "has metadata but no training job" if name in idx.metadata else "does not exist"
            raise NotFoundError(f"model {name!r} {state} in {where}",
                                fix="create a placeholder model with that name, or pass --create to write a new one")
        bucket = store.bucket
        if bucket:
            metrics = f"DeepRacer-Metrics/TrainingMetrics-{job_timestamp(prefix)}.json"  # where the console kept them

            def rewrite(p: str, data: bytes) -> bytes:
                if not TRAINING_PARAMS_RE.match(p):
                    return data
                return paramsfile.moved(data, p, bucket=bucket, prefix=prefix, metadata_key=_meta_key(name),
                                        reward_key=_reward_key(name), metrics_key=metrics)

            loc.rewrite = rewrite
        return loc

    def account_id(self, store: Store, idx: BucketIndex) -> str:
        """The target account's id: from the store's credentials (STS), else from the bucket's existing training
        prefixes."""
        known = store.account_id()
        if known:
            return known
        accounts = {m.group("account") for m in map(JOB_RE.match, idx.jobs) if m}
        if len(accounts) == 1:
            return accounts.pop()
        raise UsageError(f"cannot tell the account id of {store.describe()} for a new training prefix",
                         fix="pass --account-id 123456789012")


def _list_all(store: Store, prefixes: list[str]) -> list[list[ObjectInfo]]:
    """Each prefix's full listing; the prefixes in parallel when the store allows it."""
    return map_reads(store, lambda prefix: list(store.list(prefix)), prefixes)


def _read_small(store: Store, keys: list[str]) -> dict[str, bytes | DrmodelError]:
    """Each key's bytes (up to 1 MiB) or the error reading it; in parallel when the store allows it (a bucket
    with hundreds of training jobs is indexed in a few round trips, not hundreds)."""
    def one(key: str) -> bytes | DrmodelError:
        try:
            return store.read_bytes(key, 1024 * 1024)
        except DrmodelError as exc:
            return exc

    return dict(zip(keys, map_reads(store, one, keys), strict=True))
