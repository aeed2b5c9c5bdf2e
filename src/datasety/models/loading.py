"""Offline-first model loading: the one door every Hugging Face model load goes through.

A model command loads from the local Hugging Face cache first. Only when the model is not
there does it look at the hub, and then once, with a short timeout: a machine without network
(or with ``HF_HUB_OFFLINE=1``) gets one line within seconds naming the repository it needs,
the cache it looked in and how to fetch it, never minutes of retries.

The cache location is read from the environment at call time (``HF_HUB_CACHE``, else
``HF_HOME/hub``, else ``XDG_CACHE_HOME/huggingface/hub``), as huggingface_hub reads it, but not
frozen at import: a test or a job that sets ``HF_HOME`` gets that cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasety.core.errors import DatasetyError
from datasety.models.device import Device

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT = 3.0
TRUE_VALUES = {"1", "ON", "YES", "TRUE"}

# Formats transformers never reads from a repository that also has safetensors; skipping them
# keeps a first download to the files that are used.
UNUSED_FILES = [
    "*.h5", "*.msgpack", "*.ot", "*.onnx", "*.onnx_data", "*.tflite", "*.mlmodel", "*.gguf",
    "onnx/*", "coreml/*", "openvino/*", "tf_model*", "flax_model*", "rust_model*",
]  # fmt: skip

Note = Callable[[str], None]


class ModelUnavailableError(DatasetyError):
    """The model is not in the local cache and cannot be fetched now."""


def _print(message: str) -> None:
    print(message, flush=True)


def hf_home() -> str:
    """The Hugging Face home folder (``HF_HOME``) as huggingface_hub would resolve it now."""
    default = os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return os.path.expanduser(os.path.expandvars(os.environ.get("HF_HOME") or default))


def hub_cache() -> Path:
    """The hub cache folder (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    folder = explicit or os.path.join(hf_home(), "hub")
    return Path(os.path.expanduser(os.path.expandvars(folder)))


def offline_requested() -> bool:
    """True when the environment says not to touch the network (``HF_HUB_OFFLINE=1``)."""
    flags = (os.environ.get(name, "") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag.upper() in TRUE_VALUES for flag in flags)


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_reachable(timeout: float = PROBE_TIMEOUT) -> bool:
    """One request to the hub, no retries: does anything answer within ``timeout`` seconds?"""
    import httpx

    try:
        httpx.head(endpoint(), timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


def missing_message(repo_id: str, why: str) -> str:
    """The one line a user reads when ``repo_id`` is neither cached nor fetchable."""
    return (
        f"model {repo_id} is not in the local Hugging Face cache ({hub_cache()}, "
        f"HF_HOME={hf_home()}) and {why}; fetch it where the hub is reachable with "
        f"`hf download {repo_id}` (the same HF_HOME), or point HF_HOME at a cache that has it"
    )


def model_dir(repo_id: str, note: Note = _print) -> Path:
    """A local folder holding ``repo_id``'s files: the folder itself when ``repo_id`` is a
    path, else its snapshot in the cache, else a fresh download (only if the hub answers).

    Says which it loads; raises :class:`ModelUnavailableError` in one line when it can't.
    """
    if os.path.isdir(repo_id):
        note(f"Loading model {repo_id} from its folder")
        return Path(repo_id)
    from huggingface_hub import snapshot_download

    cache = hub_cache()
    try:
        folder = snapshot_download(repo_id, cache_dir=cache, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's "not cached" errors vary
        if type(exc).__name__ == "HFValidationError":
            raise ModelUnavailableError(
                f"model {repo_id!r} is neither a folder nor a hub repository id"
            ) from exc
        if not _is_not_cached(exc):
            raise ModelUnavailableError(f"cannot read model {repo_id}: {_first_line(exc)}") from exc
    else:
        note(f"Loading model {repo_id} from the local cache ({cache})")
        return Path(folder)
    if offline_requested():
        raise ModelUnavailableError(missing_message(repo_id, "HF_HUB_OFFLINE is set"))
    if not hub_reachable():
        raise ModelUnavailableError(
            missing_message(repo_id, f"the hub ({endpoint()}) cannot be reached")
        )
    note(f"Downloading model {repo_id} into {cache} ...")
    try:
        folder = snapshot_download(repo_id, cache_dir=cache, ignore_patterns=UNUSED_FILES)
    except Exception as exc:  # noqa: BLE001 - any failure to fetch is one line for the user
        raise ModelUnavailableError(
            f"cannot download model {repo_id}: {_first_line(exc)} (a gated repository needs "
            "`hf auth login` and its licence accepted on the hub)"
        ) from exc
    note(f"Loading model {repo_id} from the local cache ({cache})")
    return Path(folder)


def load_pretrained(auto_class: Any, repo_id: str, note: Note = _print, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained`` for ``repo_id`` through :func:`model_dir`: the files
    come from the local cache (or a folder), never from a network call inside transformers."""
    folder = model_dir(repo_id, note)
    return load_from_dir(auto_class, folder, repo_id, **kwargs)


def load_from_dir(auto_class: Any, folder: Path, repo_id: str, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(folder)``; a broken or unsuitable repository is one line."""
    try:
        return auto_class.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetyError(f"cannot load model {repo_id!r}: {_first_line(exc)}") from exc


def load_for_inference(
    auto_class: Any, folder: Path, repo_id: str, device: Device, **kwargs: Any
) -> Any:
    """:func:`load_from_dir`, moved onto ``device`` and in eval mode: a model that only infers."""
    return load_from_dir(auto_class, folder, repo_id, **kwargs).to(device.name).eval()


def _is_not_cached(exc: BaseException) -> bool:
    from huggingface_hub.errors import LocalEntryNotFoundError

    return isinstance(exc, (LocalEntryNotFoundError, FileNotFoundError)) or (
        type(exc).__name__ in {"LocalEntryNotFoundError", "OfflineModeIsEnabled"}
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
