"""Captions from an OpenAI-compatible chat completions API (``--llm-api``).

Each image is sent inline as a base64 ``data:`` URL in one ``POST {base}/chat/completions``,
through the shared :class:`~datasety.models.openai_api.RetryingClient` (retries with backoff on
429/5xx, :class:`ApiAbort` for a refused key or a wrong endpoint). An image that fails alone is
a :class:`CaptionFailed`, and the batch goes on.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from datasety.captioning.text import clean_caption, natural_prompt
from datasety.models.openai_api import (
    ApiAbort,
    Endpoint,
    RequestFailed,
    RetryingClient,
    error_message,
    message_text,
    run_concurrently,
)

__all__ = ["ApiAbort", "ApiCaptioner", "ApiSettings", "CaptionFailed", "caption_all"]

DEFAULT_MODEL = "gpt-5-nano"  # the reference's default, kept so its users' scripts still work

# Formats every vision API accepts as they are; anything else is re-encoded as PNG.
_SENT_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# The APIs scale images down to about this anyway; sending more only costs upload time.
MAX_SIDE = 2048

# This one image got no caption (after retries, where retrying made sense).
CaptionFailed = RequestFailed


@dataclass(frozen=True)
class ApiSettings:
    """Where to send requests and what to ask for."""

    endpoint: Endpoint
    model: str
    prompt: str
    max_tokens: int
    temperature: float

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    @classmethod
    def from_env(
        cls,
        *,
        model: str | None,
        prompt: str,
        max_tokens: int,
        temperature: float,
        max_retries: int = 5,
        environ: Mapping[str, str] | None = None,
    ) -> ApiSettings:
        """Settings from the flags and ``OPENAI_*`` environment variables."""
        endpoint = Endpoint.from_env("--llm-api", environ, max_retries=max_retries)
        env = os.environ if environ is None else environ
        return cls(
            endpoint=endpoint,
            model=model or env.get("OPENAI_MODEL") or DEFAULT_MODEL,
            prompt=natural_prompt(prompt),
            max_tokens=max_tokens,
            temperature=temperature,
        )


def image_data_url(path: Path) -> str:
    """``path`` as a ``data:`` URL, re-encoded only when its format or size needs it."""
    try:
        with Image.open(path) as image:
            mime = _SENT_AS_IS.get(image.format or "")
            if mime and max(image.size) <= MAX_SIDE:
                data = path.read_bytes()
            else:
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                if image.mode not in {"RGB", "RGBA", "L", "LA"}:
                    image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                mime, data = "image/png", buffer.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CaptionFailed(f"cannot read image: {exc}") from exc
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class ApiCaptioner:
    """Captions one image per request; safe to call from several threads at once."""

    def __init__(self, settings: ApiSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.api = RetryingClient(settings.endpoint, client)
        self.stop = self.api.stop
        self._lock = threading.Lock()
        # Newer OpenAI models refuse `max_tokens` and any temperature but the default; learnt
        # from the first 400 that says so, then used for every later request.
        self._token_field = "max_tokens"
        self._send_temperature = True

    def close(self) -> None:
        self.api.close()

    def payload(self, data_url: str) -> dict[str, Any]:
        """The chat completions request body for one image."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": self.settings.prompt},
                        {"type": "image_url", "image_url": {"url": data_url}},
                    ],
                }
            ],
            self._token_field: self.settings.max_tokens,
        }
        if self._send_temperature:
            body["temperature"] = self.settings.temperature
        return body

    def caption(self, path: Path) -> str:
        """The caption for the image at ``path``; :class:`CaptionFailed` or :class:`ApiAbort`."""
        data_url = image_data_url(path)
        response = self.api.post(
            "chat/completions", lambda: {"json": self.payload(data_url)}, self._adapt
        )
        return parse_answer(response)

    def _adapt(self, response: httpx.Response) -> bool:
        message = error_message(response).lower()
        with self._lock:
            if "max_completion_tokens" in message and self._token_field == "max_tokens":
                self._token_field = "max_completion_tokens"
                return True
            if "temperature" in message and self._send_temperature:
                self._send_temperature = False
                return True
        return False


def parse_answer(response: httpx.Response) -> str:
    """The caption in a chat completions answer, or :class:`CaptionFailed` if there is none."""
    return clean_caption(message_text(response, "caption"))


def caption_all(
    captioner: ApiCaptioner, paths: Iterable[Path], concurrency: int
) -> Iterator[tuple[Path, str | CaptionFailed]]:
    """``(path, caption or failure)`` as each request finishes, ``concurrency`` at a time
    (see :func:`~datasety.models.openai_api.run_concurrently`)."""
    return run_concurrently(captioner.caption, paths, concurrency, captioner.stop)
