"""What a caller asks planning for: plain values, checked by nothing but planning itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from drmodel.access import AccessLike

if TYPE_CHECKING:
    from drmodel.droa.transfer import DroaPushOptions
    from drmodel.options import TransferOptions



@dataclass(frozen=True)
class ModelRef:
    """A model by its address, and how to open it."""

    address: str  # s3://..., a folder, an archive, droa://...
    profile: AccessLike = None  # the credentials that reach it (None: the usual AWS environment)
    layout: str | None = None  # force a layout (--layout, --target-layout) instead of detecting it
    training_job: str | None = None  # which training job, where a model has several (--training-job)


@dataclass(frozen=True)
class TransferRequest:
    """A pull, push or copy as asked: everything planning needs and nothing it decides."""

    kind: str  # pull, push or copy
    source: ModelRef
    target: ModelRef
    checkpoint: str = "both"  # best, last, both, all or a number: the checkpoints copied
    force: bool = False  # copy a model whose check finds errors
    relay: bool = False  # stream the bytes through this machine even when S3 could copy them itself
    backup_to: str | None = None  # where the backup folder of a replace goes (default ./drmodel-backups)
    create: bool = False  # write a new model when the target has none of that name (--create)
    name: str | None = None  # the target model's name, when it is not the address's or the source's
    account_id: str | None = None  # the account id of a new console training prefix
    description: str | None = None  # a DRoA import's model description
    droa_options: DroaPushOptions | None = None  # what a push into DRoA may do beyond the default
    options: TransferOptions | None = None  # transfer knobs (default: TransferOptions.from_env())
    grant_read: bool = False  # copy inside S3 through a temporary read grant on the source bucket (drmodel.grant)
    grant_to: str | None = None  # the grant's principal (account id or IAM ARN); None: the target's STS account
