"""What ``--input`` names: a media file, a folder of them, a ``.txt`` list (one file or URL
per line), or a URL. A URL is fetched into the run's temporary folder when its turn comes
(yt-dlp when it is installed, which knows video sites; else a plain HTTP download)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from datasety.core.errors import DatasetyError
from datasety.core.layout import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS
DOWNLOAD_TIMEOUT = 15.0


@dataclass(frozen=True)
class Source:
    """One recording: a local path or a URL, an optional time range, and a stable name
    (the file's stem, a video id, or a hash of the URL) for clip names and resume state."""

    location: str
    name: str
    is_url: bool = False
    start: float | None = None
    end: float | None = None


def _natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", path.name)
        if part
    )


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _url_source(url: str) -> Source:
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    start = _seconds(query.get("start", [None])[0])
    end = _seconds(query.get("end", [None])[0])
    video_id = query.get("v", [None])[0]
    if "youtu.be" in parsed.netloc:
        video_id = parsed.path.strip("/").split("/")[0] or None
    name = video_id or hashlib.md5(url.encode()).hexdigest()[:12]
    return Source(url, name, True, start, end)


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.rstrip("s"))
    except ValueError:
        return None


def find_sources(spec: str) -> list[Source]:
    """The recordings ``spec`` names, in order (a folder's files sorted naturally: 2 before
    10). Raises one line when it names nothing usable."""
    if is_url(spec):
        return [_url_source(spec)]
    path = Path(spec)
    if path.is_dir():
        files = [
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in MEDIA_EXTENSIONS
        ]
        if not files:
            raise DatasetyError(f"--input {spec!r} holds no audio or video files")
        return [Source(str(p), p.stem) for p in sorted(files, key=_natural_key)]
    if not path.is_file():
        raise DatasetyError(f"--input {spec!r} does not exist")
    if path.suffix.lower() == ".txt":
        return _listed(path)
    return [Source(str(path), path.stem)]


def _listed(path: Path) -> list[Source]:
    sources: list[Source] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if is_url(entry):
            sources.append(_url_source(entry))
            continue
        local = Path(entry) if Path(entry).is_absolute() else path.parent / entry
        if not local.is_file():
            raise DatasetyError(f"{path.name} lists {entry!r}, which does not exist")
        sources.append(Source(str(local), local.stem))
    if not sources:
        raise DatasetyError(f"--input {str(path)!r} lists no files or URLs")
    return sources


def unique_names(sources: list[Source]) -> list[Source]:
    """``sources`` with repeated names made distinct (``a``, ``a-2``): clip names and resume
    state are keyed by them."""
    seen: dict[str, int] = {}
    out = []
    for source in sources:
        count = seen.get(source.name, 0) + 1
        seen[source.name] = count
        name = source.name if count == 1 else f"{source.name}-{count}"
        out.append(Source(source.location, name, source.is_url, source.start, source.end))
    return out


def fetch(source: Source, folder: Path) -> Path:
    """The local file of ``source``: itself, or its URL downloaded into ``folder``. An
    unreachable URL is one line."""
    if not source.is_url:
        return Path(source.location)
    try:
        import yt_dlp
    except ImportError:
        return _http_download(source.location, folder / f"{source.name}.download")
    options = {
        "outtmpl": str(folder / f"{source.name}.%(ext)s"),
        "format": "bestaudio/best",
        "quiet": True,
        "noprogress": True,
        "socket_timeout": DOWNLOAD_TIMEOUT,
        "retries": 1,
    }
    try:
        with yt_dlp.YoutubeDL(options) as downloader:
            info = downloader.extract_info(source.location, download=True)
            return Path(downloader.prepare_filename(info))
    except Exception as exc:  # noqa: BLE001 - yt-dlp raises many kinds; each is one line
        raise DatasetyError(f"cannot download {source.location}: {_first_line(exc)}") from exc


def _http_download(url: str, dest: Path) -> Path:
    import httpx

    try:
        with (
            httpx.stream("GET", url, timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as reply,
            open(dest, "wb") as handle,
        ):
            reply.raise_for_status()
            for chunk in reply.iter_bytes(1 << 20):
                handle.write(chunk)
    except httpx.HTTPError as exc:
        dest.unlink(missing_ok=True)
        raise DatasetyError(f"cannot download {url}: {_first_line(exc)}") from exc
    return dest


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
