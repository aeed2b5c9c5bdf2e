"""Latents and caption embeddings, encoded once and kept on disk.

Each entry is one ``.safetensors`` file named by a hash of everything that decides its
content: the family, the model's snapshot folder (a new revision is a new folder), what was
encoded (an image's bytes and bucket, or a caption's text). A second run over the same data,
or a resumed one, loads the tensors instead of running the VAE and the text encoders.
Entries are written atomically: a cancelled run leaves no half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from datasety.core.atomic import atomic_path


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/datasety/train`` (``~/.cache/datasety/train``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(os.path.expanduser(base)) / "datasety" / "train"


class FeatureCache:
    """Cached tensors of one model, keyed by what they encode."""

    def __init__(self, folder: Path, family: str, model_dir: Path, dtype: str) -> None:
        self.folder = folder
        self.scope = json.dumps([family, str(model_dir.resolve()), dtype])

    def key(self, kind: str, *parts: object) -> str:
        text = json.dumps([self.scope, kind, *[str(part) for part in parts]])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def load(self, key: str) -> dict[str, Any]:
        from safetensors.torch import load_file

        return load_file(str(self.path(key)))

    def store(self, key: str, tensors: dict[str, Any]) -> None:
        from safetensors.torch import save_file

        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
