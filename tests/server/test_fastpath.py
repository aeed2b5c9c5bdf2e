"""Plain downloads skip FastAPI's routing (datasety.server.fastpath): the answer is the route's,
byte for byte and header for header, and every failure is the route's own error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.server import fastpath
from datasety.server.app import create_app
from datasety.server.files import downloads
from datasety.server.files.security import is_within
from datasety.server.settings import Settings
from tests.server.conftest import make_image


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The file paths the fast path served."""
    served: list[str] = []
    real = fastpath.download

    def counting(request: Any, dataset_id: str, file_path: str) -> Any:
        response = real(request, dataset_id, file_path)
        served.append(file_path)
        return response

    monkeypatch.setattr(fastpath, "download", counting)
    return served


def comparable(response: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return response.status_code, response.content, headers


def test_the_fast_answer_is_the_routes_answer(
    client: TestClient, files_url: str, dataset_dir: Path, taken: list[str]
) -> None:
    make_image(dataset_dir / "sub" / "photo.jpg", size=(64, 48))
    (dataset_dir / "page.html").write_text("<script>alert(1)</script>")
    big = dataset_dir / "big.bin"
    big.write_bytes(bytes(range(256)) * 2048)  # over the in-memory size: streamed
    for name in ("sub/photo.jpg", "page.html", "big.bin"):
        fast = client.get(f"{files_url}/{name}")
        # Any query string takes the documented route.
        routed = client.get(f"{files_url}/{name}?info=false")
        assert fast.status_code == 200
        assert comparable(fast) == comparable(routed)
        etag = fast.headers["etag"]
        assert client.get(f"{files_url}/{name}", headers={"if-none-match": etag}).status_code == 304
    # Each name twice: its download and its revalidation; never the ?info=false ones.
    assert taken == [name for name in ("sub/photo.jpg", "page.html", "big.bin") for _ in "12"]


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("missing.jpg", 404, "File not found"),
        ("..%2Foutside.jpg", 403, "Access denied: Path traversal detected"),
        ("sub", 404, "File not found"),
    ],
)
def test_failures_are_the_routes_errors(
    client: TestClient,
    files_url: str,
    dataset_dir: Path,
    taken: list[str],
    path: str,
    status: int,
    error: str,
) -> None:
    (dataset_dir / "sub").mkdir()
    (dataset_dir.parent / "outside.jpg").write_bytes(b"secret")
    response = client.get(f"{files_url}/{path}")
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert taken == []
    unknown = client.get("/v1/datasets/no-such-id/files/x.jpg")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Dataset not found"})


def test_the_token_still_guards_downloads(tmp_path: Path, taken: list[str]) -> None:
    folder = tmp_path / "dataset"
    make_image(folder / "photo.png")
    app = create_app(Settings(data_dir=tmp_path / "data", token="s3cret"))
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(app, base_url="http://localhost") as client:
        dataset = client.post("/v1/datasets", json={"path": str(folder)}, headers=auth).json()
        url = f"/v1/datasets/{dataset['id']}/files/photo.png"
        assert client.get(url).status_code == 401
        assert client.get(url, headers=auth).status_code == 200
    assert taken == ["photo.png"]


@pytest.mark.parametrize(
    ("path", "roots", "inside"),
    [
        ("/data/set", ("/data/set",), True),
        ("/data/set/a/b.jpg", ("/data/set",), True),
        ("/data/settings", ("/data/set",), False),  # a sibling sharing the prefix
        ("/data", ("/data/set",), False),
        ("/anything", ("/",), True),
        ("/", ("/",), True),
        ("/other/x", ("/data", "/other"), True),
    ],
)
def test_is_within_compares_whole_components(
    path: str, roots: tuple[str, ...], inside: bool
) -> None:
    """is_within (compared as text for speed) agrees with pathlib on resolved paths."""
    as_paths = tuple(Path(r) for r in roots)
    assert is_within(Path(path), as_paths) is inside
    assert any(Path(path).is_relative_to(r) for r in as_paths) is inside


def test_a_small_file_not_in_the_page_cache_streams_instead(
    client: TestClient, files_url: str, dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the event loop a small file is read only if the page cache has it all (RWF_NOWAIT);
    otherwise it is streamed from worker threads, with the same answer."""
    photo = make_image(dataset_dir / "photo.png", size=(40, 30))
    cached = client.get(f"{files_url}/photo.png")
    monkeypatch.setattr(downloads, "_read_cached", lambda fd, size: None)
    streamed = client.get(f"{files_url}/photo.png")
    assert streamed.content == cached.content == photo.read_bytes()
    assert streamed.headers["etag"] == cached.headers["etag"]
    assert streamed.headers["content-type"] == cached.headers["content-type"] == "image/png"
