"""Driving a caption batch: what to do, either backend, progress, and atomic writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from datasety.captioning.targets import CaptionTarget, read_caption
from datasety.captioning.text import apply_template, edit_caption
from datasety.core.atomic import atomic_write_text
from datasety.core.progress import Progress

if TYPE_CHECKING:
    from PIL.Image import Image

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


def caption_locally(
    targets: Sequence[CaptionTarget],
    settings: LocalSettings,
    template: str | None,
    batch_size: int,
    progress: Progress,
) -> None:
    """Caption ``targets`` with a local model, loaded once and run ``batch_size`` at a time."""
    from datasety.captioning.local import LocalCaptioner
    from datasety.models.batching import decode_rgb, image_bytes, run_batches

    def decode(target: CaptionTarget) -> tuple[Image, int]:
        image = decode_rgb(target.image)
        return image, image_bytes(image)

    if not targets:
        return
    captioner = LocalCaptioner(settings)
    progress.note(
        f"Model {captioner.model_id} on {captioner.device.describe()} ({captioner.mode} prompts)"
    )
    run_batches(
        captioner.torch,
        targets,
        decode=decode,
        infer=captioner.caption,
        handle=lambda target, _, caption: save_generated(target, caption, template, progress),
        fail=lambda target, reason: progress.failed(target.name, reason),
        succeeded=lambda: progress.n_processed,
        batch_size=batch_size,
        model_name=captioner.model_id,
    )


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
