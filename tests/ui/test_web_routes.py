"""The web UI's static routes, in-process: what `/` serves and what it must never shadow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.routes.web import WEB_DIR
from datasety.server.settings import Settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings(data_dir=tmp_path / "data")), base_url="http://localhost"
    ) as c:
        yield c


@pytest.fixture
def token_client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", token="s3cret"))
    with TestClient(app, base_url="http://localhost") as c:
        yield c


def test_index_is_served_at_root_with_a_strict_csp(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_module_and_stylesheet_is_served(client: TestClient) -> None:
    for path in sorted(WEB_DIR.iterdir()):
        response = client.get(f"/{path.name}")
        assert response.status_code == 200, path.name
        assert response.content == path.read_bytes()
    assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/app.css").headers["content-type"].startswith("text/css")


def test_every_imported_module_exists() -> None:
    # A typo in an import would only show up in a browser: check the module graph here.
    for script in WEB_DIR.glob("*.js"):
        for name in re.findall(r'from "\./([^"]+)"', script.read_text()):
            assert (WEB_DIR / name).is_file(), f"{script.name} imports missing {name}"


def test_nothing_is_loaded_from_another_origin() -> None:
    for path in WEB_DIR.iterdir():
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name
        assert not re.search(r"fetch\(\s*[\"'`]https?:", text), path.name


def test_unknown_paths_keep_the_api_error_shape(client: TestClient) -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        for path in ("/v1/no-such-endpoint", "/v1", "/no-such-page"):
            response = client.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json() == {"error": "Endpoint not found"}
    for missing in ("/nope.js", "/v1", "/app.js/extra", "/..%2Fapp.py", "/__init__.py"):
        response = client.get(missing)
        assert response.status_code == 404, missing
        assert response.json() == {"error": "Endpoint not found"}


def test_the_ui_does_not_shadow_the_api_or_its_docs(client: TestClient) -> None:
    assert client.get("/v1/datasets").json() == {"datasets": []}
    assert client.get("/openapi.json").json()["info"]["title"] == "datasety"
    assert "swagger" in client.get("/docs").text.lower()
    # The UI routes stay out of the API's schema.
    assert "/{name}" not in client.get("/openapi.json").json()["paths"]


def test_the_page_loads_without_a_token_while_the_api_needs_one(token_client: TestClient) -> None:
    assert token_client.get("/").status_code == 200
    assert token_client.get("/api.js").status_code == 200
    assert token_client.get("/v1/datasets").status_code == 401
    authorized = token_client.get("/v1/datasets", headers={"Authorization": "Bearer s3cret"})
    assert authorized.status_code == 200


def test_the_page_preloads_every_module_the_ui_imports(client: TestClient) -> None:
    # Checked against the folder, independently of the server's own walk: every shipped module
    # but the entry is imported somewhere, and the page preloads each (no import waterfall).
    page = client.get("/").text
    preloaded = re.findall(r'<link rel="modulepreload" href="([^"]+)">', page)
    imported = {
        name
        for script in WEB_DIR.glob("*.js")
        for name in re.findall(r'from "\./([^"]+)"', script.read_text())
    }
    shipped = {path.name for path in WEB_DIR.glob("*.js")} - {"app.js"}
    assert imported == shipped
    assert sorted(preloaded) == sorted(shipped)
    assert page.index("modulepreload") < page.index('<script type="module" src="app.js">')


def test_a_revalidation_of_an_unchanged_file_answers_304(client: TestClient) -> None:
    for path in ("/", "/app.js", "/app.css"):
        first = client.get(path)
        etag = first.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in again.headers["content-security-policy"]
        changed = client.get(path, headers={"If-None-Match": '"something-else"'})
        assert changed.status_code == 200 and changed.content == first.content
