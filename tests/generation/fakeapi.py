"""A local OpenAI-compatible server: the images protocol (edits, generations) and chat.

``images/edits`` takes multipart/form-data with an ``image`` file, as OpenAI's does, and
answers with the image's colours inverted (so a test can tell which source an edit came
from); ``images/generations`` answers with a solid image; ``chat/completions`` answers with
``chat_text``. ``fail`` can answer a request with an error first (a 429, a 500).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageOps

# (status, headers, JSON body) or None to answer normally.
Failure = tuple[int, dict[str, str], dict[str, Any]] | None


@dataclass
class FakeImageApi:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: Callable[[int, dict[str, Any]], Failure] = lambda attempt, request: None
    chat_text: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Fields and files of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        if part.get_filename():
            files[name] = payload
        else:
            fields[name] = payload.decode()
    return fields, files


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def answer(api: FakeImageApi, path: str, request: dict[str, Any]) -> dict[str, Any]:
    if path.endswith("/images/edits"):
        with Image.open(io.BytesIO(request["files"]["image"])) as source:
            edited = ImageOps.invert(source.convert("RGB"))
        n = int(request["fields"].get("n", "1"))
        return {"created": 0, "data": [{"b64_json": png_b64(edited)} for _ in range(n)]}
    if path.endswith("/images/generations"):
        width, height = (int(v) for v in request["json"].get("size", "32x32").split("x"))
        image = Image.new("RGB", (width, height), (10, 120, 240))
        n = int(request["json"].get("n", 1))
        return {"created": 0, "data": [{"b64_json": png_b64(image)} for _ in range(n)]}
    message = {"role": "assistant", "content": api.chat_text}
    return {"choices": [{"index": 0, "message": message}]}


def serve(api: FakeImageApi) -> Iterator[FakeImageApi]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            content_type = self.headers.get("Content-Type", "")
            request: dict[str, Any] = {"path": self.path, "headers": dict(self.headers)}
            if content_type.startswith("multipart/form-data"):
                request["fields"], request["files"] = parse_form(content_type, body)
            else:
                request["json"] = json.loads(body)
            with api.lock:
                attempt = len(api.requests)
                api.requests.append(request)
            failure = api.fail(attempt, request)
            status, headers, payload = failure or (200, {}, answer(api, self.path, request))
            data = json.dumps(payload).encode()
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
    api.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
