"""Batched inference: images decoded on threads ahead of the model, batches bounded in memory.

The accelerator should never wait for JPEG decoding: a small pool of threads decodes the
next images while the model works on the current batch (Pillow releases the GIL while it
decodes). What is held at once is bounded: at most ``batch_size`` images and
``max_batch_bytes`` of decoded pixels per batch, and at most one batch decoded ahead.

:func:`run_batches` is the loop every model command shares: decode ahead, call the model
under ``torch.inference_mode``, hand each item its result, and turn failures into per-item
failures (or into one error when the very first batch fails: then the model itself is broken
and every later batch would fail the same way).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from PIL import Image

from datasety.core.errors import DatasetyError

T = TypeVar("T")
R = TypeVar("R")
D = TypeVar("D")

DEFAULT_BATCH_BYTES = 512 * 1024 * 1024
DECODE_THREADS = 2


@dataclass(frozen=True)
class Decoded(Generic[T, D]):
    """An item and what its decoder made of it, or why it could not be decoded."""

    item: T
    data: D | None
    nbytes: int = 0
    error: str | None = None


def decode_rgb(path: Path) -> Image.Image:
    """The image at ``path`` as RGB, fully decoded (so the file is closed)."""
    with Image.open(path) as image:
        return image.convert("RGB")


def decode_for_model(path: Path, min_size: tuple[int, int]) -> tuple[Image.Image, int, int]:
    """``(rgb, width, height)``: the image decoded for a model that resizes it to about
    ``min_size`` (width, height), and the image's full size.

    A JPEG decodes at a reduced scale (libjpeg's DCT scaling: a quarter of the work at half
    size) as long as the result stays at least ``min_size``: a model that resizes to 352x352
    gains nothing from the full 24 megapixels.
    """
    with Image.open(path) as image:
        width, height = image.size
        if image.format == "JPEG":
            image.draft("RGB", min_size)
        return image.convert("RGB"), width, height


def _decode(item: T, decode: Callable[[T], tuple[D, int]]) -> Decoded[T, D]:
    try:
        data, nbytes = decode(item)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return Decoded(item, None, 0, f"cannot read image: {exc}")
    return Decoded(item, data, nbytes)


def image_bytes(image: Image.Image) -> int:
    """Decoded size of ``image`` in memory."""
    return image.width * image.height * len(image.getbands())


def prefetched(
    items: Sequence[T],
    decode: Callable[[T], tuple[D, int]],
    batch_size: int,
    max_batch_bytes: int = DEFAULT_BATCH_BYTES,
    threads: int = DECODE_THREADS,
) -> Iterator[list[Decoded[T, D]]]:
    """Batches of decoded items, in order, decoded on ``threads`` threads one batch ahead.

    ``decode`` returns what the model takes for an item and how many bytes it holds. A batch
    closes at ``batch_size`` items or once it holds ``max_batch_bytes`` (a batch always has at
    least one item).
    """
    batch_size = max(1, batch_size)
    window = 2 * batch_size  # decodes in flight: the batch being filled and the next one
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="decode") as pool:
        pending: deque[Future[Decoded[T, D]]] = deque()
        upcoming = iter(items)

        def top_up() -> None:
            for item in upcoming:
                pending.append(pool.submit(_decode, item, decode))
                if len(pending) >= window:
                    return

        top_up()
        batch: list[Decoded[T, D]] = []
        held = 0
        while pending:
            decoded = pending.popleft().result()
            top_up()
            batch.append(decoded)
            held += decoded.nbytes
            if len(batch) >= batch_size or held >= max_batch_bytes:
                yield batch
                batch, held = [], 0
        if batch:
            yield batch


def run_batches(
    torch: Any,
    items: Sequence[T],
    decode: Callable[[T], tuple[D, int]],
    infer: Callable[[list[D]], Sequence[R]],
    handle: Callable[[T, D, R], None],
    fail: Callable[[T, str], None],
    succeeded: Callable[[], int],
    batch_size: int,
    model_name: str,
    max_batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> None:
    """Run ``infer`` over ``items`` in decoded batches and ``handle`` each result.

    ``torch`` (None for a model that is not torch's) puts each call under
    ``torch.inference_mode``.

    ``fail`` reports an item that could not be decoded or whose batch failed; ``succeeded``
    says how many items have been handled well so far. If the model fails before anything
    has succeeded, the model (or the installed library) is the problem: that is raised as one
    :class:`DatasetyError` instead of failing every item the same way.
    """
    for batch in prefetched(items, decode, batch_size, max_batch_bytes):
        ready: list[tuple[T, D]] = []
        for decoded in batch:
            if decoded.data is None:
                fail(decoded.item, decoded.error or "cannot read image")
            else:
                ready.append((decoded.item, decoded.data))
        if not ready:
            continue
        try:
            with torch.inference_mode() if torch is not None else nullcontext():
                results = infer([data for _, data in ready])
        except Exception as exc:  # noqa: BLE001 - third-party model code: report, keep going
            if succeeded() == 0:
                raise DatasetyError(
                    f"{model_name} failed: {type(exc).__name__}: {_first_line(exc)}"
                ) from exc
            for item, _ in ready:
                fail(item, f"{type(exc).__name__}: {_first_line(exc)}")
            continue
        for (item, data), result in zip(ready, results, strict=True):
            handle(item, data, result)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
