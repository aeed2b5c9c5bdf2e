"""The descriptor walk under every dataset file access: symlinks followed only inside, and a
name swapped for a symlink after the walk never redirects a read, a write or a delete."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.core.errors import AccessDeniedError, DatasetyError, NotFoundError
from datasety.server.files import fsroot
from datasety.server.files.fsroot import DatasetRoot

from .conftest import make_image


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    dataset, outside = tmp_path / "dataset", tmp_path / "outside"
    (dataset / "sub").mkdir(parents=True)
    outside.mkdir()
    (dataset / "sub" / "a.txt").write_bytes(b"inside")
    (outside / "a.txt").write_bytes(b"outside")
    return dataset, outside


def test_symlinks_are_followed_inside_and_refused_out(tree: tuple[Path, Path]) -> None:
    dataset, outside = tree
    (dataset / "abs").symlink_to(dataset / "sub")
    (dataset / "sub" / "rel").symlink_to("../sub/a.txt")
    (dataset / "sub" / "up").symlink_to("../../outside/a.txt")
    (dataset / "out").symlink_to(outside)
    (dataset / "root").symlink_to(dataset)
    with DatasetRoot(dataset) as root:
        assert root.read("abs/a.txt") == b"inside"
        assert root.read("sub/rel") == b"inside"
        assert root.read("root/root/sub/a.txt") == b"inside"
        for way_out in ("sub/up", "out/a.txt", "abs/../out/a.txt"):
            with pytest.raises(AccessDeniedError):
                root.read(way_out)
        with pytest.raises(NotFoundError):
            root.read("sub")  # a folder is not a file
        with pytest.raises(NotFoundError):
            root.read("missing/a.txt")


def test_a_loop_is_400(tree: tuple[Path, Path]) -> None:
    dataset, _ = tree
    (dataset / "ping").symlink_to("pong")
    (dataset / "pong").symlink_to("ping")
    with DatasetRoot(dataset) as root, pytest.raises(DatasetyError, match="too many levels"):
        root.read("ping/x")


def test_a_name_swapped_after_the_walk_redirects_nothing(tree: tuple[Path, Path]) -> None:
    dataset, outside = tree
    with DatasetRoot(dataset) as root:
        slot = root.walk("sub/a.txt")
        # The folder is swapped for a link out after the walk opened it.
        (dataset / "sub").rename(dataset / "real")
        (dataset / "sub").symlink_to(outside)
        with slot:
            fsroot.write_atomic(slot, b"written")
            assert (dataset / "real" / "a.txt").read_bytes() == b"written"
            os.unlink(slot.entry, dir_fd=slot.fd)
        assert not (dataset / "real" / "a.txt").exists()
        assert (outside / "a.txt").read_bytes() == b"outside"
        # A fresh walk sees the link and refuses it.
        with pytest.raises(AccessDeniedError):
            root.read("sub/a.txt")


def test_a_file_swapped_for_a_link_is_not_read_through(tree: tuple[Path, Path]) -> None:
    dataset, outside = tree
    with DatasetRoot(dataset) as root:
        fd = root.open_file("sub/a.txt")
        (dataset / "sub" / "a.txt").unlink()
        (dataset / "sub" / "a.txt").symlink_to(outside / "a.txt")
        try:
            assert fsroot.fd_path(fd).read_bytes() == b"inside"
        finally:
            os.close(fd)
        with pytest.raises(AccessDeniedError):
            root.open_file("sub/a.txt")


def test_the_dataset_folder_itself_is_never_opened_through_a_link(
    tree: tuple[Path, Path],
) -> None:
    dataset, outside = tree
    dataset.rename(dataset.with_name("moved"))
    dataset.symlink_to(outside)
    with pytest.raises(AccessDeniedError):
        DatasetRoot(dataset)


def test_folders_made_for_a_refused_write_are_removed(tree: tuple[Path, Path]) -> None:
    dataset, _ = tree
    with DatasetRoot(dataset) as root, root.walk("new/deeper/x.png", create=True) as slot:
        assert (dataset / "new" / "deeper").is_dir()
        slot.remove_made()
    assert not (dataset / "new").exists()


def test_requests_leave_no_descriptor_open(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    (dataset_dir / "big.bin").write_bytes(b"x" * 400_000)  # streamed, not sent from memory
    make_image(dataset_dir / "photo.png")
    (dataset_dir / "photo.txt").write_text("a caption")
    etag = client.get(f"{files_url}/big.bin").headers["etag"]
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "big.bin", {}),
        ("GET", "big.bin", {"headers": {"range": "bytes=10-20"}}),
        ("GET", "big.bin", {"headers": {"range": "bytes=999999-"}}),
        ("GET", "big.bin", {"headers": {"if-none-match": etag}}),
        ("GET", "photo.png", {"params": {"thumb": 64}}),
        ("GET", "photo.png", {"params": {"info": "true"}}),
        ("GET", "missing.png", {}),
        ("PUT", "photo.png", {"json": {"caption": "new"}}),
        ("POST", "new/x.bin", {"content": b"x", "headers": {"content-type": "image/png"}}),
        ("DELETE", "new/x.bin", {}),
    ]
    for method, url, kwargs in requests:  # warm-up: lazy imports, thread pools, caches
        client.request(method, f"{files_url}/{url}", **kwargs)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        for method, url, kwargs in requests:
            assert client.request(method, f"{files_url}/{url}", **kwargs).status_code < 500
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before
