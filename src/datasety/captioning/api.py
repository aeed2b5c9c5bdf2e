"""Captions from an OpenAI-compatible chat completions API (``--llm-api``).

Each image is sent inline as a base64 ``data:`` URL in one ``POST {base}/chat/completions``.
Rate limits (429) and server errors (5xx, dropped connections) are retried with exponential
backoff, honouring ``Retry-After``; a 429 also pauses every other request for that long, so
``--concurrency`` workers do not keep hammering a limited endpoint. A refused key (401/403) or
a wrong endpoint/model (404) is the same for every image, so it aborts the batch
(:class:`ApiAbort`); anything else that fails for one image is a :class:`CaptionFailed`, and
the batch goes on.
"""

from __future__ import annotations

import base64
import io
import os
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from datasety.captioning.text import clean_caption, natural_prompt
from datasety.core.errors import DatasetyError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-5-nano"  # the reference's default, kept so its users' scripts still work

# Formats every vision API accepts as they are; anything else is re-encoded as PNG.
_SENT_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# The APIs scale images down to about this anyway; sending more only costs upload time.
MAX_SIDE = 2048


class ApiAbort(DatasetyError):
    """The API refuses every request (a wrong key, endpoint or model): stop the batch."""


class CaptionFailed(Exception):
    """This one image got no caption (after retries, where retrying made sense)."""


@dataclass(frozen=True)
class ApiSettings:
    """Where to send requests and what to ask for."""

    base_url: str
    api_key: str | None
    model: str
    prompt: str
    max_tokens: int
    temperature: float
    max_retries: int = 5
    backoff: float = 1.0  # first retry waits about this long, doubling each time
    max_wait: float = 60.0  # cap on any single wait, Retry-After included
    timeout: float = 120.0  # vision models can take a while to answer

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
        env = os.environ if environ is None else environ
        base_url = env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_BASE") or DEFAULT_BASE_URL
        api_key = env.get("OPENAI_API_KEY") or None
        # Local servers (llama.cpp, vLLM, Ollama) usually need no key; OpenAI itself always does.
        if api_key is None and base_url.rstrip("/") == DEFAULT_BASE_URL:
            raise DatasetyError("--llm-api needs OPENAI_API_KEY (or OPENAI_BASE_URL for a server)")
        return cls(
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            model=model or env.get("OPENAI_MODEL") or DEFAULT_MODEL,
            prompt=natural_prompt(prompt),
            max_tokens=max_tokens,
            temperature=temperature,
            max_retries=max_retries,
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
        self.url = f"{settings.base_url}/chat/completions"
        headers = {"Content-Type": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._client = client or httpx.Client(timeout=settings.timeout, headers=headers)
        self._lock = threading.Lock()
        self._paused_until = 0.0  # a 429 pauses every worker until then (monotonic clock)
        self.stop = threading.Event()  # set on abort: sleeping workers wake up and give up
        # Newer OpenAI models refuse `max_tokens` and any temperature but the default; learnt
        # from the first 400 that says so, then used for every later request.
        self._token_field = "max_tokens"
        self._send_temperature = True

    def close(self) -> None:
        self._client.close()

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
        attempts = self.settings.max_retries + 1
        adapted = 0
        attempt = 0
        while attempt < attempts:
            self._wait_for_pause()
            try:
                response = self._client.post(self.url, json=self.payload(data_url))
            except httpx.TransportError as exc:
                problem, delay = f"{type(exc).__name__}: {exc}", None
            else:
                if response.status_code == 200:
                    return parse_answer(response)
                problem = f"HTTP {response.status_code}: {error_message(response)}"
                if response.status_code in {401, 403}:
                    raise ApiAbort(
                        f"{self.url} refused the API key ({problem}); check OPENAI_API_KEY"
                    )
                if response.status_code == 404:
                    raise ApiAbort(
                        f"{self.url} answered {problem}; check OPENAI_BASE_URL and --model"
                    )
                if response.status_code == 400 and adapted < 2 and self._adapt(response):
                    adapted += 1
                    continue  # the request itself changed: not a failed attempt
                if response.status_code != 429 and response.status_code < 500:
                    raise CaptionFailed(problem)
                delay = retry_after(response)
                if response.status_code == 429 and delay is not None:
                    self._pause(min(delay, self.settings.max_wait))
            attempt += 1
            if attempt < attempts:
                self._sleep(self._backoff(attempt) if delay is None else delay)
        raise CaptionFailed(f"gave up after {attempts} attempts: {problem}")

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

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so workers that failed together do not retry together.
        return self.settings.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(min(seconds, self.settings.max_wait)):
            raise CaptionFailed("cancelled")

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _wait_for_pause(self) -> None:
        remaining = self._paused_until - time.monotonic()
        if remaining > 0:
            self._sleep(remaining)
        if self.stop.is_set():
            raise CaptionFailed("cancelled")


def parse_answer(response: httpx.Response) -> str:
    """The caption in a chat completions answer, or :class:`CaptionFailed` if there is none."""
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise CaptionFailed(f"malformed answer: {response.text[:120]!r}") from exc
    if isinstance(content, list):  # some servers answer with content parts
        content = " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("text")
        )
    if not isinstance(content, str) or not content.strip():
        raise CaptionFailed("the answer has no caption text")
    return clean_caption(content)


def error_message(response: httpx.Response) -> str:
    """The error an API returned, from OpenAI's ``{"error": {"message"}}`` shape or raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return response.text.strip()[:200]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def caption_all(
    captioner: ApiCaptioner, paths: Iterable[Path], concurrency: int
) -> Iterator[tuple[Path, str | CaptionFailed]]:
    """``(path, caption or failure)`` as each request finishes, ``concurrency`` at a time.

    Only ``concurrency`` images are handed out at a time, so memory does not grow with the
    batch and an :class:`ApiAbort` leaves no queued request to send; it stops the workers and
    is raised to the caller.

    The workers are daemon threads, not a ThreadPoolExecutor: the interpreter joins an
    executor's threads at exit, so a cancelled job would hang until every request in flight
    had its answer (minutes, for a slow vision model).
    """
    tasks: queue.SimpleQueue[Path | None] = queue.SimpleQueue()
    results: queue.SimpleQueue[tuple[Path, str | Exception]] = queue.SimpleQueue()

    def work() -> None:
        while (path := tasks.get()) is not None:
            try:
                results.put((path, captioner.caption(path)))
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread below
                results.put((path, exc))

    workers = [
        threading.Thread(target=work, name=f"caption-api-{n}", daemon=True)
        for n in range(concurrency)
    ]
    for worker in workers:
        worker.start()
    remaining = iter(paths)
    in_flight = 0
    try:
        while True:
            while in_flight < concurrency and (path := next(remaining, None)) is not None:
                tasks.put(path)
                in_flight += 1
            if not in_flight:
                return
            path, result = results.get()
            in_flight -= 1
            if isinstance(result, Exception) and not isinstance(result, CaptionFailed):
                raise result
            yield path, result
    finally:
        # Done, aborted or interrupted (a job's cancel): wake sleeping workers and let them go.
        captioner.stop.set()
        for _ in workers:
            tasks.put(None)
