"""S3 Batch Operations: the models of a bucket copied by S3 itself, for an organiser with thousands of them.

`plan_batch` finds the source bucket's models with the layouts drmodel reads (`layouts.detect`,
`Layout.list_models`, `Layout.open_model`: the legacy console bucket, whose model NAME is `model-metadata/NAME/`,
`reward-functions/NAME/` and its training prefix; the prefix layout of DRfC and of import folders; console exports)
and plans one `BatchCopy` per object: the files `drmodel copy --checkpoint all` would copy, no other key. `write_job`
writes what a job needs (the manifest, the CreateJob request, the IAM role and the source bucket's policy, and a
README.txt with the commands); `create_job` uploads the manifest and creates the job; `read_report` and
`compare_targets` check the job's completion report.

Target keys: Batch Operations' S3PutObjectCopy writes each object to the same key in the target bucket (its only
change of key is a TargetKeyPrefix put before every key of the job). A batch therefore copies models whole and
under the same keys: names, training prefixes and DRfC prefixes stay what they were. A copy whose target key differs
from its source key is refused, naming it: a renamed model goes through `drmodel copy --name`, which also rewrites
its training_params. TargetKeyPrefix is not used (a prefix before `model-metadata/NAME/...` is no DeepRacer layout),
nor the Lambda-invoke operation (code to deploy and maintain in the organiser's account).

Batch Operations copies bytes: a model's `training_params*.yaml` keep naming the source bucket (README.txt says so and
how to rewrite them), and a target key that already holds other bytes is never planned (the model is skipped: a
replacement needs drmodel copy's backup and its removal of stale checkpoints).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from drmodel import api, layouts
from drmodel.access import Access, AccessLike
from drmodel.address import parse
from drmodel.errors import AccessDeniedError, DrmodelError, InvalidModelError, NotFoundError, TransferError, UsageError
from drmodel.stores.base import ObjectInfo
from drmodel.stores.s3 import S3Store
from drmodel.stores.s3errors import DENIED, translate
from drmodel.units import plural

MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
REPORT_FORMAT = "Report_CSV_20180820"
SERVICE = "batchoperations.s3.amazonaws.com"
COPY_LIMIT = 5 * 1024 ** 3  # Batch Operations copies with CopyObject: objects up to 5 GiB
ROLE_POLICY_LIMIT = 10_240  # IAM: characters of a role's inline policies, whitespace not counted
ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/[\w+=,.@/-]+$")
LEGACY_FAMILIES = ("model-metadata/", "reward-functions/", "DeepRacer-SageMaker-RoboMaker-comm-")
FILES = ("manifest.csv", "create-job.json", "role-trust.json", "role-policy.json", "source-bucket-policy.json",
         "README.txt")


@dataclass(frozen=True)
class BatchCopy:
    source_bucket: str
    source_key: str
    target_bucket: str
    target_key: str
    size: int = 0
    etag: str | None = None


@dataclass(frozen=True)
class BatchJob:
    """One S3 Batch Operations copy job: its copies, where it runs and reports, and what the plan left out."""
    copies: tuple[BatchCopy, ...]
    target_account: str
    region: str
    role_arn: str
    report: str  # s3://BUCKET/PREFIX: the completion report, and the manifest under PREFIX/manifests/
    prefixes: tuple[str, ...]  # the key prefixes of the copied models (e.g. model-metadata/NAME/): IAM resources
    source_account: str | None = None  # given: the role may read only that account's bucket
    priority: int = 10
    confirmation_required: bool = True
    models: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # "NAME: why"
    notes: tuple[str, ...] = ()

    @property
    def source_bucket(self) -> str:
        return self.copies[0].source_bucket

    @property
    def target_bucket(self) -> str:
        return self.copies[0].target_bucket

    @property
    def partition(self) -> str:
        return "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if self.region.startswith("us-gov-") \
            else "aws"


def split_s3(url: str, what: str = "--report") -> tuple[str, str]:
    """(bucket, key or prefix without its slashes) of an s3:// URL."""
    addr = parse(url)
    if addr.scheme != "s3" or not addr.bucket:
        raise UsageError(f"{what} {url} is not an S3 address", fix="give s3://BUCKET/PREFIX")
    return addr.bucket, addr.path.strip("/")


