"""Audio durations from file headers, for the card's "hours of audio": no decoding.

WAV (any sample format: data bytes over the byte rate) and FLAC (STREAMINFO's sample count)
cover what TTS datasets hold; other formats count as "duration unknown" rather than pulling
in a decoder for one line of a card.
"""

from __future__ import annotations

import struct
from pathlib import Path

HEADER_LIMIT = 64 * 1024  # WAV and FLAC headers sit in the first few bytes


def audio_seconds(path: Path) -> float | None:
    """The duration of the audio file at ``path`` in seconds, or None when unknown."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_LIMIT)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _wav_seconds(head, path.stat().st_size)
    if head[:4] == b"fLaC":
        return _flac_seconds(head)
    return None


def _wav_seconds(head: bytes, file_size: int) -> float | None:
    offset, byte_rate = 12, 0
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        if chunk_id == b"fmt " and offset + 16 <= len(head):
            (byte_rate,) = struct.unpack_from("<I", head, offset + 16)
        elif chunk_id == b"data":
            # A streamed WAV may say 0 or 0xFFFFFFFF: the rest of the file is the data then.
            available = file_size - offset - 8
            data = available if size in (0, 0xFFFFFFFF) else min(size, available)
            return data / byte_rate if byte_rate else None
        offset += 8 + size + (size & 1)
    return None


def _flac_seconds(head: bytes) -> float | None:
    # The first metadata block is STREAMINFO: 20 bits sample rate, ..., 36 bits total samples.
    if len(head) < 8 + 18:
        return None
    info = int.from_bytes(head[8 + 10 : 8 + 18], "big")
    rate = info >> 44
    samples = info & ((1 << 36) - 1)
    return samples / rate if rate and samples else None
