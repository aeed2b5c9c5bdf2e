"""Reproducible random streams: one numpy Generator per (seed, item) pair.

Commands that take ``--seed`` derive each item's generator from the seed and the item's own
key (its relative path, plus whatever else names the output). The result then depends only
on the seed and the item, never on worker count, processing order or the other files in
the folder: adding an image to a dataset does not change the outputs of the others.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np


def fresh_seed() -> int:
    """A new random seed, for runs without ``--seed``."""
    return secrets.randbits(63)


def derive_seed(seed: int, *keys: object) -> int:
    """A 256-bit seed from ``seed`` and ``keys`` (any values with a stable ``str``)."""
    text = "\x00".join([str(seed), *(str(key) for key in keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """The generator for one item: same ``seed`` and ``keys``, same stream."""
    return np.random.default_rng(derive_seed(seed, *keys))