def role_account(role_arn: str) -> str:
    m = ROLE_ARN.match(role_arn)
    if not m:
        raise UsageError(f"--role-arn {role_arn!r} is not an IAM role ARN",
                         fix="give arn:aws:iam::ACCOUNT:role/NAME (the role the job runs as, in the target account)")
    return m.group(2)


# -- the job's documents --------------------------------------------------------------------------------------------
def check_copies(copies: Sequence[BatchCopy]) -> None:
    """Refuse what one S3PutObjectCopy job cannot do: no copies, several bucket pairs, a changed key, an object over
    CopyObject's 5 GiB."""
    if not copies:
        raise UsageError("nothing to copy", fix="check the source (drmodel ls) and --only")
    pairs = {(c.source_bucket, c.target_bucket) for c in copies}
    if len(pairs) > 1:
        raise UsageError(f"one batch job copies from one bucket into one bucket; these copies name {len(pairs)} pairs",
                         fix="plan one job per pair of buckets")
    renamed = [c for c in copies if c.target_key != c.source_key]
    if renamed:
        raise UsageError(f"{len(renamed)} copies change their key (e.g. {renamed[0].source_key} -> "
                         f"{renamed[0].target_key}): S3 Batch Operations' copy keeps each object's key",
                         fix="keep the names in the batch, and copy a renamed model with `drmodel copy SOURCE TARGET "
                         "--name NEW` (which also rewrites its training_params)")
    big = [c for c in copies if c.size > COPY_LIMIT]
    if big:
        raise UsageError(f"{big[0].source_key} has {big[0].size} bytes: S3 Batch Operations copies objects up to "
                         f"5 GiB ({len(big)} such objects)", fix="copy that model with `drmodel copy` (UploadPartCopy)")


def manifest_csv(copies: Sequence[BatchCopy]) -> bytes:
    """The manifest in S3BatchOperations_CSV_20180820: `bucket,key` per line, the key URL-encoded as AWS requires
    (UTF-8, every character but letters, digits, `_.-~/` percent-encoded: spaces, commas, `+` and `%` too)."""
    check_copies(copies)
    return "".join(f"{c.source_bucket},{quote(c.source_key, safe='/')}\n" for c in copies).encode()


def manifest_location(job: BatchJob, manifest: bytes) -> tuple[str, str]:
    """(bucket, key) of the manifest: under the report's prefix, named by its content."""
    bucket, prefix = split_s3(job.report)
    name = f"manifests/drmodel-{hashlib.sha256(manifest).hexdigest()[:16]}.csv"
    return bucket, f"{prefix}/{name}" if prefix else name


def request_token(job: BatchJob, manifest: bytes) -> str:
    """CreateJob's ClientRequestToken, from the manifest and the job's settings: the same job asked again is the
    same job (S3 answers a repeated token with the first job's id)."""
    h = hashlib.sha256(manifest)
    for part in (job.target_account, job.region, job.role_arn, job.report, job.target_bucket, str(job.priority)):
        h.update(b"\0" + part.encode())
    return h.hexdigest()  # 64 characters, CreateJob's limit


def create_job_request(job: BatchJob, manifest: bytes, etag: str | None = None) -> dict[str, Any]:
    """The CreateJob request (also `aws s3control create-job --cli-input-json`). `etag`: the uploaded manifest's;
    by default its MD5, which S3 answers for a single PUT without SSE-KMS."""
    arn = f"arn:{job.partition}:s3:::"
    report_bucket, prefix = split_s3(job.report)
    manifest_bucket, manifest_key = manifest_location(job, manifest)
    report: dict[str, Any] = {"Bucket": arn + report_bucket, "Format": REPORT_FORMAT, "Enabled": True,
                              "ReportScope": "AllTasks"}
    if prefix:
        report["Prefix"] = prefix
    models = f"{len(job.models)} models" if len(job.models) != 1 else f"model {job.models[0]}"
    return {
        "AccountId": job.target_account,
        "ConfirmationRequired": job.confirmation_required,
        "Operation": {"S3PutObjectCopy": {"TargetResource": arn + job.target_bucket, "MetadataDirective": "COPY"}},
        "Report": report,
        "ClientRequestToken": request_token(job, manifest),
        "Manifest": {"Spec": {"Format": MANIFEST_FORMAT, "Fields": ["Bucket", "Key"]},
                     "Location": {"ObjectArn": f"{arn}{manifest_bucket}/{manifest_key}",
                                  "ETag": etag or hashlib.md5(manifest, usedforsecurity=False).hexdigest()}},
        "Description": f"drmodel: {models} from {job.source_bucket}"[:256],
        "Priority": job.priority,
        "RoleArn": job.role_arn,
    }


