"""Run a function over many items on every core, with bounded memory.

:func:`imap` keeps at most ``2 * workers`` items in flight, so a batch of 100,000 files
holds a handful of tasks and results at a time, never one future per file. Worker processes
(not threads) because image decoding holds the GIL in places and each core should decode its
own file. A worker that gets SIGTERM (a job's cancel reaches the whole process group) raises
SystemExit inside the task, so the task's atomic writer removes its temporary file.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from itertools import islice
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

T = TypeVar("T")
R = TypeVar("R")


def worker_count(requested: int) -> int:
    """``--workers``: 0 means one per CPU core available to this process."""
    if requested > 0:
        return requested
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def imap(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int = 0,
    initializer: Callable[[], None] | None = None,
    *,
    threads: bool = False,
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` for every item, in input order.

    ``workers`` 0 means one per core; 1 runs in this process (no pool to start). ``fn`` and
    the items must be picklable; ``fn`` should turn an expected per-item failure into a
    result, because an exception from it ends the whole map.

    ``threads=True`` uses threads instead of processes: right when ``fn`` spends its time in
    C code that releases the GIL (libvips, libjpeg-turbo), because threads start instantly,
    share memory and never fork a process that has threads of its own.
    """
    workers = worker_count(workers)
    if workers <= 1:
        if initializer is not None:
            initializer()
        for item in items:
            yield item, fn(item)
        return
    pool: Executor
    if threads:
        pool = ThreadPoolExecutor(workers, initializer=initializer)
    else:
        # Imported on demand: multiprocessing costs every command start ~20 ms otherwise.
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=initializer)
    try:
        # Signals reach only the main thread; in threads SIGTERM is the main thread's business.
        task = fn if threads else partial(_call_interruptibly, fn)
        yield from _bounded(pool, task, iter(items), 2 * workers)
    finally:
        # On an error or SystemExit (SIGTERM) drop the queued tasks and let running ones end:
        # each writes atomically, so no partial file is left behind.
        pool.shutdown(wait=True, cancel_futures=True)


def _bounded(
    pool: Executor, fn: Callable[[T], R], items: Iterator[T], window: int
) -> Iterator[tuple[T, R]]:
    # A FIFO of at most `window` futures: results come back in input order while the
    # other workers keep going on the items behind the one being waited for.
    pending: deque[tuple[T, Future[R]]] = deque()
    for item in islice(items, window):
        pending.append((item, pool.submit(fn, item)))
    while pending:
        item, future = pending.popleft()
        result = future.result()
        for following in islice(items, 1):
            pending.append((following, pool.submit(fn, following)))
        yield item, result


def _call_interruptibly(fn: Callable[[T], R], item: T) -> R:
    # Only while a task runs: an idle worker may just die on SIGTERM, it has nothing to clean.
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        return fn(item)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _context() -> BaseContext:
    # fork starts workers in milliseconds and they inherit the imported modules, but forking a
    # process that already runs threads (libvips' pool, a server) can deadlock the child; then
    # the forkserver, which forks from a clean single-threaded process, is the safe choice.
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and _single_threaded():
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def _single_threaded() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False
