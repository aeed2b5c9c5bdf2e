"""The dataset report behind ``datasety inspect``: statistics and lint findings.

:func:`inspect_dataset` walks a folder once, decodes every image once (in a process pool,
JPEGs at reduced scale through Pillow's draft mode) and returns an :class:`InspectReport`.
Rendering is the caller's business; :meth:`InspectReport.to_dict` is the JSON shape.

Findings, each a list (paths are relative to the dataset root, POSIX style):

* ``images_without_captions``: images with no ``.txt`` sidecar; a control/target pair counts
  as captioned when its group caption or either side's sidecar exists, and masks and other
  control maps need none;
* ``captions_without_images``: ``.txt`` files that belong to no image, audio or video file;
* ``pairs_missing_side``: ``{"file", "missing"}`` for an input without a target or the reverse;
* ``pair_size_mismatch``: ``{"input", "target", "input_size", "target_size"}``;
* ``mask_size_mismatch``: ``{"mask", "image", "mask_size", "image_size"}``;
* ``masks_without_image``: masks whose group has no image;
* ``unreadable``: ``{"file", "error"}`` for images that do not decode (unknown, corrupt,
  truncated) and captions or metadata.csv files that are not UTF-8 text;
* ``exact_duplicates`` / ``near_duplicates``: groups of paths with the same bytes / within
  the perceptual-hash threshold (masks and control maps are skipped: they repeat by nature);
* ``metadata_rows_without_audio``: ``{"file", "id"}`` rows of a metadata.csv with no audio
  file of that stem under its folder;
* ``audio_without_metadata_rows``: audio files under a metadata.csv folder with no row.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import posixpath
import statistics
import struct
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from datasety.core.errors import DatasetyError
from datasety.core.layout import (
    METADATA_CSV,
    caption_candidates,
    file_kind,
    metadata_id,
    parse_metadata,
    placement,
    sidecar_path,
)
from datasety.core.parallel import imap
from datasety.media.perceptual import near_groups, phash

KINDS = ("image", "caption", "audio", "video", "other")
PAIR_ROLES = ("input", "target")
# Measured on 40 photo-like images: a 10% brighter, re-encoded (q60) or half-size copy lands
# at most 8 bits away (mean 2-4), while unrelated images were at least 16 apart (1st pct 20).
DEFAULT_NEAR_THRESHOLD = 8
FINDINGS = (
    "images_without_captions",
    "captions_without_images",
    "pairs_missing_side",
    "pair_size_mismatch",
    "mask_size_mismatch",
    "masks_without_image",
    "unreadable",
    "exact_duplicates",
    "near_duplicates",
    "metadata_rows_without_audio",
    "audio_without_metadata_rows",
)

# Common training aspect ratios (landscape; portrait ones are their mirror images).
_COMMON_RATIOS = ((1, 1), (5, 4), (4, 3), (3, 2), (16, 10), (16, 9), (2, 1), (21, 9))
_RATIO_TOLERANCE = 0.03  # relative: 1.35 still counts as 4:3, 1.40 does not

# What a broken image can raise from Pillow: unknown format, truncated or corrupt data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)

POOL_MIN_IMAGES = 64

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ImageFacts:
    """What one decode of an image tells: its size, content digest and perceptual hash."""

    path: str
    size: tuple[int, int] | None
    digest: str | None
    phash: int | None
    error: str | None = None


def read_image_facts(root: str, path: str) -> ImageFacts:
    """Read and fully decode one image (a worker function: top level, so it pickles)."""
    try:
        data = Path(root, path).read_bytes()
    except OSError as exc:
        return ImageFacts(path, None, None, None, exc.strerror or str(exc))
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            # JPEG: let libjpeg decode at 1/2..1/8 scale; the hash needs only 32x32 pixels.
            image.draft("L", (64, 64))
            # load() decodes every byte, which is what finds a truncated file.
            image.load()
            return ImageFacts(path, size, digest, phash(image))
    except UnidentifiedImageError:
        # Pillow's own message names the in-memory buffer, which tells the user nothing.
        return ImageFacts(path, None, digest, None, "cannot identify image file (not an image?)")
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
        return ImageFacts(path, None, digest, None, " ".join(str(exc).split()) or repr(exc))


def aspect_bucket(width: int, height: int) -> str:
    """``"16:9"``, ``"2:3"``... for common ratios within 3%, else ``"1.85:1"`` style."""
    ratio = width / height
    for a, b in _COMMON_RATIOS:
        for w, h in {(a, b), (b, a)}:
            if abs(math.log(ratio / (w / h))) <= _RATIO_TOLERANCE:
                return f"{w}:{h}"
    return f"{ratio:.2f}:1" if ratio >= 1 else f"1:{1 / ratio:.2f}"


@dataclass
class InspectReport:
    """Statistics and findings for one dataset folder."""

    root: str
    recursive: bool
    counts: dict[str, int]
    total_bytes: int
    resolutions: dict[str, int]
    aspect_ratios: dict[str, int]
    captions: dict[str, Any]
    findings: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def finding_count(self) -> int:
        """Total number of entries over all findings."""
        return sum(len(entries) for entries in self.findings.values())

    def to_dict(self) -> dict[str, Any]:
        """The report as one JSON-ready document."""
        return {
            "root": self.root,
            "recursive": self.recursive,
            "counts": self.counts,
            "total_bytes": self.total_bytes,
            "resolutions": self.resolutions,
            "aspect_ratios": self.aspect_ratios,
            "captions": self.captions,
            "findings": self.findings,
            "finding_count": self.finding_count,
        }


# -- walking -----------------------------------------------------------------------------------


def list_files(root: Path, recursive: bool) -> list[str]:
    """Dataset-relative POSIX paths of every file, sorted; hidden names and symlinked
    folders are skipped (hidden covers :mod:`datasety.core.atomic`'s temporary files)."""
    try:
        return sorted(_walk(root, "", recursive))
    except OSError as exc:
        # An unreadable folder: one line naming it, not a traceback or a partial report.
        reason = exc.strerror or str(exc)
        raise DatasetyError(f"cannot read folder {str(exc.filename or root)!r}: {reason}") from exc


def _walk(folder: Path, prefix: str, recursive: bool) -> Iterator[str]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from _walk(Path(entry.path), rel + "/", recursive)
            elif entry.is_file():
                yield rel


def _decode_all(
    root: Path, images: list[str], workers: int, on_progress: ProgressCallback | None
) -> dict[str, ImageFacts]:
    # A pool costs a process start per worker (a fresh interpreter under forkserver), while a
    # drafted JPEG decodes in ~7 ms: below a few dozen images one process is quicker.
    workers = workers if len(images) > POOL_MIN_IMAGES else 1
    facts: dict[str, ImageFacts] = {}
    for path, result in imap(partial(read_image_facts, str(root)), images, workers):
        facts[path] = result
        if on_progress:
            on_progress(len(facts), len(images), path)
    return facts


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


# -- the report --------------------------------------------------------------------------------


def inspect_dataset(
    root: Path,
    *,
    recursive: bool = True,
    near_threshold: int = DEFAULT_NEAR_THRESHOLD,
    workers: int = 0,
    on_progress: ProgressCallback | None = None,
) -> InspectReport:
    """Statistics and lint findings for the dataset folder ``root``.

    ``workers`` decode processes (0: one per CPU core); ``on_progress(done, total, path)`` is
    called after each image.
    """
    files = list_files(root, recursive)
    kinds = {path: file_kind(path) for path in files}
    by_kind: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for path in files:
        by_kind[kinds[path]].append(path)
    facts = _decode_all(root, by_kind["image"], workers, on_progress)
    findings: dict[str, list[Any]] = {name: [] for name in FINDINGS}
    findings["unreadable"] = [
        {"file": f.path, "error": f.error} for f in facts.values() if f.error is not None
    ]

    texts: dict[str, str] = {}
    for path in by_kind["caption"]:
        text = _read_text(root / path)
        if text is None:
            findings["unreadable"].append({"file": path, "error": "not UTF-8 text"})
        else:
            texts[path] = text

    _caption_findings(by_kind, set(by_kind["caption"]), findings)
    _group_findings(by_kind["image"], facts, findings)
    _duplicate_findings(root, by_kind, facts, near_threshold, findings)
    _metadata_findings(root, files, by_kind["audio"], findings)
    findings["unreadable"].sort(key=lambda entry: entry["file"])

    sizes = [f.size for f in facts.values() if f.size]
    resolutions = Counter(f"{w}x{h}" for w, h in sizes)
    ratios = Counter(aspect_bucket(w, h) for w, h in sizes)
    return InspectReport(
        root=str(root),
        recursive=recursive,
        counts={kind: len(by_kind[kind]) for kind in KINDS},
        total_bytes=sum((root / path).stat().st_size for path in files),
        resolutions=dict(resolutions.most_common()),
        aspect_ratios=dict(ratios.most_common()),
        captions=caption_stats(texts.values()),
        findings=findings,
    )


def caption_stats(texts: Iterable[str]) -> dict[str, Any]:
    """Counts, empty captions, and min/median/mean/max of words and characters.

    Word and character statistics cover the non-empty captions; ``empty`` counts the rest.
    """
    stripped = [text.strip() for text in texts]
    filled = [text for text in stripped if text]
    stats: dict[str, Any] = {"count": len(stripped), "empty": len(stripped) - len(filled)}
    for name, values in (
        ("words", [len(text.split()) for text in filled]),
        ("chars", [len(text) for text in filled]),
    ):
        stats[name] = (
            {
                "min": min(values),
                "median": statistics.median(values),
                "mean": round(statistics.fmean(values), 1),
                "max": max(values),
            }
            if values
            else None
        )
    return stats


def _caption_findings(
    by_kind: dict[str, list[str]], captions: set[str], findings: dict[str, list[Any]]
) -> None:
    claimed: set[str] = set()
    pair_groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for path in by_kind["image"]:
        candidates = caption_candidates(path)
        claimed.update(candidates)
        where = placement(path)
        if where.role in PAIR_ROLES:
            pair_groups[(where.group_dir, where.base)].append((where.role, path))
        elif where.role is None and candidates[0] not in captions:
            findings["images_without_captions"].append(path)
    for members in pair_groups.values():
        # One caption serves the whole pair: the group's, or either side's own sidecar.
        if not any(c in captions for _, path in members for c in caption_candidates(path)):
            # Name the target (what the model learns to produce), else the input.
            members.sort(key=lambda member: (member[0] != "target", member[1]))
            findings["images_without_captions"].append(members[0][1])
    for path in by_kind["audio"] + by_kind["video"]:
        claimed.add(sidecar_path(path))
    findings["images_without_captions"].sort()
    findings["captions_without_images"] = sorted(captions - claimed)


def _group_findings(
    images: list[str], facts: dict[str, ImageFacts], findings: dict[str, list[Any]]
) -> None:
    groups: dict[tuple[str, str], dict[str | None, list[str]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for path in images:
        where = placement(path)
        groups[(where.group_dir, where.base)][where.role].append(path)

    def size(path: str) -> list[int] | None:
        found = facts[path].size
        return list(found) if found else None

    for _, roles in sorted(groups.items()):
        inputs, targets = roles.get("input", []), roles.get("target", [])
        if bool(inputs) != bool(targets):
            missing = "target" if inputs else "input"
            for path in inputs or targets:
                findings["pairs_missing_side"].append({"file": path, "missing": missing})
        if inputs and targets:
            a, b = size(inputs[0]), size(targets[0])
            if a and b and a != b:
                findings["pair_size_mismatch"].append(
                    {"input": inputs[0], "target": targets[0], "input_size": a, "target_size": b}
                )
        candidates = targets or inputs or roles.get(None, [])
        partner = candidates[0] if candidates else None
        for mask in roles.get("mask", []):
            if partner is None:
                findings["masks_without_image"].append(mask)
                continue
            a, b = size(mask), size(partner)
            if a and b and a != b:
                findings["mask_size_mismatch"].append(
                    {"mask": mask, "image": partner, "mask_size": a, "image_size": b}
                )


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _duplicate_findings(
    root: Path,
    by_kind: dict[str, list[str]],
    facts: dict[str, ImageFacts],
    near_threshold: int,
    findings: dict[str, list[Any]],
) -> None:
    # Masks and control maps (all-white masks, edge maps) repeat by nature: not worth a word.
    images = [path for path in by_kind["image"] if placement(path).role in (None, *PAIR_ROLES)]
    digests = {path: facts[path].digest for path in images if facts[path].digest}
    # Audio and video are hashed only when another file has the same byte size.
    by_size: dict[int, list[str]] = defaultdict(list)
    for path in by_kind["audio"] + by_kind["video"]:
        by_size[(root / path).stat().st_size].append(path)
    for same_size in by_size.values():
        if len(same_size) > 1:
            digests.update({path: _file_digest(root / path) for path in same_size})
    by_digest: dict[str, list[str]] = defaultdict(list)
    for path, digest in digests.items():
        if digest:
            by_digest[digest].append(path)
    findings["exact_duplicates"] = sorted(sorted(g) for g in by_digest.values() if len(g) > 1)

    hashed = [path for path in images if facts[path].phash is not None]
    hashes = [facts[path].phash or 0 for path in hashed]
    for group in near_groups(hashes, near_threshold):
        paths = [hashed[i] for i in group]
        # A group of byte-identical files is already an exact duplicate.
        if len({digests.get(path) for path in paths}) > 1:
            findings["near_duplicates"].append(paths)


def _metadata_findings(
    root: Path, files: list[str], audio: list[str], findings: dict[str, list[Any]]
) -> None:
    tables = [path for path in files if posixpath.basename(path) == METADATA_CSV]
    folders = {posixpath.dirname(path): path for path in tables}
    governed: dict[str, list[str]] = defaultdict(list)
    for path in audio:
        folder = posixpath.dirname(path)
        while folder not in folders and folder:
            folder = posixpath.dirname(folder)
        if folder in folders:
            governed[folders[folder]].append(path)
    for table in tables:
        content = _read_text(root / table)
        if content is None:
            findings["unreadable"].append({"file": table, "error": "not UTF-8 text"})
            continue
        rows = parse_metadata(content)
        ids = {metadata_id(path) for path in governed[table]}
        findings["metadata_rows_without_audio"] += [
            {"file": table, "id": row_id} for row_id in rows if row_id not in ids
        ]
        findings["audio_without_metadata_rows"] += [
            path for path in governed[table] if metadata_id(path) not in rows
        ]
    findings["audio_without_metadata_rows"].sort()
