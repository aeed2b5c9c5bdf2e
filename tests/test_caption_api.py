"""`datasety caption --llm-api` against a real OpenAI-compatible HTTP server on loopback.

The server speaks the chat completions protocol and answers with a caption naming the colour
of the image it was sent, so each test can tell which image a caption came from.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.clirun import run_main as run_cli

COLOURS = {(255, 0, 0): "red", (0, 255, 0): "green", (0, 0, 255): "blue"}

# A reply: (status, headers, body) where a dict body is sent as JSON.
Reply = tuple[int, dict[str, str], Any]


@dataclass
class FakeApi:
    """An OpenAI-compatible server; ``respond`` decides each answer, ``requests`` records all."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    respond: Callable[[int, dict[str, Any]], Reply] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def colours_requested(self) -> list[str]:
        return [colour_of(request["body"]) for request in self.requests]


def colour_of(body: dict[str, Any]) -> str:
    """The colour name of the image inlined in a chat completions request."""
    url = body["messages"][0]["content"][1]["image_url"]["url"]
    data = base64.b64decode(url.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        pixel = image.convert("RGB").getpixel((0, 0))
    assert isinstance(pixel, tuple)
    # JPEG shifts colours a little: take the nearest of the three.
    nearest = min(COLOURS, key=lambda rgb: sum(abs(a - b) for a, b in zip(rgb, pixel, strict=True)))
    return COLOURS[nearest]


def completion(text: str) -> Reply:
    return 200, {}, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


def describe(attempt: int, body: dict[str, Any]) -> Reply:
    return completion(f"  a {colour_of(body)}\nsquare ")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    fake = FakeApi(respond=describe)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            with fake.lock:
                attempt = len(fake.requests)
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
            assert fake.respond is not None
            status, headers, payload = fake.respond(attempt, body)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def make_images(folder: Path, names: dict[str, tuple[int, int, int]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, colour in names.items():
        Image.new("RGB", (24, 16), colour).save(folder / name)


@pytest.fixture
def rgb_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    make_images(folder, {"a.png": (255, 0, 0), "b.png": (0, 255, 0), "c.jpg": (0, 0, 255)})
    return folder


def test_captions_every_image_with_the_requested_settings(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "caption", "-i", str(rgb_dir), "--llm-api", "--model", "vision-test",
        "--max-tokens", "77", "--temperature", "0.1", "--concurrency", "3",
    )  # fmt: skip
    assert code == 0, err
    assert (rgb_dir / "a.txt").read_text() == "a red square"
    assert (rgb_dir / "b.txt").read_text() == "a green square"
    assert (rgb_dir / "c.txt").read_text() == "a blue square"
    assert "Done: 3 processed, 0 skipped, 0 failed" in out
    assert sorted(api.colours_requested()) == ["blue", "green", "red"]
    request = api.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test-key"
    body = request["body"]
    assert body["model"] == "vision-test"
    assert body["max_tokens"] == 77
    assert body["temperature"] == 0.1
    prompt = body["messages"][0]["content"][0]["text"]
    assert "<" not in prompt and "describe" in prompt.lower()  # the task token, in words


def test_image_is_sent_inline_byte_for_byte(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "caption", "--input-image", str(rgb_dir / "c.jpg"), "--llm-api")
    assert code == 0, err
    url = api.requests[0]["body"]["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == (rgb_dir / "c.jpg").read_bytes()
    assert api.requests[0]["body"]["model"] == "gpt-5-nano"  # the reference's default
    assert (rgb_dir / "c.txt").read_text() == "a blue square"


def test_model_comes_from_openai_model_and_prompt_is_passed(
    api: FakeApi,
    rgb_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    out_file = rgb_dir.parent / "out" / "a caption.txt"
    out_file.parent.mkdir()
    code, _, err = run_cli(
        capsys,
        "caption", "--input-image", str(rgb_dir / "a.png"), "--output-caption", str(out_file),
        "--llm-api", "--prompt", "Name the colour.",
    )  # fmt: skip
    assert code == 0, err
    body = api.requests[0]["body"]
    assert body["model"] == "env-model"
    assert body["messages"][0]["content"][0]["text"] == "Name the colour."
    assert out_file.read_text() == "a red square"
    assert not (rgb_dir / "a.txt").exists()


def test_429_is_retried_after_retry_after(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def limited(attempt: int, body: dict[str, Any]) -> Reply:
        if attempt == 0:
            return 429, {"Retry-After": "0"}, {"error": {"message": "Rate limit reached"}}
        return describe(attempt, body)

    api.respond = limited
    code, out, err = run_cli(
        capsys, "caption", "--input-image", str(rgb_dir / "a.png"), "--llm-api"
    )
    assert code == 0, err
    assert len(api.requests) == 2
    assert api.colours_requested() == ["red", "red"]
    assert (rgb_dir / "a.txt").read_text() == "a red square"
    assert "Failed" not in err


def test_500_is_retried_with_backoff(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def flaky(attempt: int, body: dict[str, Any]) -> Reply:
        if attempt == 0:
            return 500, {}, {"error": {"message": "upstream hiccup"}}
        return describe(attempt, body)

    api.respond = flaky
    code, _, err = run_cli(capsys, "caption", "--input-image", str(rgb_dir / "b.png"), "--llm-api")
    assert code == 0, err
    assert len(api.requests) == 2
    assert (rgb_dir / "b.txt").read_text() == "a green square"


def test_image_that_keeps_failing_is_reported_and_the_batch_goes_on(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def green_is_down(attempt: int, body: dict[str, Any]) -> Reply:
        if colour_of(body) == "green":
            return 503, {"Retry-After": "0"}, b"Service Unavailable"
        return describe(attempt, body)

    api.respond = green_is_down
    code, out, err = run_cli(
        capsys, "caption", "-i", str(rgb_dir), "--llm-api", "--max-retries", "2"
    )
    assert code == 3  # finished, one image failed
    assert api.colours_requested().count("green") == 3  # one try and two retries
    assert not (rgb_dir / "b.txt").exists()
    assert (rgb_dir / "a.txt").read_text() == "a red square"
    assert (rgb_dir / "c.txt").read_text() == "a blue square"
    assert "Failed: b.png: gave up after 3 attempts: HTTP 503: Service Unavailable" in err
    assert "Done: 2 processed, 0 skipped, 1 failed" in out


def test_malformed_answer_is_reported_and_the_batch_goes_on(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken_for_red(attempt: int, body: dict[str, Any]) -> Reply:
        if colour_of(body) == "red":
            return 200, {}, {"choices": []}
        if colour_of(body) == "blue":
            return 200, {}, b"<html>not json</html>"
        return describe(attempt, body)

    api.respond = broken_for_red
    code, out, err = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api")
    assert code == 3
    assert "Failed: a.png: malformed answer" in err
    assert "Failed: c.jpg: malformed answer" in err
    assert not (rgb_dir / "a.txt").exists() and not (rgb_dir / "c.txt").exists()
    assert (rgb_dir / "b.txt").read_text() == "a green square"
    assert "Done: 1 processed, 0 skipped, 2 failed" in out
    assert len(api.requests) == 3  # a malformed answer is not retried


def test_401_aborts_with_one_line_error(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.respond = lambda attempt, body: (
        401,
        {},
        {"error": {"message": "Incorrect API key provided: sk-test***", "code": "invalid_api_key"}},
    )
    code, _, err = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api", "--concurrency", "1")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "refused the API key (HTTP 401: Incorrect API key provided" in lines[0]
    assert "OPENAI_API_KEY" in lines[0]
    assert len(api.requests) == 1  # no point sending the other images
    assert list(rgb_dir.glob("*.txt")) == []


def test_404_model_aborts(api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api.respond = lambda attempt, body: (
        404,
        {},
        {"error": {"message": "The model `nope` does not exist"}},
    )
    code, _, err = run_cli(
        capsys, "caption", "-i", str(rgb_dir), "--llm-api", "--model", "nope", "--concurrency", "1"
    )
    assert code == 1
    assert err.startswith("Error: ") and "The model `nope` does not exist" in err


def test_max_completion_tokens_is_learnt_from_a_400(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def new_openai_model(attempt: int, body: dict[str, Any]) -> Reply:
        if "max_tokens" in body:
            message = (
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead."
            )
            return 400, {}, {"error": {"message": message, "param": "max_tokens"}}
        if "temperature" in body:
            message = "Unsupported value: 'temperature' does not support 0.3 with this model."
            return 400, {}, {"error": {"message": message, "param": "temperature"}}
        return describe(attempt, body)

    api.respond = new_openai_model
    code, _, err = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api", "--concurrency", "1")
    assert code == 0, err
    assert [path.read_text() for path in sorted(rgb_dir.glob("*.txt"))] == [
        "a red square",
        "a green square",
        "a blue square",
    ]
    last = api.requests[-1]["body"]
    assert last["max_completion_tokens"] == 300 and "temperature" not in last
    assert len(api.requests) == 3 + 2  # two requests taught it; every later one was right


def test_other_400_fails_that_image_only(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def too_big_for_green(attempt: int, body: dict[str, Any]) -> Reply:
        if colour_of(body) == "green":
            return 400, {}, {"error": {"message": "Invalid image"}}
        return describe(attempt, body)

    api.respond = too_big_for_green
    code, out, err = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api")
    assert code == 3
    assert "Failed: b.png: HTTP 400: Invalid image" in err
    assert "Done: 2 processed, 0 skipped, 1 failed" in out


def test_template_with_placeholder_and_without(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys,
        "caption", "--input-image", str(rgb_dir / "a.png"), "--llm-api",
        "--template", "photo of sks, {{caption}}, 4k",
    )  # fmt: skip
    assert code == 0, err
    assert (rgb_dir / "a.txt").read_text() == "photo of sks, a red square, 4k"
    code, _, err = run_cli(
        capsys,
        "caption", "--input-image", str(rgb_dir / "b.png"), "--llm-api",
        "--template", "photo of sks person,",
    )  # fmt: skip
    assert code == 0, err
    assert (rgb_dir / "b.txt").read_text() == "photo of sks person, a green square"


def test_skip_existing_resumes_an_interrupted_run(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rgb_dir / "a.txt").write_text("hand-written caption")
    (rgb_dir / "b.txt").write_text("  \n")  # blank: not a caption yet
    code, out, err = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api", "--skip-existing")
    assert code == 0, err
    assert sorted(api.colours_requested()) == ["blue", "green"]
    assert (rgb_dir / "a.txt").read_text() == "hand-written caption"
    assert (rgb_dir / "b.txt").read_text() == "a green square"
    assert "skipped a.png: caption exists" in out
    assert "Done: 2 processed, 1 skipped, 0 failed" in out


def test_without_skip_existing_captions_are_replaced(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rgb_dir / "a.txt").write_text("old")
    code, _, _ = run_cli(capsys, "caption", "--input-image", str(rgb_dir / "a.png"), "--llm-api")
    assert code == 0
    assert (rgb_dir / "a.txt").read_text() == "a red square"
    assert [p.name for p in rgb_dir.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_output_dir_mirrors_subfolders(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src"
    make_images(source, {"top.png": (255, 0, 0)})
    make_images(source / "sub" / "deeper", {"low.png": (0, 0, 255)})
    out = tmp_path / "captions"
    code, _, err = run_cli(capsys, "caption", "-i", str(source), "-o", str(out), "-R", "--llm-api")
    assert code == 0, err
    assert (out / "top.txt").read_text() == "a red square"
    assert (out / "sub" / "deeper" / "low.txt").read_text() == "a blue square"
    assert list(source.rglob("*.txt")) == []


def test_not_recursive_by_default(
    api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_images(tmp_path / "src" / "sub", {"low.png": (0, 0, 255)})
    make_images(tmp_path / "src", {"top.png": (255, 0, 0)})
    code, out, _ = run_cli(capsys, "caption", "-i", str(tmp_path / "src"), "--llm-api")
    assert code == 0
    assert api.colours_requested() == ["red"]
    assert not (tmp_path / "src" / "sub" / "low.txt").exists()


def test_dry_run_sends_and_writes_nothing(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api", "--dry-run")
    assert code == 0
    assert api.requests == []
    assert list(rgb_dir.glob("*.txt")) == []
    assert "would caption a.png" in out


def test_missing_key_for_openai_is_one_line_error(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    code, _, err = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api")
    assert code == 1
    assert err.strip() == (
        "Error: --llm-api needs OPENAI_API_KEY (or OPENAI_BASE_URL for a server)"
    )


def test_local_server_without_key_gets_no_authorization(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.setenv("OPENAI_API_BASE", api.url)  # the legacy name still works
    code, _, err = run_cli(capsys, "caption", "--input-image", str(rgb_dir / "a.png"), "--llm-api")
    assert code == 0, err
    assert "Authorization" not in api.requests[0]["headers"]


def test_unreadable_image_is_reported(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rgb_dir / "broken.png").write_bytes(b"not an image at all")
    code, out, err = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api")
    assert code == 3
    assert "Failed: broken.png: cannot read image" in err
    assert "Done: 3 processed, 0 skipped, 1 failed" in out
    assert len(api.requests) == 3


def test_progress_is_machine_readable_under_a_job(
    api: FakeApi, rgb_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATASETY_PROGRESS", "jsonl")
    code, out, _ = run_cli(capsys, "caption", "-i", str(rgb_dir), "--llm-api")
    assert code == 0
    events = [
        json.loads(line.split(" ", 1)[1])
        for line in out.splitlines()
        if line.startswith("@datasety:progress ")
    ]
    assert events[0] == {"done": 0, "total": 3, "item": None}
    assert events[-1]["done"] == 3
    assert sorted(e["item"] for e in events[1:]) == ["a.png", "b.png", "c.jpg"]


def test_sigterm_stops_promptly_with_requests_in_flight(api: FakeApi, rgb_dir: Path) -> None:
    release = threading.Event()

    def hang(attempt: int, body: dict[str, Any]) -> Reply:
        release.wait(30)  # a slow model: the answer comes long after the job is cancelled
        return describe(attempt, body)

    api.respond = hang
    env = {**os.environ, "OPENAI_BASE_URL": api.url, "OPENAI_API_KEY": "sk-test-key"}
    process = subprocess.Popen(
        [sys.executable, "-m", "datasety", "caption", "-i", str(rgb_dir), "--llm-api",
         "--concurrency", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(api.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(api.requests) == 2
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        stopped_after = time.monotonic() - started
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert code == 128 + signal.SIGTERM
    assert stopped_after < 5
    assert list(rgb_dir.glob("*.txt")) == []
    assert [p.name for p in rgb_dir.iterdir() if p.name.startswith(".")] == []
