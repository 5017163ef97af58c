"""Numbers as drmodel writes them for people: sizes and rates in binary units (KiB, MiB, GiB) everywhere, and counts
with their noun in the right number."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import timedelta


def human(n: int | float | None) -> str:
    """`1.5 MiB`; `-` for an unknown size."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 file`, `2 files`, `0 files`; `words` for a plural that is not word + s (`1 entry`, `2 entries`)."""
    return f"{n} {word if n == 1 else words or word + 's'}"


def by_count(values: Iterable[str]) -> str:
    """`12 by A, 6 by B`: how many times each value occurs, most frequent first (the proofs of a copy or a verify)."""
    return ", ".join(f"{n} by {value}" for value, n in Counter(values).most_common())


def span(length: timedelta) -> str:
    """A duration in words: '45 s', '20 min', '2 h 5 min'."""
    seconds = int(length.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"
