"""`datasety resize` over a folder or one file: naming, parallelism and reporting.

:func:`resize_images` and :func:`resize_single` are the plain functions behind the command:
they take parsed values, report every file through :class:`~datasety.core.progress.Progress` and
return the exit code. The pixels are :mod:`datasety.resize.image`'s business, the geometry
:mod:`datasety.resize.geometry`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from datasety.core.errors import DatasetyError
from datasety.core.inputs import OUTPUT_FORMATS, find_images
from datasety.core.parallel import imap, worker_count
from datasety.core.progress import Progress
from datasety.resize.image import Outcome, ResizeSpec, configure_worker, resize_file

# Threads, not processes: decoding (libjpeg-turbo), resizing and encoding (libvips) all run
# with the GIL released, so threads use every core without starting or forking processes.
THREADS = True


@dataclass(frozen=True)
class Task:
    """One file to resize; ``label`` is its path relative to the input folder."""

    src: Path
    dst: Path
    label: str
    spec: ResizeSpec


def run_task(task: Task) -> Outcome:
    """Worker entry point (module level so worker processes can unpickle it)."""
    return resize_file(task.src, task.dst, task.spec)


def resize_single(src: Path, dst: Path, spec: ResizeSpec, progress: Progress) -> int:
    """Resize one image file to ``dst`` (its folder is created); returns the exit code."""
    if not src.is_file():
        raise DatasetyError(f"--input-image {str(src)!r} does not exist or is not a file")
    if not spec.dry_run:
        dst.parent.mkdir(parents=True, exist_ok=True)
    _report(progress, Task(src, dst, src.name, spec), resize_file(src, dst, spec))
    return progress.finish()


def resize_images(
    src_dir: Path,
    dst_dir: Path,
    spec: ResizeSpec,
    *,
    extensions: Iterable[str],
    recursive: bool = False,
    name_numbers: bool = False,
    workers: int = 0,
    bar: bool = False,
) -> int:
    """Resize every image under ``src_dir`` into ``dst_dir``; returns the exit code.

    Subfolders (with ``recursive``) keep their place under ``dst_dir``. With ``name_numbers``
    the outputs are named 1, 2, 3 ... in sorted input order, counting only the images that are
    written, so a header-only pass decides which ones are skipped before any pixel is decoded.
    """
    files = find_images(src_dir, recursive=recursive, extensions=extensions)
    progress = Progress(total=len(files), bar=bar)
    if not files:
        progress.note(f"No images found in {str(src_dir)!r}")
        return progress.finish()
    pool_size = min(worker_count(workers), len(files))
    if spec.dry_run:
        progress.note("Dry run: nothing will be written")
    else:
        dst_dir.mkdir(parents=True, exist_ok=True)
    suffix = OUTPUT_FORMATS[spec.output_format][0]
    tasks: Iterable[Task] = _tasks(files, src_dir, dst_dir, suffix, spec, progress)
    if name_numbers:
        tasks = _numbered(tasks, spec, suffix, pool_size, progress)
    for task, outcome in imap(run_task, tasks, pool_size, configure_worker, threads=THREADS):
        _report(progress, task, outcome)
    return progress.finish()


def _tasks(
    files: list[Path],
    src_dir: Path,
    dst_dir: Path,
    suffix: str,
    spec: ResizeSpec,
    progress: Progress,
) -> Iterator[Task]:
    claimed: dict[Path, str] = {}
    for path in files:
        relative = path.relative_to(src_dir)
        dst = dst_dir / relative.parent / (relative.stem + suffix)
        label = relative.as_posix()
        if dst in claimed:
            # a.jpg and a.png would both become a.jpg: never overwrite one with the other.
            progress.failed(label, f"its output {dst.name} is already written for {claimed[dst]}")
            continue
        claimed[dst] = label
        yield Task(path, dst, label, spec)


def _numbered(
    tasks: Iterable[Task], spec: ResizeSpec, suffix: str, workers: int, progress: Progress
) -> list[Task]:
    # Pass 1 reads headers only (a dry run): skipped and unreadable files are reported now and
    # take no number, so the written files are exactly 1..N.
    numbered: list[Task] = []
    probe_spec = replace(spec, dry_run=True)
    probes = (replace(task, spec=probe_spec) for task in tasks)
    for probe, outcome in imap(run_task, probes, workers, configure_worker, threads=THREADS):
        if outcome.status != "processed":
            _report(progress, probe, outcome)
            continue
        dst = probe.dst.with_name(f"{len(numbered) + 1}{suffix}")
        numbered.append(replace(probe, dst=dst, spec=spec))
    return numbered


def _report(progress: Progress, task: Task, outcome: Outcome) -> None:
    if outcome.status == "processed":
        progress.processed(task.label, f"{task.label} {outcome.message} -> {task.dst.name}")
    elif outcome.status == "skipped":
        progress.skipped(task.label, outcome.message)
    else:
        progress.failed(task.label, outcome.message)
