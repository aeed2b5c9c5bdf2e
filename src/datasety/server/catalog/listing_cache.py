"""Full listing bodies kept on disk, one per kind and dataset, of the catalog's latest version.

The full listing (the spec's default request) of a million files is a hundred megabytes of
JSON: it is streamed to the client as it is rendered and written beside it into the data dir;
while the dataset does not change, the next full listing is that file, read in chunks. Memory
never holds a whole body.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 256 * 1024


def _gzip_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    for chunk in chunks:
        packed = packer.compress(chunk)
        if packed:
            yield packed
    yield packer.flush()


def file_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """An open file's content in chunks; closes it at the end (or when the reader stops)."""
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def clear_folder(folder: Path) -> None:
    """Remove bodies left by an earlier run (their versions mean nothing now)."""
    shutil.rmtree(folder, ignore_errors=True)


class BodyCache:
    """The latest full body of each kind ((pairs?, gzip?)) of one dataset. Thread-safe.

    Without a folder nothing is kept: every full listing is rendered as it is streamed.
    """

    def __init__(self, folder: Path | None, key: str = "") -> None:
        self._folder = folder
        self._key = key
        self._lock = threading.Lock()
        self._versions: dict[tuple[bool, bool], int] = {}

    def _path(self, kind: tuple[bool, bool]) -> Path:
        assert self._folder is not None
        pair, gzipped = kind
        name = f"{self._key}-{'pairs' if pair else 'files'}.json{'.gz' if gzipped else ''}"
        return self._folder / name

    def open(self, version: int, pair: bool, gzipped: bool) -> tuple[BinaryIO, int] | None:
        """The kept body of ``version`` opened, and its length; None if there is none."""
        kind = (pair, gzipped)
        with self._lock:
            if self._folder is None or self._versions.get(kind) != version:
                return None
            try:
                handle = open(self._path(kind), "rb")  # noqa: SIM115 (closed by its reader)
            except OSError:
                del self._versions[kind]
                return None
        return handle, os.fstat(handle.fileno()).st_size

    def keep(
        self,
        version: int,
        pair: bool,
        gzipped: bool,
        chunks: Iterator[bytes],
        is_current: Callable[[int], bool],
    ) -> Iterator[bytes]:
        """``chunks`` (compressed if ``gzipped``), written to disk as they pass; the file is
        kept as the body of ``version`` if it is complete and ``version`` still current."""
        if gzipped:
            chunks = _gzip_chunks(chunks)
        if self._folder is None:
            yield from chunks
            return
        kind = (pair, gzipped)
        self._folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{self._key}-", suffix=".tmp", dir=self._folder)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    yield chunk
            with self._lock:
                if is_current(version):
                    os.replace(temp, self._path(kind))
                    self._versions[kind] = version
        finally:
            # An incomplete body (the client went away) or an outdated one is not kept.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    def clear(self) -> None:
        with self._lock:
            if self._folder is not None:
                for kind in self._versions:
                    with contextlib.suppress(OSError):
                        os.unlink(self._path(kind))
            self._versions.clear()
