"""The README card: YAML front matter the Hub reads, and a body that says what is inside.

Front matter: ``license`` (``unknown`` until the user says otherwise: we never pick a licence
for someone's data), ``pretty_name``, ``task_categories``, ``size_categories``, ``tags`` and,
for datasets, the ``configs`` loader section; for a LoRA, ``base_model`` (when the weights name
a Hub repository), ``instance_prompt`` (its first trigger) and ``tags``. ``--metadata`` keys
replace generated ones. ``--readme-template`` supplies the body, with ``{{placeholder}}``
slots filled from the generated sections; front matter in the template is merged too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from datasety.core.errors import DatasetyError
from datasety.core.humanize import human_bytes
from datasety.hub.loader import Loader
from datasety.hub.lora import LoraFacts

SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)
IMAGE_PIPELINES = re.compile(r"sd|stable.?diffusion|flux|qwen.?image|pixart|kandinsky|sana", re.I)
SAMPLE_ROWS = 5
FILE_ENTRIES = 20  # top-level entries listed under "Files"
CELL_LIMIT = 120
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass
class CardFacts:
    """Everything the card says, gathered by :mod:`datasety.hub.plan`."""

    name: str
    repo_id: str
    upload_type: str
    file_count: int
    total_bytes: int
    kinds: dict[str, int]  # file_kind -> count
    loader: Loader
    caption_words: dict[str, Any] | None = None  # inspection.caption_stats()["words"]
    audio_seconds: float = 0.0
    audio_unknown: int = 0  # audio files whose duration could not be read
    loras: list[LoraFacts] = field(default_factory=list)
    top_level: dict[str, int] = field(default_factory=dict)  # entry -> files under it


def size_category(count: int) -> str:
    for limit, name in SIZE_CATEGORIES:
        if count < limit:
            return name
    return "n>1M" if count < 1_000_000_000 else "n>1T"


def pairs(loader: Loader) -> int:
    return sum(1 for row in loader.rows if row.get("input") and row.get("target"))


# -- front matter ------------------------------------------------------------------------------


def front_matter(facts: CardFacts) -> dict[str, Any]:
    """The generated YAML front matter, before ``--metadata`` and template overrides."""
    if facts.upload_type == "model":
        return _model_front_matter(facts)
    meta: dict[str, Any] = {"license": "unknown", "pretty_name": facts.name}
    tasks = _task_categories(facts)
    if tasks:
        meta["task_categories"] = tasks
    if facts.loader.row_count:
        meta["size_categories"] = [size_category(facts.loader.row_count)]
    meta["tags"] = ["datasety", facts.upload_type, *_dataset_tags(facts)]
    configs = facts.loader.configs()
    if configs:
        meta["configs"] = configs
    return meta


def _task_categories(facts: CardFacts) -> list[str]:
    if facts.upload_type == "image":
        return ["image-to-image"] if pairs(facts.loader) else ["text-to-image"]
    return {"audio": ["text-to-speech"], "video": ["text-to-video"]}.get(facts.upload_type, [])


def _dataset_tags(facts: CardFacts) -> list[str]:
    tags = []
    if pairs(facts.loader):
        tags.append("image-editing")
    if any(row.get("mask") for row in facts.loader.rows):
        tags.append("masks")
    if any(row.get("text") for row in facts.loader.rows):
        tags.append("captions" if facts.upload_type != "audio" else "transcripts")
    return tags


def _model_front_matter(facts: CardFacts) -> dict[str, Any]:
    meta: dict[str, Any] = {"license": "unknown"}  # pretty_name is a dataset card field
    lora = facts.loras[0] if facts.loras else None
    if lora and lora.base_model_id:
        meta["base_model"] = lora.base_model_id
    tags = ["datasety", "lora"] if facts.loras else ["datasety"]
    if lora and lora.base_model and IMAGE_PIPELINES.search(lora.base_model):
        meta["pipeline_tag"] = "text-to-image"
        tags.append("text-to-image")
    meta["tags"] = tags
    if lora and lora.triggers:
        meta["instance_prompt"] = lora.triggers[0]
    return meta


def merge(base: Mapping[str, Any], *overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` with the top-level keys of each override replacing its own (None drops one)."""
    merged = dict(base)
    for override in overrides:
        for key, value in (override or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
    return merged


def parse_metadata_yaml(text: str, what: str = "--metadata") -> dict[str, Any]:
    """A YAML mapping given by the user; one clear line when it is not one."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise DatasetyError(f"{what} is not valid YAML: {problem}") from exc
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DatasetyError(f"{what} must be a YAML mapping such as 'license: cc-by-4.0'")
    return value


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(front matter, body)`` of a Markdown text that may start with ``---`` YAML ``---``."""
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", text, re.S)
    if not match:
        return {}, text
    return parse_metadata_yaml(match.group(1), "the template's front matter"), text[match.end() :]


# -- body --------------------------------------------------------------------------------------


def sections(facts: CardFacts) -> dict[str, str]:
    """The generated body sections, by placeholder name."""
    found = {
        "name": facts.name,
        "repo_id": facts.repo_id,
        "type": facts.upload_type,
        "summary": _summary(facts),
        "contents": _contents(facts),
        "loading": _loading(facts),
        "samples": _samples(facts.loader),
        "model": _model(facts),
        "files": _files(facts),
    }
    found["body"] = "\n\n".join(
        part
        for part in (
            f"# {facts.name}",
            found["summary"],
            found["contents"],
            found["model"],
            found["loading"],
            found["samples"],
            found["files"],
        )
        if part
    )
    return found


def render_body(facts: CardFacts, template: str | None) -> str:
    """The card body: the generated one, or ``template`` with its placeholders filled."""
    filled = sections(facts)
    if template is None:
        return filled["body"] + "\n"
    unknown = sorted({m.group(1) for m in PLACEHOLDER.finditer(template)} - set(filled))
    if unknown:
        known = ", ".join("{{" + name + "}}" for name in filled)
        raise DatasetyError(
            f"--readme-template: unknown placeholder {{{{{unknown[0]}}}}} (known: {known})"
        )
    return PLACEHOLDER.sub(lambda m: filled[m.group(1)], template)


def render_card(front: Mapping[str, Any], body: str) -> str:
    """The README text: front matter between ``---`` lines, then the body."""
    dumped = yaml.safe_dump(dict(front), sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{dumped}---\n\n{body.lstrip()}"


def _summary(facts: CardFacts) -> str:
    what = {
        "image": "An image dataset",
        "audio": "A speech dataset",
        "video": "A video dataset",
        "document": "A document dataset",
        "generic": "A dataset",
        "model": "LoRA weights" if facts.loras else "Model weights",
    }[facts.upload_type]
    return (
        f"{what} prepared with datasety: {facts.file_count} files, "
        f"{human_bytes(facts.total_bytes)}."
    )


def _contents(facts: CardFacts) -> str:
    if facts.upload_type == "model":
        return ""
    loader = facts.loader
    lines = ["## Contents", "", "| | count |", "|---|---:|"]
    labels = {"image": "images", "audio": "audio files", "video": "videos", "caption": "captions"}
    for kind, label in labels.items():
        if facts.kinds.get(kind):
            lines.append(f"| {label} | {facts.kinds[kind]} |")
    if pairs(loader):
        lines.append(f"| control/target pairs | {pairs(loader)} |")
    if loader.row_count:
        with_text = sum(1 for row in loader.rows if row.get("text"))
        lines.append(f"| examples (rows) | {loader.row_count} |")
        if loader.generated is not None:
            lines.append(f"| examples with text | {with_text} |")
    if facts.kinds.get("audio"):
        hours = f"{facts.audio_seconds / 3600:.2f}"
        unknown = f" ({facts.audio_unknown} files of unknown length)" if facts.audio_unknown else ""
        lines.append(f"| hours of audio | {hours}{unknown} |")
    lines.append(f"| files | {facts.file_count} ({human_bytes(facts.total_bytes)}) |")
    words = facts.caption_words
    if words:
        lines += [
            "",
            f"Text length in words: min {words['min']}, median {words['median']}, "
            f"mean {words['mean']}, max {words['max']}.",
        ]
    return "\n".join(lines)


def _loading(facts: CardFacts) -> str:
    loader = facts.loader
    if facts.upload_type == "model" or not loader.builder:
        return ""
    columns = ", ".join(f"`{c}`" for c in loader.columns)
    lines = [
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'dataset = load_dataset("{facts.repo_id}", split="train")',
        "```",
        "",
        f"The `{loader.builder}` loader reads it" + (f"; columns: {columns}." if columns else "."),
    ]
    if loader.generated is not None:
        lines.append(
            "`metadata.jsonl` pairs each file with its text (from the caption sidecars "
            "and `metadata.csv`, which stay in the repository for trainers that read them)."
        )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).split())
    if len(text) > CELL_LIMIT:
        text = text[: CELL_LIMIT - 1] + "…"
    return text.replace("|", "\\|")


