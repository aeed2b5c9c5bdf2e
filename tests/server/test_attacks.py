"""An attacker's view of the server: hostile paths, bodies, headers, arguments and files.

Every hostile request must get a 4xx ``{"error": "..."}``: never a 500, never a dropped
connection, never a read or a write outside the dataset, never a leftover file. The first
part runs in-process; the tests marked ``slow`` attack a real ``python -m datasety server``
over raw HTTP (see :class:`tests.server.jobkit.ServerProcess`).

What ``test_security.py`` already covers is not repeated here: ``%2e%2e``/``..%2F``/absolute
traversal for every method, file/folder/sidecar/metadata.csv symlinks pointing out, ``?folder=``
escapes, NUL and undecodable bytes in the URL, the Host check, CORS on/off, the token on
``/v1``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

TRAVERSAL = {"error": "Access denied: Path traversal detected"}


def files_in(folder: Path) -> list[str]:
    """Every path under ``folder`` (hidden and temporary files included), sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def assert_error(response: object, status: int, message: str | None = None) -> None:
    assert getattr(response, "status_code", None) == status, getattr(response, "text", "")
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    if message is not None:
        assert body["error"] == message


# -- listings -----------------------------------------------------------------------------------


def test_a_limit_0_page_does_not_empty_later_listings(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    # A plain listing is cached per version: a page of 0 entries used to be cached as the
    # whole listing, so one request emptied the dataset for every other client.
    for name in ("a.png", "b.png"):
        (dataset_dir / name).write_bytes(b"x")
    for group, key in (("false", "files"), ("true", "pairs")):
        page = client.get(files_url, params={"limit": 0, "group": group}).json()
        assert page == {key: [], "total": 2}
        whole = client.get(files_url, params={"group": group}).json()
        assert [e["base"] for e in whole[key]] == ["a", "b"]
        assert whole["total"] == 2


@pytest.mark.parametrize(("limit", "offset"), [(10**30, 0), (0, 10**30), (None, 10**30)])
def test_huge_limit_and_offset_are_fine(
    client: TestClient, files_url: str, dataset_dir: Path, limit: int | None, offset: int
) -> None:
    (dataset_dir / "a.png").write_bytes(b"x")
    params = {"offset": offset} if limit is None else {"limit": limit, "offset": offset}
    body = client.get(files_url, params=params).json()
    assert body["total"] == 1
    assert len(body["files"]) == (1 if limit and not offset else 0)


# -- names the file system cannot take, symlink loops -------------------------------------------


LONG_NAME = "a" * 256 + ".png"
DEEP_PATH = "/".join(["d" * 250] * 17) + "/x.png"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (LONG_NAME, "Invalid path: a name is longer than 255 bytes"),
        ("sub/" + "é" * 128 + ".png", "Invalid path: a name is longer than 255 bytes"),
        (DEEP_PATH, "Invalid path: longer than 4096 bytes"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_names_too_long_are_400_not_500(
    client: TestClient, files_url: str, dataset_dir: Path, path: str, message: str, method: str
) -> None:
    kwargs = {"json": {"caption": "x"}} if method in ("POST", "PUT") else {}
    assert_error(client.request(method, f"{files_url}/{path}", **kwargs), 400, message)
    assert_error(client.get(f"{files_url}/{path}?info=true"), 400, message)
    assert files_in(dataset_dir) == []


def test_a_folder_parameter_too_long_is_400(client: TestClient, files_url: str) -> None:
    response = client.get(files_url, params={"folder": LONG_NAME})
    assert_error(response, 400, "Invalid path: a name is longer than 255 bytes")


def test_symlink_loops_do_not_break_the_dataset(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "a.png").write_bytes(b"x")
    (dataset_dir / "self").symlink_to(dataset_dir / "self")
    (dataset_dir / "ping").symlink_to(dataset_dir / "pong")
    (dataset_dir / "pong").symlink_to(dataset_dir / "ping")
    (dataset_dir / "b.png").write_bytes(b"y")
    (dataset_dir / "b.txt").symlink_to(dataset_dir / "b.txt")
    # The listing skips what cannot be resolved and shows the rest.
    listed = client.get(files_url)
    assert listed.status_code == 200
    assert [e["base"] for e in listed.json()["files"]] == ["a", "b"]
    loop = "Invalid path: too many levels of symbolic links"
    for method, url, kwargs in [
        ("GET", "self", {}),
        ("GET", "ping/x.png", {}),
        ("POST", "self/new.png", {"json": {"caption": "x"}}),
        ("GET", "b.png?info=true", {}),
        ("PUT", "b.png", {"json": {"caption": "through the loop?"}}),
    ]:
        assert_error(client.request(method, f"{files_url}/{url}", **kwargs), 400, loop)
    assert_error(client.get(files_url, params={"folder": "pong"}), 400, loop)
    assert (dataset_dir / "b.txt").is_symlink()


@pytest.mark.parametrize("path", ["~no-such-user-here", "~no-such-user-here/x", "/" + "a" * 300])
def test_register_paths_that_cannot_resolve_are_400(client: TestClient, path: str) -> None:
    response = client.post("/v1/datasets", json={"path": path})
    assert_error(response, 400, "Provided path does not exist or is not a directory")


def test_register_a_symlink_loop_is_400(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for path in (tmp_path / "loop", tmp_path / "loop" / "x"):
        response = client.post("/v1/datasets", json={"path": str(path)})
        assert_error(response, 400, "Provided path does not exist or is not a directory")


def test_a_dataset_folder_turned_into_a_loop_is_gone(
    client: TestClient, tmp_path: Path, dataset: dict[str, object], dataset_dir: Path
) -> None:
    dataset_dir.rmdir()
    dataset_dir.symlink_to(dataset_dir)
    response = client.get(f"/v1/datasets/{dataset['id']}/files")
    assert_error(response, 404, "Dataset path no longer exists on disk")


# -- backslashes --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["..\\..\\outside\\x.png", "sub\\..\\..\\x.png", "\\etc\\x.png"])
def test_backslash_traversal_is_refused_too(
    client: TestClient, files_url: str, dataset_dir: Path, path: str
) -> None:
    # A plain name on POSIX, but a way out on Windows, where the folder may be shared.
    for kwargs in ({"content": b"x", "headers": {"content-type": "image/png"}}, {"json": {}}):
        response = client.post(f"{files_url}/{path}", **kwargs)  # type: ignore[arg-type]
        assert (response.status_code, response.json()) == (403, TRAVERSAL)
    assert files_in(dataset_dir) == []


def test_backslashes_without_dots_stay_plain_names(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    response = client.post(f"{files_url}/a\\b.png", content=b"x")
    assert (response.status_code, response.json()["path"]) == (201, "a\\b.png")
    assert (dataset_dir / "a\\b.png").read_bytes() == b"x"