def role_trust_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": SERVICE}, "Action": "sts:AssumeRole"}]}


def _collapsed(prefixes: Iterable[str]) -> list[str]:
    """The legacy console's families instead of each model's prefixes (`model-metadata/`, ...), others as they are."""
    return sorted({next((f for f in LEGACY_FAMILIES if p.startswith(f)), p) for p in prefixes})


def resource_prefixes(job: BatchJob, manifest: bytes) -> list[str]:
    """The key prefixes the role may read and write: each model's own, or, when their policy would pass IAM's
    10,240 characters, the legacy layout's three families (a bucket of thousands of models)."""
    exact = sorted(job.prefixes)
    for prefixes in (exact, _collapsed(exact)):
        if len(json.dumps(_role_policy(job, manifest, prefixes), separators=(",", ":"))) <= ROLE_POLICY_LIMIT:
            return prefixes
    raise UsageError(f"the role's policy for {len(job.models)} models would pass IAM's {ROLE_POLICY_LIMIT} "
                     "characters", fix="split the batch into smaller jobs with --only NAME,NAME,...")


def _arns(job: BatchJob, bucket: str, prefixes: Sequence[str]) -> list[str]:
    return [f"arn:{job.partition}:s3:::{bucket}/{p}*" for p in prefixes]


def _role_policy(job: BatchJob, manifest: bytes, prefixes: Sequence[str]) -> dict[str, Any]:
    report_bucket, report_prefix = split_s3(job.report)
    manifest_bucket, manifest_key = manifest_location(job, manifest)
    arn = f"arn:{job.partition}:s3:::"
    read: dict[str, Any] = {"Sid": "ReadSourceModels", "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:GetObjectTagging"],
                            "Resource": _arns(job, job.source_bucket, prefixes)}
    if job.source_account:
        read["Condition"] = {"StringEquals": {"aws:ResourceAccount": job.source_account}}
    return {"Version": "2012-10-17", "Statement": [
        read,
        {"Sid": "WriteTargetModels", "Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"],
         "Resource": _arns(job, job.target_bucket, prefixes)},
        {"Sid": "ReadManifest", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": f"{arn}{manifest_bucket}/{manifest_key}"},
        {"Sid": "WriteReport", "Effect": "Allow", "Action": ["s3:PutObject"],
         "Resource": f"{arn}{report_bucket}/{report_prefix + '/' if report_prefix else ''}*"},
    ]}


def role_permissions_policy(job: BatchJob, manifest: bytes) -> dict[str, Any]:
    """Least privilege for the job's role: read the models' keys and their tags (a copy keeps the tags), write the
    same keys in the target, read the manifest, write the report. No ListBucket (the copy lists nothing) and no ACL
    actions (the job sets no ACL)."""
    return _role_policy(job, manifest, resource_prefixes(job, manifest))


