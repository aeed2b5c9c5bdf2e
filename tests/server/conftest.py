"""Fixtures for server tests: an app on a temporary data dir, a client, dataset helpers.

``client`` runs the app's lifespan (store open, runners started) and sends ``Host: localhost``,
which the loopback Host check accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from datasety.server.app import create_app
from datasety.server.settings import Settings

BASE_URL = "http://localhost"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    folder.mkdir()
    return folder


RegisterFn = Callable[..., dict[str, Any]]


@pytest.fixture
def register(client: TestClient) -> RegisterFn:
    """``register(path, name=None)`` -> the created dataset's JSON (asserts 201)."""

    def _register(path: Path, name: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"path": str(path)}
        if name is not None:
            payload["name"] = name
        response = client.post("/v1/datasets", json=payload)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    return _register


@pytest.fixture
def dataset(register: RegisterFn, dataset_dir: Path) -> dict[str, Any]:
    """``dataset_dir`` registered (add files to it freely: listings see them)."""
    return register(dataset_dir)


@pytest.fixture
def files_url(dataset: dict[str, Any]) -> str:
    return f"/v1/datasets/{dataset['id']}/files"


def make_image(
    path: Path, size: tuple[int, int] = (8, 6), color: tuple[int, ...] = (200, 30, 30)
) -> Path:
    """A small solid image at ``path`` (format from the suffix); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "RGBA" if len(color) == 4 else "RGB"
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture
def image_maker() -> Callable[..., Path]:
    return make_image
