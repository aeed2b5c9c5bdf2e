"""A temporary Hugging Face cache holding tiny random models under real repository ids.

Nothing can be downloaded in the tests, so they build small models from configs, save them
where the hub client would have put a download (``HF_HOME/hub/models--org--name/snapshots/
<commit>/`` plus ``refs/main``) and run with ``HF_HUB_OFFLINE=1``: the commands then take the
same loading path as on a user's machine, repository id and all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def snapshot_dir(hf_home: Path, repo_id: str) -> Path:
    """The snapshot folder for ``repo_id`` in ``hf_home``'s cache (created, with its ref)."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    folder = repo / "snapshots" / commit
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_to_cache(hf_home: Path, repo_id: str, *parts: Any) -> Path:
    """``save_pretrained`` each of ``parts`` (model, processor, ...) as ``repo_id``."""
    folder = snapshot_dir(hf_home, repo_id)
    for part in parts:
        part.save_pretrained(folder)
    return folder


def byte_level_vocab(specials: list[str]) -> dict[str, int]:
    """Special tokens plus the 256 byte symbols: any text encodes without merges."""
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {token: index for index, token in enumerate(specials)}
    for symbol in sorted(ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    return vocab
