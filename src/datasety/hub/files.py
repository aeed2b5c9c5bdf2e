"""Which files of a folder go to the Hub, and the check that no access token goes with them.

Left out, each with a reason the plan shows: hidden files and folders (``.git``, ``.cache``,
editor droppings, and the server's own temporary ``.name.xxxx.partial.ext`` files, which are
hidden by design), symlinks that lead out of the folder, and files named like credentials
(``token``, ``stored_tokens``, ``.netrc``, ``*.pem`` ...). A text file that *contains* a Hugging
Face access token stops the whole upload instead: dropping a data file silently would be as
wrong as publishing the token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from datasety.core import atomic
from datasety.core.errors import DatasetyError
from datasety.inspect.report import list_files

# huggingface_hub's own token files (``$HF_HOME/token``, ``stored_tokens``) and the usual
# homes of other secrets. Matched on the lower-cased file name.
CREDENTIAL_NAMES = frozenset(
    {
        "token",
        "stored_tokens",
        "_netrc",
        "credentials",
        "credentials.json",
        "id_rsa",
        "id_ed25519",
        "id_ecdsa",
    }
)
CREDENTIAL_SUFFIXES = (".pem", ".key", ".p12", ".pfx")

# A Hugging Face user access token: "hf_" and 34 letters or digits.
TOKEN_PATTERN = re.compile(rb"hf_[A-Za-z0-9]{34}")
TEXT_SUFFIXES = frozenset(
    {".txt", ".csv", ".tsv", ".json", ".jsonl", ".md", ".yaml", ".yml", ".toml", ".cfg"}
    | {".ini", ".conf", ".py", ".sh", ".env", ".log"}
)
SCAN_LIMIT = 8 * 1024 * 1024  # bytes of one text file searched for a token


@dataclass(frozen=True)
class LocalFile:
    """A file to upload: its path in the repository, on disk, and its size."""

    repo_path: str
    local: Path
    size: int


@dataclass(frozen=True)
class Selection:
    """The files to upload (sorted by repository path) and those left out, with reasons."""

    files: list[LocalFile]
    left_out: list[tuple[str, str]]


def select_files(path: Path) -> Selection:
    """The files under ``path`` that may be uploaded; a single file selects itself."""
    if path.is_file():
        reason = _reason_to_leave_out(path.name, path, path.resolve().parent)
        if reason:
            return Selection([], [(path.name, reason)])
        return Selection([LocalFile(path.name, path, path.stat().st_size)], [])
    root = path.resolve()
    files: list[LocalFile] = []
    left_out: list[tuple[str, str]] = []
    for rel in list_files(path, recursive=True):
        local = path / rel
        reason = _reason_to_leave_out(rel, local, root)
        if reason:
            left_out.append((rel, reason))
        else:
            files.append(LocalFile(rel, local, local.stat().st_size))
    return Selection(files, left_out)


def _reason_to_leave_out(rel: str, local: Path, root: Path) -> str | None:
    name = os.path.basename(rel).lower()
    if atomic.is_temp_name(name):
        return "temporary file"  # hidden too, so list_files never yields it; kept for clarity
    if name in CREDENTIAL_NAMES or name.endswith(CREDENTIAL_SUFFIXES):
        return "looks like a credential file"
    if local.is_symlink():
        target = local.resolve()
        if not target.is_relative_to(root):
            return "symlink that leads out of the folder"
    return None


def check_no_token(files: Iterable[LocalFile], texts: dict[str, str], token: str | None) -> None:
    """Refuse the upload when a text file, or a generated one in ``texts``, holds a token.

    ``token`` is the token in use (whatever its shape); any ``hf_...`` token counts too.
    """
    needles = [token.encode()] if token and len(token) >= 8 else []

    def holds_token(data: bytes) -> bool:
        return bool(TOKEN_PATTERN.search(data)) or any(n in data for n in needles)

    for name, text in texts.items():
        if holds_token(text.encode("utf-8")):
            raise DatasetyError(f"the generated {name} would contain an access token; nothing sent")
    for item in files:
        if Path(item.repo_path).suffix.lower() not in TEXT_SUFFIXES or item.size > SCAN_LIMIT:
            continue
        with open(item.local, "rb") as handle:
            data = handle.read(SCAN_LIMIT)
        if holds_token(data):
            raise DatasetyError(
                f"{item.repo_path} contains an access token: remove it before uploading "
                "(nothing was sent)"
            )