def source_bucket_policy(job: BatchJob, manifest: bytes) -> dict[str, Any]:
    """What the source bucket's policy must grant the role of another account (same account: not needed)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "DrmodelBatchCopyReadModels", "Effect": "Allow", "Principal": {"AWS": job.role_arn},
         "Action": ["s3:GetObject", "s3:GetObjectTagging"],
         "Resource": _arns(job, job.source_bucket, resource_prefixes(job, manifest))}]}


# -- planning from a bucket -----------------------------------------------------------------------------------------
@dataclass
class _Model:
    name: str
    objects: dict[str, ObjectInfo]  # key -> the source object
    prefixes: set[str] = field(default_factory=set)


def _source_models(address: str, profile: AccessLike, names: set[str] | None, layout: str | None
                   ) -> tuple[list[_Model], list[str]]:
    """The bucket's models with their objects, through its layout (each legacy training job its own entry); the
    models it cannot open, each with the reason."""
    addr = parse(address)
    store = api.make_store(addr, profile)
    lay, kind = layouts.detect(store, addr.path, layout)
    if kind != "container":
        raise UsageError(f"{address} is one model, not a bucket of models",
                         fix="give the bucket (s3://BUCKET); `drmodel copy` copies one model")
    rows = [r for r in lay.list_models(store, addr.path) if names is None or r.name in names]
    if names and (missing := names - {r.name for r in rows}):
        raise NotFoundError(f"no model {', '.join(sorted(missing))} in {address}", fix=f"drmodel ls {address}")
    models, skipped = [], []
    for row in rows:
        job = row.details.get("training_prefix") if lay.name == "legacy" else None
        try:
            if lay.name == "legacy" and not job:
                raise InvalidModelError("no training prefix is tied to it", fix="")
            loc = lay.open_model(store, parse(row.address).path, training_job=job)
        except (InvalidModelError, NotFoundError) as exc:
            skipped.append(f"{row.name}: {exc.message}")
            continue
        model = _Model(row.name, {info.key: info for info in loc.files.values()})
        for path, info in loc.files.items():
            cut = len(info.key) - len(path)
            model.prefixes.add(info.key[:cut] if info.key.endswith(path) else info.key.rpartition("/")[0] + "/")
        models.append(model)
    return models, skipped


def _narrowest(prefixes: Iterable[str]) -> tuple[str, ...]:
    """The prefixes that no other one of them contains."""
    ordered = sorted(set(prefixes))
    return tuple(p for p in ordered if not any(p != q and p.startswith(q) for q in ordered))


def _same(source: ObjectInfo, target: ObjectInfo) -> bool:
    """Whether the target object is taken for a copy of the source: the same size and ETag, or the same size when the
    source's ETag is a multipart one and the target's not (CopyObject writes one part: its ETag is the MD5)."""
    multipart_copied = "-" in (source.etag or "") and "-" not in (target.etag or "")
    return source.size == target.size and (source.etag == target.etag or multipart_copied)


def _bucket_only(address: str, side: str) -> str:
    addr = parse(address)
    if addr.scheme != "s3" or not addr.bucket or addr.path.strip("/"):
        raise UsageError(f"{side} {address} is not a bucket", fix="give s3://BUCKET: a batch copies models under the "
                         "same keys, bucket to bucket")
    return addr.bucket


def plan_batch(source: str, target: str, *, role_arn: str, report: str, names: Sequence[str] | None = None,
               source_profile: AccessLike = None, target_profile: AccessLike = None, account_id: str | None = None,
               source_account: str | None = None, priority: int = 10, confirmation_required: bool = True,
               layout: str | None = None) -> BatchJob:
    """The copy job for the models of bucket `source` (all, or `names`) into bucket `target`, same keys. A model
    whose keys the target already holds with other bytes is skipped; keys it holds with the same size and ETag are
    left out (a rerun after a partial job plans what is left)."""
    src_bucket, tgt_bucket = _bucket_only(source, "SOURCE"), _bucket_only(target, "TARGET")
    account = account_id or role_account(role_arn)
    split_s3(report)
    models, skipped = _source_models(f"s3://{src_bucket}", source_profile, set(names) if names else None, layout)
    tstore = S3Store(tgt_bucket, profile=target_profile)
    there = {o.key: o for o in tstore.list("")}
    copies: dict[str, BatchCopy] = {}
    planned: list[str] = []
    prefixes: list[str] = []
    present = 0
    for m in models:
        clash = [k for k, o in m.objects.items() if k in there and not _same(o, there[k])]
        if clash:
            skipped.append(f"{m.name}: the target holds {len(clash)} of its keys with other bytes (e.g. {clash[0]}); "
                           "a batch never overwrites: replace it with `drmodel copy`")
            continue
        todo = {k: o for k, o in m.objects.items() if k not in there}
        present += len(m.objects) - len(todo)
        copies.update({k: BatchCopy(src_bucket, k, tgt_bucket, k, o.size, o.etag) for k, o in todo.items()})
        planned.append(m.name)
        prefixes += m.prefixes
    if not copies:
        raise UsageError(f"nothing to copy from {source}: " + ("; ".join(skipped) or "every planned object is already "
                         "in the target"), fix="check `drmodel ls` of both buckets")
    params = sum(1 for k in copies if re.search(r"/training_params[^/]*\.yaml$", k))
    notes = [f"{present} objects already in the target with the same size and ETag (for a multipart source object: "
             "the same size) are left out"] if present else []
    if params:
        notes.append(f"{params} training_params*.yaml files are copied as they are: their location lines "
                     f"(SAGEMAKER_SHARED_S3_BUCKET, ...) still name {src_bucket}; `drmodel copy "
                     f"s3://{src_bucket}/NAME s3://{tgt_bucket}/NAME` afterwards rewrites them and skips the files "
                     "the target holds already")
    return BatchJob(tuple(copies[k] for k in sorted(copies)), account, tstore.client.meta.region_name, role_arn,
                    report, _narrowest(prefixes), source_account, priority, confirmation_required,
                    tuple(dict.fromkeys(planned)), tuple(skipped), tuple(notes))


# -- the folder ---------------------------------------------------------------------------------------------------
def _flag(access: AccessLike) -> str:
    profile = Access.of(access).profile
    return f" --profile {profile}" if profile else ""


def readme(job: BatchJob, manifest: bytes, request: dict[str, Any], *, source_profile: AccessLike = None,
           target_profile: AccessLike = None) -> str:
    """README.txt: what the job copies, and the commands that set it up, create, start and check it."""
    src, tgt, region = _flag(source_profile), _flag(target_profile), f" --region {job.region}"
    bucket, key = manifest_location(job, manifest)
    role = job.role_arn.rsplit("/", 1)[-1]
    size = sum(c.size for c in job.copies)
    report_bucket, report_prefix = split_s3(job.report)
    verify = f"s3://{report_bucket}/{report_prefix + '/' if report_prefix else ''}job-JOB_ID/manifest.json"
    same = " (same account: not needed)" if job.source_account == job.target_account else ""
    lines = [
        f"S3 Batch Operations copy job written by drmodel: {plural(len(job.models), 'model')}, "
        f"{plural(len(job.copies), 'object')}, "
        f"{size} bytes, from s3://{job.source_bucket} to s3://{job.target_bucket}, every object under the same key.",
        f"The job runs in account {job.target_account}, region {job.region}, as {job.role_arn}.", "",
        *(f"Note: {n}" for n in job.notes), *(f"Skipped: {s}" for s in job.skipped), "",
        f"1. In the source account, let the role read the models{same}. put-bucket-policy REPLACES the bucket's",
        "   policy: if it has one, add the statement of source-bucket-policy.json to it instead.",
        f"   aws s3api put-bucket-policy --bucket {job.source_bucket} --policy file://source-bucket-policy.json{src}",
        "2. In the target account, the role the job runs as (its policy reads the models' keys and their tags, writes",
        "   the same keys in the target, reads the manifest and writes the report; AWS's example policy for copies",
        "   also grants s3:GetObjectAcl and s3:PutObjectAcl, which a job that sets no ACL does not use):",
        f"   aws iam create-role --role-name {role} --assume-role-policy-document file://role-trust.json{tgt}",
        f"   aws iam put-role-policy --role-name {role} --policy-name drmodel-batch-copy "
        f"--policy-document file://role-policy.json{tgt}",
        "3. Upload the manifest in one PUT (its ETag must be create-job.json's Manifest.Location.ETag; a bucket with",
        "   SSE-KMS answers another ETag: put that one into create-job.json):",
        f"   aws s3api put-object --bucket {bucket} --key {key} --body manifest.csv{tgt}{region}",
        "4. Create the job (the same ClientRequestToken again creates no second job):",
        f"   aws s3control create-job --cli-input-json file://create-job.json{tgt}{region}",
    ]
    if job.confirmation_required:
        lines += ["5. The job waits for your confirmation; start it with the JobId step 4 printed:",
                  f"   aws s3control update-job-status --account-id {job.target_account} --job-id JOB_ID "
                  f"--requested-job-status Ready{tgt}{region}"]
    lines += ["6. Watch it:",
              f"   aws s3control describe-job --account-id {job.target_account} --job-id JOB_ID{tgt}{region}",
              "7. Check the completion report, and every copied object's size and ETag against the source's:",
              f"   drmodel batch --verify-report {verify} s3://{job.source_bucket} s3://{job.target_bucket}"
              f"{src.replace('--profile', '--source-profile')}{tgt.replace('--profile', '--target-profile')}", ""]
    return "\n".join(lines)


def write_job(job: BatchJob, out: Path, *, etag: str | None = None, source_profile: AccessLike = None,
              target_profile: AccessLike = None) -> dict[str, Path]:
    """Write the job's files into `out` (created if need be): manifest.csv, create-job.json, role-trust.json,
    role-policy.json, source-bucket-policy.json, README.txt."""
    manifest = manifest_csv(job.copies)
    request = create_job_request(job, manifest, etag)
    docs: dict[str, str | bytes] = {
        "manifest.csv": manifest, "create-job.json": _json(request), "role-trust.json": _json(role_trust_policy()),
        "role-policy.json": _json(role_permissions_policy(job, manifest)),
        "source-bucket-policy.json": _json(source_bucket_policy(job, manifest)),
        "README.txt": readme(job, manifest, request, source_profile=source_profile, target_profile=target_profile)}
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", fix="give a folder for the job's files")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in docs.items():
        path = out / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        written[name] = path
    return written


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# -- creating it --------------------------------------------------------------------------------------------------
def control_client(profile: AccessLike, region: str) -> Any:
    """An S3 Control client of the target account's profile (never its S3 endpoint_url: no local S3 has Batch
    Operations)."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    from drmodel.stores.s3errors import unknown_profile

    access = Access.of(profile)
    try:
        session = botocore.session.Session(profile=access.profile)
        return session.create_client("s3control", region_name=region,
                                     config=Config(retries={"max_attempts": 5, "mode": "standard"}))
    except ProfileNotFound:
        raise unknown_profile(access.profile or "") from None