def _samples(loader: Loader) -> str:
    rows = loader.rows[:SAMPLE_ROWS]
    if not rows:
        return ""
    columns = list(rows[0])
    lines = [
        "## Sample rows",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _model(facts: CardFacts) -> str:
    if facts.upload_type != "model":
        return ""
    if not facts.loras:
        return "## Weights\n\nNo `.safetensors` file with training metadata was found."
    parts = []
    for lora in facts.loras:
        lines = [f"## `{lora.file}`", ""]
        lines.append(f"- Base model: {lora.base_model or 'not recorded in the file'}")
        triggers = ", ".join(f"`{t}`" for t in lora.triggers) or "none recorded"
        lines.append(f"- Trigger words: {triggers}")
        if lora.settings:
            lines += ["", "| training setting | value |", "|---|---|"]
            lines += [f"| {k} | {_cell(v)} |" for k, v in lora.settings.items()]
        if lora.base_model_id:
            lines += [
                "",
                "```python",
                "from diffusers import DiffusionPipeline",
                "",
                f'pipe = DiffusionPipeline.from_pretrained("{lora.base_model_id}")',
                f'pipe.load_lora_weights("{facts.repo_id}", weight_name="{lora.file}")',
                "```",
            ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _files(facts: CardFacts) -> str:
    if not facts.top_level:
        return ""
    lines = ["## Files", "", "```"]
    entries = list(facts.top_level.items())
    for name, count in entries[:FILE_ENTRIES]:
        lines.append(f"{name}  ({count} files)" if name.endswith("/") else name)
    if len(entries) > FILE_ENTRIES:
        lines.append(f"... and {len(entries) - FILE_ENTRIES} more")
    lines.append("```")
    return "\n".join(lines)
