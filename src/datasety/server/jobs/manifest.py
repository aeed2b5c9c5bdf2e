"""Job manifests: what a job created or overwrote, so that ``POST /v1/jobs/<id>/revert`` can
put its captions back and remove what it made.

Before a job starts, the folders its path arguments name (an existing folder: walked; a file:
its folder; a path that does not exist yet, such as an output folder: watched for what
appears) are listed, and the text of every caption sidecar in them (``.txt``,
``metadata.csv``) is kept (``<jobs dir>/<id>.before.json``). When the job ends they are listed
again: files that appeared are *created*, files whose size, mtime or inode changed are
*overwritten* (``<id>.manifest.json``). Revert removes created files, writes the captions back,
and refuses with 409, touching nothing, when any of those files changed since the job ended.
Other overwritten files (an image resized in place) are listed as not restorable.

Bounded: at most :data:`MAX_FILES` files listed and :data:`MAX_TEXT_BYTES` of caption text per
job; past either the job runs without a snapshot (revert answers 409). The manifest goes with
the job's other files when the runner prunes it (its ``keep_jobs`` retention).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from datasety.core import atomic, layout
from datasety.core.errors import ConflictError

log = logging.getLogger("datasety.server")

MAX_FILES = 20_000
MAX_TEXT_BYTES = 64 * 1024 * 1024
NO_SNAPSHOT = "Job has no snapshot"
ALREADY_REVERTED = "Job already reverted"

Stat = tuple[int, int, int]  # size, mtime_ns, inode


class TooLarge(Exception):
    """The folders hold more than the bounds allow."""


def _is_caption(name: str) -> bool:
    return layout.file_kind(name) == "caption" or name == layout.METADATA_CSV


def path_arguments(argv: list[str]) -> list[Path]:
    """Absolute paths among a job's arguments (after ``python -m datasety <command>``)."""
    found: list[Path] = []
    for arg in argv[4:]:
        if not arg.startswith("/"):
            continue
        path = Path(arg)
        if path.is_file():
            path = path.parent
        if path not in found and (path.is_dir() or path.parent.is_dir()):
            found.append(path)
    return found


def _listing(folders: list[Path]) -> dict[str, Stat]:
    files: dict[str, Stat] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for dirpath, dirnames, names in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in names:
                if name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path, follow_symlinks=False)
                except OSError:
                    continue
                files[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
                if len(files) > MAX_FILES:
                    raise TooLarge
    return files


def _read_texts(files: dict[str, Stat]) -> dict[str, str]:
    texts: dict[str, str] = {}
    total = 0
    for path, (size, _, _) in files.items():
        if not _is_caption(os.path.basename(path)):
            continue
        total += size
        if total > MAX_TEXT_BYTES:
            raise TooLarge
        try:
            texts[path] = Path(path).read_bytes().decode("utf-8", "surrogateescape")
        except OSError:
            continue
    return texts


def snapshot(jobs_dir: Path, job_id: str, argv: list[str]) -> None:
    """Keep the state of the job's folders before it starts (nothing past the bounds)."""
    folders = path_arguments(argv)
    if not folders:
        return  # nothing on disk named: nothing to revert
    try:
        files = _listing(folders)
        texts = _read_texts(files)
    except TooLarge:
        log.info("job %s: folders past the snapshot bounds, no revert", job_id)
        return
    record = {"folders": [str(f) for f in folders], "files": files, "texts": texts}
    atomic.atomic_write_text(jobs_dir / f"{job_id}.before.json", json.dumps(record), fsync=False)


def record_end(jobs_dir: Path, job_id: str) -> None:
    """Compare the job's folders now with its snapshot: the manifest of what it did."""
    before_path = jobs_dir / f"{job_id}.before.json"
    try:
        before = json.loads(before_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    try:
        after = _listing([Path(f) for f in before["folders"]])
    except TooLarge:
        before_path.unlink(missing_ok=True)
        return
    old: dict[str, list[int]] = before["files"]
    created = {p: st for p, st in after.items() if p not in old}
    overwritten = {p: st for p, st in after.items() if p in old and list(st) != old[p]}
    manifest = {
        "created": created,
        "overwritten": overwritten,
        "texts": {p: t for p, t in before["texts"].items() if p in overwritten},
        "ended_at": time.time(),
        "reverted_at": None,
    }
    atomic.atomic_write_text(jobs_dir / f"{job_id}.manifest.json", json.dumps(manifest))
    before_path.unlink(missing_ok=True)


def summary(jobs_dir: Path, job_id: str) -> dict[str, Any] | None:
    """The manifest's counts for the job's JSON, or None without one."""
    manifest = _load(jobs_dir, job_id)
    if manifest is None:
        return None
    return {
        "created": len(manifest["created"]),
        "overwritten": len(manifest["overwritten"]),
        "reverted_at": manifest["reverted_at"],
    }


def _load(jobs_dir: Path, job_id: str) -> dict[str, Any] | None:
    try:
        manifest: dict[str, Any] = json.loads(
            (jobs_dir / f"{job_id}.manifest.json").read_text(encoding="utf-8")
        )
    except FileNotFoundError:
        return None
    return manifest


def _current(path: str) -> list[int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def revert(jobs_dir: Path, job_id: str) -> dict[str, Any]:
    """Remove what the job created and write back the captions it overwrote; 409 (nothing
    done) without a manifest, after a revert, or when one of those files changed since."""
    manifest = _load(jobs_dir, job_id)
    if manifest is None:
        raise ConflictError(NO_SNAPSHOT)
    if manifest["reverted_at"] is not None:
        raise ConflictError(ALREADY_REVERTED)
    texts: dict[str, str] = manifest["texts"]
    touched = {**manifest["created"], **{p: manifest["overwritten"][p] for p in texts}}
    for path, stat in touched.items():
        now = _current(path)
        if now is not None and now != list(stat):
            raise ConflictError(f"Cannot revert: {path} changed since the job ended")
    removed = 0
    for path in manifest["created"]:
        if _current(path) is not None:
            os.unlink(path)
            removed += 1
    for path, text in texts.items():
        atomic.atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))
    manifest["reverted_at"] = time.time()
    atomic.atomic_write_text(jobs_dir / f"{job_id}.manifest.json", json.dumps(manifest))
    not_restored = sorted(p for p in manifest["overwritten"] if p not in texts)
    return {
        "status": "reverted",
        "restored": len(texts),
        "removed": removed,
        "not_restored": not_restored,
    }
