"""Benchmark: the catalog's CPU per query, in-process (issue 18): where a loaded box's wall
times drown the server's own work, process CPU time is the steadier figure.

    .venv/bin/python bench/bench_catalog_cpu.py                  # 100,000 files
    .venv/bin/python bench/bench_catalog_cpu.py --files 1000000

On bench_catalog.py's dataset (made once under bench/.work/), a fresh :class:`Catalog` with
inotify: the first full listing by stage (scan, entries built, captions read, JSON rendered),
then one full listing through ``listing()`` on a second fresh catalog; then, each in wall and
CPU milliseconds: a search for a new word (three words), the same word again, a word in every
caption (twice), ``missing=caption`` (twice), a ``folder`` page, ``folder`` with a search;
and the next page after another program adds an image, then removes it (three times).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from datasety.server.catalog.catalogs import Catalog, Query, _CaptionReader
from datasety.server.catalog.watch import FolderWatch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_catalog import SHARD, TINY_JPEG, make_dataset  # noqa: E402
from bench_resize import machine  # noqa: E402


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) milliseconds of ``work()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def stages(folder: Path) -> None:
    catalog = Catalog(folder, FolderWatch.open())
    try:
        entries: list[object] = []
        scan = timed(catalog._refresh)
        build = timed(lambda: entries.extend(catalog._all_entries()))

        def read_captions() -> None:
            with _CaptionReader(catalog) as reader:
                for entry in catalog._all_entries():
                    reader.caption(entry)

        captions = timed(read_captions)
        render = timed(lambda: b"".join(catalog._stream(catalog._all_entries(), False)))
        parts = (("scan", scan), ("build", build), ("captions", captions), ("render", render))
        print(
            "first full listing by stage, CPU ms: " + ", ".join(f"{n} {t[1]:.0f}" for n, t in parts)
        )
    finally:
        catalog.close()


def queries(folder: Path, files: int) -> None:
    catalog = Catalog(folder, FolderWatch.open())
    entries = files // 2

    def page(query: Query) -> Callable[[], object]:
        return lambda: catalog.listing(query).read()

    try:
        wall, cpu = timed(lambda: sum(len(c) for c in catalog.listing(Query()).chunks or ()))
        print(f"first full listing: {wall:.0f} ms wall, {cpu:.0f} ms CPU")
        shard = f"{(files // SHARD) // 2:05d}"
        asked = [
            ("q, a new word", Query(q=f"item{entries // 3}x", limit=100)),
            ("q, the same word", Query(q=f"item{entries // 3}x", limit=100)),
            ("q, a new word", Query(q=f"item{entries // 7}x", limit=100)),
            ("q, a new word", Query(q="zebra", limit=100)),
            ("q, in every caption", Query(q="photo", limit=100)),
            ("q, in every caption again", Query(q="photo", limit=100)),
            ("missing=caption", Query(missing_caption=True, limit=100)),
            ("missing=caption again", Query(missing_caption=True, limit=100)),
            ("folder", Query(folder=shard, limit=100)),
            ("folder and q", Query(folder=shard, q="item2", limit=100)),
        ]
        for label, query in asked:
            wall, cpu = timed(page(query))
            print(f"  {label:26} {wall:8.1f} ms wall {cpu:8.1f} ms CPU")
        added = folder / shard / "added.jpg"
        after = page(Query(limit=100, offset=entries // 4))
        for _ in range(3):
            added.write_bytes(TINY_JPEG)
            wall, cpu = timed(after)
            print(f"  {'next page, image added':26} {wall:8.1f} ms wall {cpu:8.1f} ms CPU")
            added.unlink()
            wall, cpu = timed(after)
            print(f"  {'next page, image removed':26} {wall:8.1f} ms wall {cpu:8.1f} ms CPU")
    finally:
        catalog.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    options = parser.parse_args()
    print(f"machine: {machine()}")
    folder = make_dataset(options.files).resolve()
    print(f"{options.files:,} files")
    stages(folder)
    queries(folder, options.files)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
