"""Driving a caption batch: what to do, either backend, progress, and atomic writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from PIL import Image

from datasety.atomic import atomic_write_text
from datasety.captioning.targets import CaptionTarget, read_caption
from datasety.captioning.text import apply_template, edit_caption
from datasety.errors import DatasetyError
from datasety.progress import Progress

if TYPE_CHECKING:
    from datasety.captioning.api import ApiSettings
    from datasety.captioning.local import LocalSettings


def select_targets(
    targets: Sequence[CaptionTarget], skip_existing: bool, progress: Progress
) -> list[CaptionTarget]:
    """The targets to caption; the others are reported as skipped, with the reason."""
    owners: dict[str, str] = {}
    todo = []
    for target in targets:
        owner = owners.setdefault(str(target.caption), target.name)
        if owner != target.name:
            # photo.jpg and photo.png share photo.txt: captioning both would lose one caption.
            progress.skipped(target.name, f"{target.caption.name} is the caption of {owner}")
        elif skip_existing and read_caption(target.caption) is not None:
            progress.skipped(target.name, "caption exists")
        else:
            todo.append(target)
    return todo


def write_caption(
    target: CaptionTarget, text: str, progress: Progress, dry_run: bool = False
) -> None:
    """Write ``text`` as the caption of ``target`` (atomically) and report it."""
    preview = text if len(text) <= 80 else text[:77] + "..."
    if dry_run:
        progress.processed(target.name, f"would write {target.caption}: {preview}")
        return
    try:
        target.caption.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target.caption, text)
    except OSError as exc:
        # A read-only folder or a full disk fails this caption, not the batch.
        progress.failed(target.name, f"cannot write {target.caption}: {exc.strerror or exc}")
        return
    progress.processed(target.name, f"{target.name}: {preview}")


def save_generated(
    target: CaptionTarget, caption: str, template: str | None, progress: Progress
) -> None:
    """A generated caption through ``--template`` to disk; an empty one is a failure."""
    if not caption:
        progress.failed(target.name, "the model answered with an empty caption")
        return
    write_caption(target, apply_template(template, caption), progress)


def edit_captions(
    targets: Sequence[CaptionTarget],
    append: str | None,
    prepend: str | None,
    progress: Progress,
    dry_run: bool = False,
) -> None:
    """``--append`` / ``--prepend``: edit existing captions; no model runs.

    An image without a caption is skipped (there is nothing to edit: caption it first); a
    caption that already carries the text is skipped, so an edit can be re-run safely.
    """
    for target in targets:
        existing = read_caption(target.caption)
        if existing is None:
            progress.skipped(target.name, "no caption to edit")
            continue
        edited = edit_caption(existing, append, prepend)
        if edited is None:
            progress.skipped(target.name, "caption already has the text")
            continue
        write_caption(target, edited, progress, dry_run)


def preview_generation(targets: Sequence[CaptionTarget], progress: Progress) -> None:
    """``--dry-run``: say what would be captioned, loading no model and writing nothing."""
    for target in targets:
        progress.processed(target.name, f"would caption {target.name} -> {target.caption}")


# -- local model ------------------------------------------------------------------------------

Loaded = list[tuple[CaptionTarget, "Image.Image | str"]]


def _load_batch(batch: Sequence[CaptionTarget]) -> Loaded:
    loaded: Loaded = []
    for target in batch:
        try:
            with Image.open(target.image) as image:
                loaded.append((target, image.convert("RGB")))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            loaded.append((target, f"cannot read image: {exc}"))
    return loaded


def _prefetched(targets: Sequence[CaptionTarget], batch_size: int) -> Iterator[Loaded]:
    # Decode the next batch in a thread while the model works on this one.
    batches = [targets[i : i + batch_size] for i in range(0, len(targets), batch_size)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="caption-load") as loader:
        upcoming: Future[Loaded] | None = (
            loader.submit(_load_batch, batches[0]) if batches else None
        )
        for index in range(len(batches)):
            assert upcoming is not None
            current = upcoming.result()
            has_next = index + 1 < len(batches)
            upcoming = loader.submit(_load_batch, batches[index + 1]) if has_next else None
            yield current


def caption_locally(
    targets: Sequence[CaptionTarget],
    settings: LocalSettings,
    template: str | None,
    batch_size: int,
    progress: Progress,
) -> None:
    """Caption ``targets`` with a local model, loaded once and run ``batch_size`` at a time."""
    from datasety.captioning.local import LocalCaptioner

    if not targets:
        return
    progress.note(f"Loading {settings.model} ...")
    captioner = LocalCaptioner(settings)
    progress.note(f"Model {captioner.model_id} on {captioner.device} ({captioner.mode} prompts)")
    for loaded in _prefetched(targets, batch_size):
        ready = []
        for target, image in loaded:
            if isinstance(image, str):
                progress.failed(target.name, image)
            else:
                ready.append((target, image))
        if not ready:
            continue
        try:
            captions = captioner.caption([image for _, image in ready])
        except Exception as exc:  # noqa: BLE001 - third-party model code: report, keep going
            if progress.n_processed == 0:
                # Nothing has worked yet: the model or the installed transformers is the
                # problem, and every later batch would fail the same way.
                raise DatasetyError(
                    f"{captioner.model_id} failed to caption: {type(exc).__name__}: {exc}"
                ) from exc
            for target, _ in ready:
                progress.failed(target.name, f"{type(exc).__name__}: {exc}")
            continue
        for (target, _), caption in zip(ready, captions, strict=True):
            save_generated(target, caption, template, progress)


# -- OpenAI-compatible API --------------------------------------------------------------------


def caption_via_api(
    targets: Sequence[CaptionTarget],
    settings: ApiSettings,
    template: str | None,
    concurrency: int,
    progress: Progress,
) -> None:
    """Caption ``targets`` through the API, ``concurrency`` requests at a time."""
    from datasety.captioning.api import ApiCaptioner, CaptionFailed, caption_all

    if not targets:
        return
    progress.note(f"API {settings.base_url}, model {settings.model}")
    by_image = {target.image: target for target in targets}
    captioner = ApiCaptioner(settings)
    try:
        for path, result in caption_all(captioner, by_image, concurrency):
            target = by_image[path]
            if isinstance(result, CaptionFailed):
                progress.failed(target.name, str(result))
            else:
                save_generated(target, result, template, progress)
    finally:
        captioner.close()
