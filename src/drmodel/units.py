"""Sizes and rates as drmodel writes them for people: binary units (KiB, MiB, GiB) everywhere."""

from __future__ import annotations


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
