"""Perceptual image hashes and near-duplicate grouping.

pHash: the 8x8 lowest frequencies of the DCT of a 32x32 greyscale thumbnail, one bit per
coefficient (above or below their median). Brightness changes move only the DC term, which is
left out, and re-encoding or mild resizing barely moves the low frequencies, so such copies
land within a few bits of each other while unrelated photos differ in about half of the 64.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

HASH_SIZE = 8
THUMB_SIZE = 32
HASH_BITS = HASH_SIZE * HASH_SIZE


@cache
def _dct_matrix(size: int) -> np.ndarray:
    """The orthonormal DCT-II matrix, so ``D @ X @ D.T`` is the 2-D DCT of ``X``."""
    n = np.arange(size)
    matrix = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * size))
    matrix[0] *= 1 / np.sqrt(2)
    return matrix * np.sqrt(2 / size)


def phash(image: Image.Image) -> int:
    """The 64-bit perceptual hash of ``image`` (any mode, any size)."""
    grey = image.convert("L").resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix(THUMB_SIZE)
    low = (dct @ pixels @ dct.T)[:HASH_SIZE, :HASH_SIZE].flatten()
    ac = low[1:]  # the DC term is the mean brightness: leave it out of the comparison
    bits = np.concatenate([[False], ac > np.median(ac)])
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    """The number of bits in which two hashes differ."""
    return bin(a ^ b).count("1")


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _distances(one: np.uint64, others: np.ndarray) -> np.ndarray:
    xor = np.bitwise_xor(others, one)
    return _POPCOUNT[xor.view(np.uint8)].reshape(-1, 8).sum(axis=1)


def near_groups(hashes: list[int], threshold: int) -> list[list[int]]:
    """Groups (indexes into ``hashes``) linked by a Hamming distance <= ``threshold``.

    Groups are connected components, each sorted, listed by their first index. All pairs are
    compared with numpy, one row at a time, so memory stays linear in the number of hashes.
    """
    count = len(hashes)
    values = np.array(hashes, dtype=np.uint64)
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(count - 1):
        close = np.nonzero(_distances(values[i], values[i + 1 :]) <= threshold)[0]
        for offset in close.tolist():
            a, b = root(i), root(i + 1 + offset)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])
