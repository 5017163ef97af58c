"""One object for every transfer tuning knob (s3transfer's TransferConfig is built from it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

MiB = 1024 * 1024


@dataclass(frozen=True)
class TransferOptions:
    part_size: int = 64 * MiB  # multipart chunk size; also the part size of the predicted composite checksum
    multipart_threshold: int = 64 * MiB  # smaller files go in one PUT (fewer requests: faster on every server)
    part_concurrency: int = 4  # parts of one file uploading at once
    file_concurrency: int = 4  # files in flight at once
    copy_concurrency: int = 16  # server-side copies in flight at once (no bytes pass through this machine)
    memory_budget: int = 160 * MiB  # file bodies and parts held in memory at once, per S3 target store
    copy_part_threshold: int = 5 * 1024 * MiB  # server-side copies above this use UploadPartCopy (S3's limit)
    copy_part_size: int = 512 * MiB  # UploadPartCopy range size
    max_pool_connections: int = 32

    @classmethod
    def from_env(cls) -> TransferOptions:
        """The defaults, with DRMODEL_PART_SIZE_MIB (5 to 5120) as part size and multipart threshold."""
        raw = os.environ.get("DRMODEL_PART_SIZE_MIB")
        if not raw:
            return cls()
        if not raw.isdigit() or not 5 <= int(raw) <= 5120:
            from drmodel.errors import UsageError

            raise UsageError(f"DRMODEL_PART_SIZE_MIB={raw!r} is not a whole number of MiB from 5 to 5120",
                             fix="unset it, or set for example DRMODEL_PART_SIZE_MIB=64")
        return replace(cls(), part_size=int(raw) * MiB, multipart_threshold=int(raw) * MiB)
