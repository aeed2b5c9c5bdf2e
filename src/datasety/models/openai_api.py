"""An OpenAI-compatible HTTP API, shared by every command that talks to one.

``caption --llm-api`` (chat completions with an image), ``character --llm-api`` (chat
completions, text) and ``synthetic``/``character --image-api`` (``images/edits``,
``images/generations``) send their requests through :class:`RetryingClient`. It reads the
endpoint and key from the same environment variables everywhere (``OPENAI_BASE_URL``, legacy
``OPENAI_API_BASE``, ``OPENAI_API_KEY``).

Rate limits (429) and server errors (5xx, dropped connections) are retried with exponential
backoff, honouring ``Retry-After``; a 429 also pauses every other request for that long, so
concurrent workers do not keep hammering a limited endpoint. A refused key (401/403) or a wrong
endpoint/model (404) is the same for every request, so it aborts the batch (:class:`ApiAbort`);
anything else that fails for one request is a :class:`RequestFailed`, and the batch goes on.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from datasety.core.errors import DatasetyError

DEFAULT_BASE_URL = "https://api.openai.com/v1"

T = TypeVar("T")
R = TypeVar("R")


class ApiAbort(DatasetyError):
    """The API refuses every request (a wrong key, endpoint or model): stop the batch."""


class RequestFailed(Exception):
    """This one request got no usable answer (after retries, where retrying made sense)."""


@dataclass(frozen=True)
class Endpoint:
    """Where requests go, with which key, and how patiently they are retried."""

    base_url: str
    api_key: str | None
    max_retries: int = 5
    backoff: float = 1.0  # first retry waits about this long, doubling each time
    max_wait: float = 60.0  # cap on any single wait, Retry-After included
    timeout: float = 120.0  # vision and image models can take a while to answer

    @classmethod
    def from_env(
        cls, flag: str, environ: Mapping[str, str] | None = None, **policy: Any
    ) -> Endpoint:
        """The endpoint named by ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``; ``flag`` is the
        option that asked for it (``--llm-api``), named in the error when the key is missing."""
        env = os.environ if environ is None else environ
        base_url = env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_BASE") or DEFAULT_BASE_URL
        api_key = env.get("OPENAI_API_KEY") or None
        # Local servers (llama.cpp, vLLM, Ollama) usually need no key; OpenAI itself always does.
        if api_key is None and base_url.rstrip("/") == DEFAULT_BASE_URL:
            raise DatasetyError(f"{flag} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a server)")
        return cls(base_url=base_url.rstrip("/"), api_key=api_key, **policy)


# Builds one request's keyword arguments for httpx (json=..., or data=... and files=...).
RequestBuilder = Callable[[], dict[str, Any]]
# Looks at a 400 answer and changes what the builder sends; True when a retry is worth it.
Adapter = Callable[[httpx.Response], bool]


class RetryingClient:
    """POSTs to an :class:`Endpoint` with retries; safe to call from several threads at once."""

    def __init__(self, endpoint: Endpoint, client: httpx.Client | None = None) -> None:
        self.endpoint = endpoint
        headers = {}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        self._client = client or httpx.Client(timeout=endpoint.timeout, headers=headers)
        self._lock = threading.Lock()
        self._paused_until = 0.0  # a 429 pauses every worker until then (monotonic clock)
        self.stop = threading.Event()  # set on abort: sleeping workers wake up and give up

    def close(self) -> None:
        self._client.close()

    def get(self, url: str) -> bytes:
        """The body at ``url`` (a file an answer points at), with no retries."""
        response = self._client.get(url)
        response.raise_for_status()
        return response.content

    def url(self, path: str) -> str:
        return f"{self.endpoint.base_url}/{path.lstrip('/')}"

    def post(
        self, path: str, build: RequestBuilder, adapt: Adapter | None = None
    ) -> httpx.Response:
        """The 200 answer to ``POST base/path``; :class:`RequestFailed` or :class:`ApiAbort`.

        ``build`` is called for every attempt (an ``adapt`` that learnt something from a 400
        changes what it builds); a 400 that ``adapt`` acted on does not count as an attempt.
        """
        url = self.url(path)
        attempts = self.endpoint.max_retries + 1
        adapted = 0
        attempt = 0
        problem = "no attempt"
        while attempt < attempts:
            self._wait_for_pause()
            try:
                response = self._client.post(url, **build())
            except httpx.TransportError as exc:
                problem, delay = f"{type(exc).__name__}: {exc}", None
            else:
                if response.status_code == 200:
                    return response
                problem = f"HTTP {response.status_code}: {error_message(response)}"
                if response.status_code in {401, 403}:
                    raise ApiAbort(f"{url} refused the API key ({problem}); check OPENAI_API_KEY")
                if response.status_code == 404:
                    raise ApiAbort(f"{url} answered {problem}; check OPENAI_BASE_URL and --model")
                if response.status_code == 400 and adapt and adapted < 2 and adapt(response):
                    adapted += 1
                    continue  # the request itself changed: not a failed attempt
                if response.status_code != 429 and response.status_code < 500:
                    raise RequestFailed(problem)
                delay = retry_after(response)
                if response.status_code == 429 and delay is not None:
                    self._pause(min(delay, self.endpoint.max_wait))
            attempt += 1
            if attempt < attempts:
                self._sleep(self._backoff(attempt) if delay is None else delay)
        raise RequestFailed(f"gave up after {attempts} attempts: {problem}")

    def _backoff(self, attempt: int) -> float:
        # Exponential with jitter, so workers that failed together do not retry together.
        return self.endpoint.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(min(seconds, self.endpoint.max_wait)):
            raise RequestFailed("cancelled")

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _wait_for_pause(self) -> None:
        remaining = self._paused_until - time.monotonic()
        if remaining > 0:
            self._sleep(remaining)
        if self.stop.is_set():
            raise RequestFailed("cancelled")


def message_text(response: httpx.Response, what: str = "text") -> str:
    """The text of a chat completions answer as written (content parts joined), or
    :class:`RequestFailed` naming ``what`` was missing."""
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise RequestFailed(f"malformed answer: {response.text[:120]!r}") from exc
    if isinstance(content, list):  # some servers answer with content parts
        content = " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("text")
        )
    if not isinstance(content, str) or not content.strip():
        raise RequestFailed(f"the answer has no {what} text")
    return content


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


def run_concurrently(
    call: Callable[[T], R], items: Iterable[T], concurrency: int, stop: threading.Event
) -> Iterator[tuple[T, R | RequestFailed]]:
    """``(item, result or failure)`` as each ``call`` finishes, ``concurrency`` at a time.

    Only ``concurrency`` items are handed out at a time, so memory does not grow with the
    batch and an :class:`ApiAbort` (or any error but :class:`RequestFailed`) leaves no queued
    request to send; it sets ``stop`` and is raised to the caller.

    The workers are daemon threads, not a ThreadPoolExecutor: the interpreter joins an
    executor's threads at exit, so a cancelled job would hang until every request in flight
    had its answer (minutes, for a slow model).
    """
    tasks: queue.SimpleQueue[tuple[T] | None] = queue.SimpleQueue()
    results: queue.SimpleQueue[tuple[T, R | Exception]] = queue.SimpleQueue()

    def work() -> None:
        while (task := tasks.get()) is not None:
            (item,) = task
            try:
                results.put((item, call(item)))
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread below
                results.put((item, exc))

    workers = [
        threading.Thread(target=work, name=f"api-{n}", daemon=True) for n in range(concurrency)
    ]
    for worker in workers:
        worker.start()
    remaining = iter(items)
    in_flight = 0
    try:
        while True:
            while in_flight < concurrency:
                try:
                    tasks.put((next(remaining),))
                except StopIteration:
                    break
                in_flight += 1
            if not in_flight:
                return
            item, result = results.get()
            in_flight -= 1
            if isinstance(result, Exception) and not isinstance(result, RequestFailed):
                raise result
            yield item, result
    finally:
        # Done, aborted or interrupted (a job's cancel): wake sleeping workers and let them go.
        stop.set()
        for _ in workers:
            tasks.put(None)
