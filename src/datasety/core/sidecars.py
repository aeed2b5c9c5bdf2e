"""Caption sidecars travel with their image: a command that writes an image somewhere else
(``resize``, ``degrade``) copies the image's own ``.txt`` caption beside each output, named
after it (``photo.jpg`` + ``photo.txt`` -> ``out/1.jpg`` + ``out/1.txt``), so a captioned
dataset keeps its captions through every step. The reference tool left them behind; its
users then had to copy them by hand and rename them to match.

Only the image's own sidecar (same folder, same stem) travels. The copy is byte for byte and
atomic; a caption that is the output's own sidecar already (output beside its input under the
same stem) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from datasety.core.atomic import atomic_write_bytes
from datasety.core.layout import sidecar_path


def caption_of(image: Path) -> Path:
    """The ``.txt`` sidecar that belongs to ``image`` (which may not exist)."""
    return Path(sidecar_path(str(image)))


def carry_caption(source: Path, outputs: Iterable[Path]) -> int:
    """Copy ``source``'s caption beside every image in ``outputs``; returns how many captions
    were written (0 when ``source`` has none). Raises OSError if one cannot be written."""
    caption = caption_of(source)
    try:
        data = caption.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return 0
    written = 0
    for output in outputs:
        dest = caption_of(output)
        if dest.resolve() == caption.resolve():
            continue
        atomic_write_bytes(dest, data, fsync=False)
        written += 1
    return written
