"""``--image-api``: images from an OpenAI-compatible image endpoint.

``synthetic`` sends each source to ``POST {base}/images/edits`` (multipart: ``image``,
``prompt``, ``model``, ``n``, ``size``); ``character`` sends each prompt to
``POST {base}/images/generations`` (JSON). Both ask for ``b64_json`` answers and also take
``url`` ones. Endpoint, key, retries, backoff on 429/5xx and the per-request concurrency
come from :mod:`datasety.models.openai_api`, the same client ``caption --llm-api`` uses.
"""

from __future__ import annotations

import base64
import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from datasety.core.errors import DatasetyError
from datasety.models.openai_api import Endpoint, RequestFailed, RetryingClient

IMAGE_SIZES = {"0.5K": 512, "1K": 1024, "2K": 2048, "4K": 4096}

# The ids image APIs know the FLUX.2-klein models by (the reference's table): the distilled
# model serves every variant, FP8 or base.
_API_MODELS = {
    "black-forest-labs/flux.2-klein-4b-fp8": "black-forest-labs/flux.2-klein-4b",
    "black-forest-labs/flux.2-klein-9b-fp8": "black-forest-labs/flux.2-klein-9b",
    "black-forest-labs/flux.2-klein-4b": "black-forest-labs/flux.2-klein-4b",
    "black-forest-labs/flux.2-klein-9b": "black-forest-labs/flux.2-klein-9b",
    "black-forest-labs/flux.2-klein-9b-kv": "black-forest-labs/flux.2-klein-9b",
    "black-forest-labs/flux.2-klein-base-4b": "black-forest-labs/flux.2-klein-4b",
    "black-forest-labs/flux.2-klein-base-9b": "black-forest-labs/flux.2-klein-9b",
    "black-forest-labs/flux.2-klein-base-4b-fp8": "black-forest-labs/flux.2-klein-4b",
    "black-forest-labs/flux.2-klein-base-9b-fp8": "black-forest-labs/flux.2-klein-9b",
}


def api_model(model: str) -> str:
    """The id to send for ``--model``."""
    return _API_MODELS.get(model.lower(), model)


def parse_aspect_ratio(text: str) -> tuple[int, int]:
    """``"16:9"`` -> ``(16, 9)``; a one-line error otherwise."""
    width, sep, height = text.partition(":")
    try:
        ratio = (int(width), int(height))
    except ValueError:
        ratio = (0, 0)
    if not sep or min(ratio) <= 0:
        raise DatasetyError(f"--api-aspect-ratio {text!r}: give it as W:H, such as 16:9")
    return ratio


def api_size(
    aspect_ratio: str | None, image_size: str | None, source: tuple[int, int] | None = None
) -> str | None:
    """The ``size`` to request (``"1536x864"``), or None to leave it to the API.

    ``--api-image-size`` sets the long side (1K = 1024 pixels), ``--api-aspect-ratio`` the
    shape (else the source's shape, else square); both sides are multiples of 16.
    """
    if aspect_ratio is None and image_size is None:
        return None
    long_side = IMAGE_SIZES[image_size or "1K"]
    width, height = parse_aspect_ratio(aspect_ratio) if aspect_ratio else (source or (1, 1))
    scale = long_side / max(width, height)
    return f"{_multiple_of_16(width * scale)}x{_multiple_of_16(height * scale)}"


def _multiple_of_16(value: float) -> int:
    return max(16, round(value / 16) * 16)


@dataclass(frozen=True)
class ImageApiSettings:
    """What every request asks for."""

    endpoint: Endpoint
    model: str
    aspect_ratio: str | None = None
    image_size: str | None = None
    seed: int | None = None


def settings_from_flags(
    model: str,
    aspect_ratio: str | None,
    image_size: str | None,
    seed: int | None,
    max_retries: int,
) -> ImageApiSettings:
    """``--image-api``'s settings from its flags and the ``OPENAI_*`` environment."""
    if aspect_ratio:
        parse_aspect_ratio(aspect_ratio)  # a bad ratio fails before any request
    return ImageApiSettings(
        endpoint=Endpoint.from_env("--image-api", max_retries=max_retries),
        model=api_model(model),
        aspect_ratio=aspect_ratio,
        image_size=image_size,
        seed=seed,
    )


class ImageApi:
    """Edits and generations, one request per call; safe to call from several threads."""

    def __init__(self, settings: ImageApiSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.api = RetryingClient(settings.endpoint, client)

    def close(self) -> None:
        self.api.close()

    def _fields(self, prompt: str, n: int, size: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {"model": self.settings.model, "prompt": prompt, "n": n}
        if size:
            fields["size"] = size
        if self.settings.seed is not None:
            fields["seed"] = self.settings.seed  # honoured by servers that take one
        return fields

    def edit(self, source: Path, prompt: str, n: int) -> list[bytes]:
        """``n`` edits of the image at ``source`` (:class:`RequestFailed` if none came)."""
        try:
            data = source.read_bytes()
            shape = _image_size(data)
        except (OSError, ValueError) as exc:
            raise RequestFailed(f"cannot read image: {exc}") from exc
        size = api_size(self.settings.aspect_ratio, self.settings.image_size, shape)
        fields = {key: str(value) for key, value in self._fields(prompt, n, size).items()}
        fields["response_format"] = "b64_json"
        mime = mimetypes.guess_type(source.name)[0] or "application/octet-stream"

        def build() -> dict[str, Any]:
            return {"data": fields, "files": {"image": (source.name, data, mime)}}

        return self._images(self.api.post("images/edits", build), n)

    def generate(self, prompt: str, n: int, shape: tuple[int, int] | None = None) -> list[bytes]:
        """``n`` images of ``prompt`` (``shape``: the width and height asked for otherwise)."""
        size = api_size(self.settings.aspect_ratio, self.settings.image_size, shape)
        if size is None and shape is not None and self.settings.aspect_ratio is None:
            size = f"{shape[0]}x{shape[1]}"
        body = {**self._fields(prompt, n, size), "response_format": "b64_json"}
        return self._images(self.api.post("images/generations", lambda: {"json": body}), n)

    def _images(self, response: httpx.Response, n: int) -> list[bytes]:
        try:
            items = response.json()["data"]
            if not isinstance(items, list):
                raise TypeError("data is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise RequestFailed(f"malformed answer: {response.text[:120]!r}") from exc
        images = [self._image(item) for item in items]
        if len(images) < n:
            raise RequestFailed(f"asked for {n} images, the API answered {len(images)}")
        return images[:n]

    def _image(self, item: Any) -> bytes:
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            try:
                return base64.b64decode(item["b64_json"], validate=True)
            except ValueError as exc:
                raise RequestFailed("the answer's b64_json is not base64") from exc
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            # The API's own answer points at the image: fetching it is part of the answer.
            try:
                fetched = self.api.get(item["url"])
            except httpx.HTTPError as exc:
                raise RequestFailed(f"cannot fetch the answer's image: {exc}") from exc
            return fetched
        raise RequestFailed("the answer holds no image (no b64_json or url)")


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def decode_image(data: bytes) -> Any:
    """The PIL image in an answer's bytes (:class:`RequestFailed` when they are not one)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.copy()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RequestFailed(f"the answer is not an image: {exc}") from exc
