"""A dataset's statistics for the stats panel, from the catalog (no decoding): counts by kind,
caption coverage, resolution and aspect-ratio histograms, top caption words and tags; and on
request the lint findings of ``datasety inspect`` (which decodes every image).

The histograms, aspect buckets, caption statistics and findings are ``datasety inspect``'s own
(:mod:`datasety.inspect.report`), so the panel and the command never disagree. That module
brings numpy and Pillow: it is imported at the first stats request, not with the server.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from datasety.server.catalog.catalogs import Catalog, Query
from datasety.server.catalog.listing import MEDIA_KINDS

# Lint decodes every image: at most this many processes, so one request does not take the box.
LINT_WORKERS = 2
_WORD = re.compile(r"[^\W_]+")


def dataset_stats(catalog: Catalog, top: int) -> dict[str, Any]:
    """The statistics of the catalog's dataset; ``top``: length of the word and tag lists."""
    from datasety.inspect.report import aspect_bucket, caption_stats

    entries = catalog.selection(Query())
    kinds: Counter[str] = Counter(rec.kind for entry in entries for rec in entry)
    media = [entry for entry in entries if entry.has_media]
    captions = [text for text, _ in catalog.captions_of(media)]
    captioned = [text for text in captions if text.strip()]
    sizes = [catalog.image_size(entry) for entry in media]
    known = [size for size in sizes if size is not None and size[1]]
    resolutions = Counter(known)
    ratios = Counter(aspect_bucket(w, h) for w, h in known)
    words: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for text in captioned:
        words.update(_WORD.findall(text.lower()))
        tags.update(tag for tag in (part.strip() for part in text.split(",")) if tag)
    return {
        "entries": len(media),
        "files": sum(kinds.values()),
        "kinds": {kind: kinds.get(kind, 0) for kind in (*sorted(MEDIA_KINDS), "caption", "other")},
        "captions": {
            "with": len(captioned),
            "without": len(media) - len(captioned),
            "coverage": round(len(captioned) / len(media), 4) if media else 0.0,
            **caption_stats(captions),
        },
        "resolutions": [
            {"width": w, "height": h, "count": n} for (w, h), n in resolutions.most_common(top)
        ],
        "aspect_ratios": [{"ratio": r, "count": n} for r, n in ratios.most_common(top)],
        "top_words": [{"word": w, "count": n} for w, n in _most_common(words, top)],
        "top_tags": [{"tag": t, "count": n} for t, n in _most_common(tags, top)],
    }


def folder_counts(catalog: Catalog) -> list[dict[str, Any]]:
    """Each folder holding media entries, in path order, with how many are directly in it
    (a role folder's images count in the folder of their group, as the listing shows them)."""
    counts = Counter(entry.path for entry in catalog.selection(Query(media_only=True)))
    return [{"path": path, "entries": counts[path]} for path in sorted(counts)]


def _most_common(counts: Counter[str], top: int) -> list[tuple[str, int]]:
    """The ``top`` most common, ties in alphabetical order (the same answer every time)."""
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:top]


def lint(root: Path) -> dict[str, list[Any]]:
    """``datasety inspect``'s findings for the dataset folder ``root``."""
    from datasety.inspect.report import inspect_dataset

    return inspect_dataset(root, workers=LINT_WORKERS).findings
