"""One error path: every endpoint, fed bad input, answers ``{"error": "<text>"}``.

The walk reads the app's own OpenAPI document, so an endpoint added later is walked too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.settings import Settings

from .conftest import BASE_URL

METHODS = ("get", "post", "put", "patch", "delete")

BAD_BODIES: list[tuple[bytes, str]] = [
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b"\xff\xfe\xfd", "application/json"),
    (b'{"path": 1, "name": 2, "caption": 3, "data": 4, "metadata": 5, "command": 6}', ""),
]


def assert_error_shape(response: Any) -> None:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"].strip()


def operations(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(path, m) for path, item in spec["paths"].items() for m in METHODS if m in item]


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture
def real_dataset(client: TestClient, tmp_path: Path) -> str:
    folder = tmp_path / "walk"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"x")
    response = client.post("/v1/datasets", json={"path": str(folder)})
    dataset_id: str = response.json()["id"]
    return dataset_id


def test_every_endpoint_answers_bad_input_with_the_error_shape(
    client: TestClient, real_dataset: str
) -> None:
    ops = operations(client)
    assert ("/v1/datasets", "post") in ops
    assert ("/v1/datasets/{dataset_id}/files/{file_path}", "put") in ops
    walked = 0
    for path, method in ops:
        for value in ("no-such-id", real_dataset):
            url = fill(path, value)
            if "{file_path}" in path:
                url = fill(path, value).rsplit("/", 1)[0] + "/%2e%2e/%2e%2e/x"
            for body, content_type in BAD_BODIES:
                headers = {"content-type": content_type} if content_type else {}
                response = client.request(
                    method.upper(), url, content=body, headers=headers, params={"limit": "-5"}
                )
                walked += 1
                if response.status_code < 400:
                    # Only requests that ignore bodies may succeed: plain lists, and reads or
                    # unregistering of the dataset that exists.
                    bodiless = method == "get" or (method == "delete" and value == real_dataset)
                    assert bodiless and ("{" not in path or value == real_dataset), (
                        method,
                        url,
                        response.text,
                    )
                    continue
                assert 400 <= response.status_code < 500, (method, url, response.text)
                assert_error_shape(response)
    assert walked >= 50


def test_unknown_paths_and_wrong_methods(client: TestClient, real_dataset: str) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        for url in ("/v1/nothing", "/v1/datasets/x/y/z", "/v2/datasets", "/v1/datasets/x/other"):
            response = client.request(method, url)
            assert (response.status_code, response.json()) == (404, {"error": "Endpoint not found"})
    for method, url in [
        ("PUT", "/v1/datasets"),
        ("DELETE", "/v1/datasets"),
        ("POST", f"/v1/datasets/{real_dataset}"),
        ("POST", f"/v1/datasets/{real_dataset}/files"),
    ]:
        response = client.request(method, url)
        assert response.status_code == 405
        assert response.json() == {"error": "Method not allowed"}
        assert response.headers["allow"]


def test_openapi_documents_the_error_shape_on_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    for path, method in operations(client):
        responses = spec["paths"][path][method]["responses"]
        errors = [code for code in responses if code.startswith(("4", "5"))]
        if "{" in path or method != "get":
            assert errors, f"{method.upper()} {path} documents no error response"
        for code in errors:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, code)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_unexpected_errors_are_500_with_the_shape(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasety.server.store import Store

    def boom(self: Store) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Store, "list_datasets", boom)
    app = create_app(Settings(data_dir=data_dir))
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        response = client.get("/v1/datasets")
    assert (response.status_code, response.json()) == (500, {"error": "Internal server error"})
