"""The upload plan: what goes to which repository, with which card. Reads, never writes.

Building a plan touches only the local folder, so ``--dry-run`` prints exactly what an upload
would send without any network call. The generated files (the README card, the loader's
``metadata.jsonl``) live in the plan as text and go to the Hub from memory: the user's folder
is never modified.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from datasety.core import layout
from datasety.core.errors import DatasetyError
from datasety.hub import card, kinds
from datasety.hub.files import LocalFile, check_no_token, select_files
from datasety.hub.loader import METADATA_JSONL, Loader, build_loader
from datasety.hub.lora import LoraFacts, lora_facts, read_metadata
from datasety.inspect.report import caption_stats
from datasety.media.audio_length import audio_seconds

README = "README.md"
LORA_LIMIT = 20  # weights files described on one card
# The Hub's rule for repository ids (huggingface_hub.utils.validate_repo_id).
REPO_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]{1,96}$")


@dataclass
class UploadOptions:
    """What the user asked for (the ``upload`` command's flags, parsed)."""

    path: Path
    repo_id: str | None = None
    upload_type: str = "auto"
    force: bool = False
    readme_template: Path | None = None
    metadata: str | None = None  # YAML text, or the path of a YAML file
    token: str | None = None  # only to make sure it is not among the files


@dataclass
class Plan:
    """Everything an upload sends, decided before anything is sent."""

    source: Path
    upload_type: str
    namespace: str | None  # None: the token's user, looked up when sending
    name: str
    files: list[LocalFile]
    generated: dict[str, str]  # repository path -> text made for the upload
    left_out: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def repo_type(self) -> str:
        return kinds.repo_type_for(self.upload_type)

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def total_bytes(self) -> int:
        generated = sum(len(text.encode("utf-8")) for text in self.generated.values())
        return sum(f.size for f in self.files) + generated

    @property
    def card(self) -> str | None:
        return self.generated.get(README)


def check_repo_id(repo_id: str) -> None:
    if not REPO_ID.match(repo_id) or "--" in repo_id or ".." in repo_id:
        raise DatasetyError(
            f"--repo-id {repo_id!r} is not a Hub repository id: use 'name' or 'owner/name' "
            "with letters, digits, '-', '_' and '.' (at most 96 characters)"
        )
    if repo_id.endswith(".git"):
        raise DatasetyError(f"--repo-id {repo_id!r} must not end with '.git'")


def repo_name_from(path: Path) -> str:
    """A repository name made from a folder or file name: ``My Set_v2`` -> ``my-set-v2``."""
    stem = path.name if path.is_dir() else path.stem
    # Accents dropped, not the letters: "Ünïcode" -> "unicode".
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9.]+", "-", ascii_stem.lower())
    name = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", name)).strip("-.")[:96].strip("-.")
    if not name:
        raise DatasetyError(f"cannot make a repository name from {path.name!r}: give --repo-id")
    return name


def build_plan(options: UploadOptions) -> Plan:
    """The plan for ``options``; raises a one-line error for anything the user must fix."""
    source = options.path
    if not source.exists():
        raise DatasetyError(f"--path {str(source)!r} does not exist")
    selection = select_files(source)
    files = selection.files
    if not files:
        why = f" ({selection.left_out[0][1]})" if source.is_file() and selection.left_out else ""
        raise DatasetyError(f"nothing to upload in {str(source)!r}{why}")
    upload_type = options.upload_type
    if upload_type == "auto":
        upload_type = kinds.detect_type(files)
    namespace, name = _repo_parts(options.repo_id, source)
    plan = Plan(source, upload_type, namespace, name, files, {}, selection.left_out)

    loader = build_loader(files, upload_type)
    keep_readme = any(f.repo_path == README for f in files) and not options.force
    if keep_readme:
        plan.notes.append(
            "keeping the folder's README.md as the card (--force replaces it with a generated one)"
        )
    else:
        plan.files = [f for f in files if f.repo_path != README]
        plan.generated[README] = _card_text(plan, loader, options)
    if loader.generated is not None:
        plan.generated[METADATA_JSONL] = loader.generated
    if upload_type != "model" and upload_type != "generic" and not loader.builder:
        plan.notes.append(f"no {upload_type} files found: the card has no loader config")
    check_no_token(plan.files, plan.generated, options.token)
    return plan


def _repo_parts(repo_id: str | None, source: Path) -> tuple[str | None, str]:
    if repo_id is None:
        return None, repo_name_from(source)
    check_repo_id(repo_id)
    owner, _, name = repo_id.rpartition("/")
    return owner or None, name


def _card_text(plan: Plan, loader: Loader, options: UploadOptions) -> str:
    facts = _card_facts(plan, loader)
    template_meta: dict[str, object] = {}
    body = None
    if options.readme_template is not None:
        template_meta, body = card.split_front_matter(_read_text(options.readme_template))
    user_meta = None
    if options.metadata is not None:
        text = options.metadata
        if os.path.isfile(text):
            text = _read_text(Path(text))
        user_meta = card.parse_metadata_yaml(text)
    front = card.merge(card.front_matter(facts), template_meta, user_meta)
    return card.render_card(front, card.render_body(facts, body))


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8-sig")
    except FileNotFoundError as exc:
        raise DatasetyError(f"{str(path)!r} does not exist") from exc
    except UnicodeDecodeError as exc:
        raise DatasetyError(f"{str(path)!r} is not UTF-8 text") from exc


def _card_facts(plan: Plan, loader: Loader) -> card.CardFacts:
    files = plan.files
    kind_counts = Counter(layout.file_kind(f.repo_path) for f in files)
    facts = card.CardFacts(
        name=plan.name,
        repo_id=plan.repo_id if plan.namespace else f"<your-user>/{plan.name}",
        upload_type=plan.upload_type,
        file_count=len(files),
        total_bytes=sum(f.size for f in files),
        kinds=dict(kind_counts),
        loader=loader,
        top_level=_top_level(files),
    )
    texts = [row["text"] for row in loader.rows if row.get("text")]
    if texts:
        facts.caption_words = caption_stats(texts)["words"]
    if plan.upload_type == "audio":
        for item in files:
            if layout.file_kind(item.repo_path) == "audio":
                seconds = audio_seconds(item.local)
                if seconds is None:
                    facts.audio_unknown += 1
                else:
                    facts.audio_seconds += seconds
    if plan.upload_type == "model":
        facts.loras = _loras(files)
    return facts


def _loras(files: list[LocalFile]) -> list[LoraFacts]:
    weights = [f for f in files if layout.extension(f.repo_path) == ".safetensors"]
    return [lora_facts(f.repo_path, read_metadata(f.local)) for f in weights[:LORA_LIMIT]]


def _top_level(files: list[LocalFile]) -> dict[str, int]:
    """Top-level folders (``"wavs/"``) with their file counts, then top-level files."""
    folders: Counter[str] = Counter()
    names: list[str] = []
    for item in files:
        head, sep, _ = item.repo_path.partition("/")
        if sep:
            folders[head + "/"] += 1
        else:
            names.append(head)
    return {**dict(sorted(folders.items())), **{name: 1 for name in names}}
