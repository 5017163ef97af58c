"""Progress callbacks: the library reports, the CLI draws. Hooks take **kwargs so new fields never break callers."""

from __future__ import annotations

from typing import Any


class Progress:
    """No-op base; subclass and override what you need. Called from worker threads: be thread-safe."""

    def phase(self, name: str, *, total_bytes: int = 0, total_files: int = 0, **kwargs: Any) -> None: ...

    def advance(self, nbytes: int, **kwargs: Any) -> None: ...

    def file_done(self, path: str, **kwargs: Any) -> None: ...

    def note(self, text: str, **kwargs: Any) -> None: ...

    def close(self, **kwargs: Any) -> None: ...
