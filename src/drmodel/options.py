"""One object for every transfer tuning knob (s3transfer's TransferConfig is built from it)."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class TransferOptions:
    part_size: int = 16 * MiB  # multipart chunk size; also the part size of the predicted composite checksum
    multipart_threshold: int = 16 * MiB
    part_concurrency: int = 8  # parts in flight per file
    file_concurrency: int = 4  # files in flight at once
    max_pool_connections: int = 32

    def transfer_config(self):  # -> boto3.s3.transfer.TransferConfig (imported lazily: start-up speed)
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(multipart_threshold=self.multipart_threshold, multipart_chunksize=self.part_size,
                              max_concurrency=self.part_concurrency, use_threads=True)
