"""Safe by default: path confinement, bad bytes, Host check, CORS, token, start-up checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.core.errors import DatasetyError
from datasety.server.app import create_app
from datasety.server.middleware import host_name
from datasety.server.settings import Settings

from .conftest import BASE_URL
from .jobkit import ServerProcess

TRAVERSAL = {"error": "Access denied: Path traversal detected"}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the dataset with a secret in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("top secret")
    (folder / "secret.png").write_bytes(b"secret image")
    return folder


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/outside/secret.txt",
        "%2E%2E/%2E%2E/etc/passwd",
        "sub/%2e%2e/%2e%2e/outside/secret.txt",
        "..%2Foutside%2Fsecret.txt",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_traversal_variants_are_refused(
    client: TestClient, files_url: str, dataset_dir: Path, outside: Path, path: str, method: str
) -> None:
    (dataset_dir / "sub").mkdir()
    kwargs: dict[str, Any] = {"json": {"caption": "pwned"}} if method in ("POST", "PUT") else {}
    response = client.request(method, f"{files_url}/{path}", **kwargs)
    assert (response.status_code, response.json()) == (403, TRAVERSAL)
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png", "secret.txt"]


def test_symlink_pointing_out_is_refused(
    client: TestClient, files_url: str, dataset_dir: Path, outside: Path
) -> None:
    (dataset_dir / "link.png").symlink_to(outside / "secret.png")
    (dataset_dir / "linkdir").symlink_to(outside)
    for url in ("link.png", "link.png?info=true", "linkdir/secret.txt"):
        response = client.get(f"{files_url}/{url}")
        assert (response.status_code, response.json()) == (403, TRAVERSAL)
    put = client.put(f"{files_url}/link.png", json={"data": "bmV3"})
    assert (put.status_code, put.json()) == (403, TRAVERSAL)
    assert client.delete(f"{files_url}/linkdir/secret.txt").status_code == 403
    assert (outside / "secret.png").read_bytes() == b"secret image"
    assert (outside / "secret.txt").exists()


def test_symlinked_sidecar_pointing_out_is_refused(
    client: TestClient, files_url: str, dataset_dir: Path, outside: Path
) -> None:
    (dataset_dir / "photo.png").write_bytes(b"img")
    (dataset_dir / "photo.txt").symlink_to(outside / "secret.txt")
    info = client.get(f"{files_url}/photo.png?info=true")
    assert (info.status_code, info.json()) == (403, TRAVERSAL)
    put = client.put(f"{files_url}/photo.png", json={"caption": "overwrite?"})
    assert (put.status_code, put.json()) == (403, TRAVERSAL)
    delete = client.delete(f"{files_url}/photo.png?caption=true")
    assert (delete.status_code, delete.json()) == (403, TRAVERSAL)
    assert (dataset_dir / "photo.png").exists()
    assert (outside / "secret.txt").read_text() == "top secret"
    listed = client.get(files_url).json()
    assert "top secret" not in str(listed)


def test_symlinked_metadata_csv_pointing_out_is_refused(
    client: TestClient, files_url: str, dataset_dir: Path, outside: Path
) -> None:
    (dataset_dir / "a.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").symlink_to(outside / "secret.txt")
    put = client.put(f"{files_url}/a.wav", json={"metadata": "x"})
    assert (put.status_code, put.json()) == (403, TRAVERSAL)
    assert (outside / "secret.txt").read_text() == "top secret"


@pytest.mark.parametrize("folder", ["../..", "..", "/etc", "sub/../../outside", "linkdir"])
def test_folder_parameter_is_confined(
    client: TestClient, files_url: str, dataset_dir: Path, outside: Path, folder: str
) -> None:
    (dataset_dir / "sub").mkdir()
    (dataset_dir / "linkdir").symlink_to(outside)
    response = client.get(files_url, params={"folder": folder})
    assert (response.status_code, response.json()) == (403, TRAVERSAL)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/v1/datasets/x/files/a%00b.png", "Invalid request: the URL contains a NUL byte"),
        ("/v1/datasets/x/files/%ff%fe.png", "Invalid request: the URL is not valid UTF-8"),
        ("/v1/datasets/x/files?folder=%ff", "Invalid request: the URL is not valid UTF-8"),
        ("/v1/datasets/x/files?folder=a%00", "Invalid request: the URL contains a NUL byte"),
    ],
)
def test_bad_bytes_in_urls_are_400(client: TestClient, url: str, message: str) -> None:
    response = client.get(url)
    assert (response.status_code, response.json()) == (400, {"error": message})


def test_bad_text_in_json_is_400(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    (dataset_dir / "a.png").write_bytes(b"x")
    lone_surrogate = b'{"caption": "\\ud800"}'
    response = client.put(f"{files_url}/a.png", content=lone_surrogate)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "'caption' is not valid Unicode text"},
    )
    nul_path = client.post("/v1/datasets", json={"path": "/tmp\x00/x"})
    assert nul_path.status_code == 400


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:8080", True),
        ("127.0.0.1:9", True),
        ("[::1]:8080", True),
        ("evil.example", False),
        ("evil.example:8080", False),
        ("127.0.0.1.nip.io", False),
        ("", False),
    ],
)
def test_host_header_is_checked_on_loopback(client: TestClient, host: str, allowed: bool) -> None:
    response = client.get("/v1/datasets", headers={"host": host})
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["error"].startswith("Access denied: Host")


def test_host_name_parsing() -> None:
    assert host_name("[::1]:80") == "::1"
    assert host_name("LOCALHOST:80") == "localhost"
    assert host_name("::1") == "::1"


def test_no_cors_headers_by_default(client: TestClient) -> None:
    response = client.get("/v1/datasets", headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/v1/datasets",
        headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_only_for_named_origins(data_dir: Path) -> None:
    app = create_app(Settings(data_dir=data_dir, cors_origins=("http://ui.example",)))
    with TestClient(app, base_url=BASE_URL) as client:
        ok = client.get("/v1/datasets", headers={"origin": "http://ui.example"})
        assert ok.headers["access-control-allow-origin"] == "http://ui.example"
        other = client.get("/v1/datasets", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options(
            "/v1/datasets",
            headers={
                "origin": "http://ui.example",
                "access-control-request-method": "PUT",
                "access-control-request-headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://ui.example"


def test_token_guards_every_v1_request(data_dir: Path) -> None:
    app = create_app(Settings(data_dir=data_dir, token="s3cret"))
    with TestClient(app, base_url=BASE_URL) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret"}):
            for url in ("/v1/datasets", "/v1/nowhere", "/v1/datasets/x/files/a.png"):
                response = client.get(url, headers=headers)
                assert response.status_code == 401
                assert set(response.json()) == {"error"}
                assert response.headers["www-authenticate"] == "Bearer"
        good = client.get("/v1/datasets", headers={"authorization": "Bearer s3cret"})
        assert (good.status_code, good.json()) == (200, {"datasets": []})
        assert client.get("/openapi.json").status_code == 200  # docs stay readable


def test_non_loopback_needs_a_token() -> None:
    with pytest.raises(DatasetyError, match="refusing to listen on 0.0.0.0 without a token"):
        Settings(host="0.0.0.0").check()
    Settings(host="0.0.0.0", token="t").check()
    Settings(host="::1").check()
    Settings(host="localhost").check()


def test_non_loopback_bind_skips_the_host_check(data_dir: Path) -> None:
    app = create_app(Settings(data_dir=data_dir, host="0.0.0.0", token="t"))
    with TestClient(app, base_url="http://gpu-box.lan:8080") as client:
        response = client.get("/v1/datasets", headers={"authorization": "Bearer t"})
        assert response.status_code == 200


def test_the_bind_address_and_allowed_hosts_are_always_accepted(data_dir: Path) -> None:
    for settings, host in [
        (Settings(data_dir=data_dir, host="127.0.0.2", token="T"), "127.0.0.2:8080"),
        (Settings(data_dir=data_dir, host="127.0.0.2"), "127.0.0.2"),
        (Settings(data_dir=data_dir, host="::1"), "[::1]:9000"),
        (Settings(data_dir=data_dir, host="127.0.0.2", allowed_hosts=("box.lan",)), "box.lan"),
        (Settings(data_dir=data_dir, host="127.0.0.2", allowed_hosts=("box.lan",)), "127.0.0.2"),
    ]:
        headers = {"authorization": "Bearer T", "host": host}
        with TestClient(create_app(settings), base_url=f"http://{host}") as client:
            assert client.get("/v1/datasets", headers=headers).status_code == 200, host
            refused = client.get("/v1/datasets", headers={**headers, "host": "127.0.0.3"})
            assert refused.json() == {"error": "Access denied: Host '127.0.0.3' is not allowed"}


@pytest.mark.slow
def test_a_server_on_127_0_0_2_with_a_token_answers_its_own_url(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--host", "127.0.0.2", "--token", "T").start()
    try:
        assert server.base_url.startswith("http://127.0.0.2:")
        client = server.client()
        answer = client.get("/v1/datasets", headers={"authorization": "Bearer T"})
        assert (answer.status_code, answer.json()) == (200, {"datasets": []})
    finally:
        server.stop()
