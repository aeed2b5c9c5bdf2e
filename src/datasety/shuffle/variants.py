"""`shuffle` as plain functions: caption each image with one pick from every variant group.

A group comes from an inline ``a|b|c``, a ``.txt`` file (one variant per line), or an
``http(s)://`` URL with the same format. Every group is loaded and checked before anything
is written, so an unreachable URL or an empty group stops the run with nothing changed.

Each image's picks come from its own generator, derived from the seed and the image's
relative path: the same seed captions the same image the same way, whatever else is in
the folder.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from datasety import __version__
from datasety.core.errors import DatasetyError
from datasety.core.randomness import rng_for

URL_TIMEOUT_S = 10.0
URL_MAX_BYTES = 10 * 1024 * 1024


def split_lines(text: str) -> list[str]:
    """Variants from a file or URL body: one per line, trimmed, blank lines ignored."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def fetch_url(url: str, timeout: float = URL_TIMEOUT_S) -> str:
    """The UTF-8 text at ``url``, or a one-line :class:`DatasetyError` saying why not."""
    request = urllib.request.Request(url, headers={"User-Agent": f"datasety/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(URL_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise DatasetyError(f"--group {url}: the server answered HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise DatasetyError(f"--group {url}: cannot fetch: {exc.reason}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise DatasetyError(f"--group {url}: cannot fetch: {exc}") from exc
    if len(body) > URL_MAX_BYTES:
        raise DatasetyError(f"--group {url}: more than {URL_MAX_BYTES} bytes")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetyError(f"--group {url}: not UTF-8 text") from exc


def parse_group(value: str, timeout: float = URL_TIMEOUT_S) -> list[str]:
    """The variants of one ``--group`` value (URL, existing file, or inline ``a|b|c``)."""
    if value.startswith(("http://", "https://")):
        variants = split_lines(fetch_url(value, timeout))
        where = "URL"
    elif Path(value).is_file():
        try:
            text = Path(value).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetyError(f"--group {value}: cannot read: {exc}") from exc
        variants = split_lines(text)
        where = "file"
    elif value.lower().endswith(".txt") and "|" not in value:
        # Almost surely a mistyped path, not a one-variant group called "x.txt".
        raise DatasetyError(f"--group {value!r}: no such file")
    else:
        variants = [part.strip() for part in value.split("|") if part.strip()]
        where = "group"
    if not variants:
        raise DatasetyError(f"--group {value!r}: the {where} has no variants")
    return variants


def load_groups(values: Sequence[str], timeout: float = URL_TIMEOUT_S) -> list[list[str]]:
    """Every group's variants, in order; at least one group is required."""
    if not values:
        raise DatasetyError("at least one --group is required (e.g. --group 'a|b|c')")
    return [parse_group(value, timeout) for value in values]


def pick(groups: Sequence[Sequence[str]], seed: int, item: str) -> list[int]:
    """The index of the variant picked from each group for the image ``item``."""
    rng = rng_for(seed, "shuffle", item)
    return [int(rng.integers(len(group))) for group in groups]


def caption(groups: Sequence[Sequence[str]], picks: Sequence[int], separator: str) -> str:
    """The caption made of the picked variants joined by ``separator``."""
    return separator.join(group[index] for group, index in zip(groups, picks, strict=True))


def distribution_lines(
    groups: Sequence[Sequence[str]], counts: Sequence[Sequence[int]]
) -> list[str]:
    """How often each variant of each group was picked, as report lines."""
    lines = ["Distribution:"]
    for number, (group, group_counts) in enumerate(zip(groups, counts, strict=True), start=1):
        total = sum(group_counts)
        plural = "" if len(group) == 1 else "s"
        lines.append(f"  group {number} ({len(group)} variant{plural}):")
        for variant, count in zip(group, group_counts, strict=True):
            share = 100.0 * count / total if total else 0.0
            lines.append(f"    {count:6d} {share:5.1f}%  {variant}")
    return lines
