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
