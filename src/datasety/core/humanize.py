"""Numbers as people read them in reports and plans."""

from __future__ import annotations


def human_bytes(count: int) -> str:
    """``1536`` -> ``"1.5 KB"``; whole bytes below a kilobyte (``"512 B"``)."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