def create_job(job: BatchJob, *, target_profile: AccessLike = None, s3_client: Any = None,
               control: Any = None) -> tuple[str, str]:
    """Upload the manifest with the target account's credentials and create the job: (JobId, the manifest's ETag)."""
    manifest = manifest_csv(job.copies)
    bucket, key = manifest_location(job, manifest)
    store = S3Store(bucket, profile=target_profile, client=s3_client)
    try:
        answer = store.client.put_object(Bucket=bucket, Key=key, Body=manifest, ContentType="text/csv")
    except Exception as exc:
        raise translate(exc, "put_object", store.describe(key), store.who) from exc
    etag = str(answer["ETag"]).strip('"')
    request = create_job_request(job, manifest, etag)
    client = control or control_client(target_profile, job.region)
    try:
        return str(client.create_job(**request)["JobId"]), etag
    except Exception as exc:
        raise _job_error(exc, job, store.who) from exc


def _job_error(exc: Exception, job: BatchJob, who: str) -> DrmodelError:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return translate(exc, "create_job", f"account {job.target_account}", who)
    err = exc.response.get("Error", {})
    code, message = str(err.get("Code", "")), err.get("Message", "")
    if code in DENIED:
        return AccessDeniedError(f"{who} may not create an S3 Batch Operations job in account {job.target_account} "
                                 f"({code}: {message})", fix=f"grant s3:CreateJob, and iam:PassRole on {job.role_arn}")
    return TransferError(f"CreateJob in account {job.target_account} failed ({code}: {message})",
                         fix="fix what the message names (README.txt lists the steps before it), then rerun: "
                         "the same request creates no second job")
