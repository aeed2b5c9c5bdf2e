"""Caption text: cleaning, ``--template`` and the ``--append`` / ``--prepend`` edits."""

from __future__ import annotations

PLACEHOLDER = "{{caption}}"

# Florence-2 task tokens mean nothing to a chat model; these ask for the same in words.
TASK_PROMPTS = {
    "<CAPTION>": "Write a one-sentence caption for this image. Reply with the caption only.",
    "<DETAILED_CAPTION>": (
        "Describe this image in a few sentences for a training caption: subject, setting, "
        "style and lighting. Reply with the caption only."
    ),
    "<MORE_DETAILED_CAPTION>": (
        "Describe this image in one detailed paragraph for a training caption: the subject, "
        "what it is doing, the setting, composition, style, colours and lighting. Reply with "
        "the caption only, without any preamble."
    ),
}

# Text that starts with one of these attaches to the caption without a space ("a cat" + ", 4k").
_ATTACHING_PUNCTUATION = tuple(",.;:!?)")


def natural_prompt(prompt: str) -> str:
    """``prompt``, with a Florence-2 task token replaced by the same request in words."""
    return TASK_PROMPTS.get(prompt.strip(), prompt)


def clean_caption(text: str) -> str:
    """One line with single spaces: trainers read a caption file as one line of text."""
    return " ".join(text.split())


def apply_template(template: str | None, caption: str) -> str:
    """``caption`` placed into ``template``.

    ``{{caption}}`` marks where the caption goes; a template without it is prepended, separated
    by one space (``"photo of sks person,"`` + ``"a man"`` -> ``"photo of sks person, a man"``).
    """
    if not template:
        return caption
    if PLACEHOLDER in template:
        return clean_caption(template.replace(PLACEHOLDER, caption))
    return _join(template, caption)


def edit_caption(existing: str, append: str | None, prepend: str | None) -> str | None:
    """``existing`` with ``prepend`` before it and ``append`` after it.

    Returns None when the caption already starts with ``prepend`` and ends with ``append``, so
    running the same edit again (say, after an interrupted run) does not add the text twice.
    """
    current = clean_caption(existing)
    prefix = clean_caption(prepend or "")
    suffix = clean_caption(append or "")
    edited = current
    if suffix and not current.endswith(suffix):
        edited = _join(edited, suffix)
    if prefix and not current.startswith(prefix):
        edited = _join(prefix, edited)
    return None if edited == current else edited


def _join(first: str, second: str) -> str:
    first, second = clean_caption(first), clean_caption(second)
    if not first or not second:
        return first or second
    if second.startswith(_ATTACHING_PUNCTUATION):
        return first + second
    return f"{first} {second}"
