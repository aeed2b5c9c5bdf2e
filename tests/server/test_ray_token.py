"""The Ray executor against a real local Ray head with token authentication on
(``RAY_AUTH_MODE=token``): the server starts and runs jobs with ``--ray-token`` /
``DATASETY_RAY_TOKEN``, and refuses to start, in one line, without it or with a wrong one."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasety.server.app import create_app
from datasety.server.settings import Settings

from .conftest import BASE_URL
from .jobkit import ended, make_images, wait_job
from .rayhead import RayHead
from .test_ray_setup import _serve

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    # Ray's log tail calls aiohttp in a way aiohttp has deprecated (a warning, not a fault).
    pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning"),
]

TOKEN = secrets.token_hex(32)


@pytest.fixture(scope="module")
def token_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    head = RayHead(tmp_path_factory.mktemp("ray-token-head"), token=TOKEN).start()
    yield head
    head.stop()


def test_without_the_token_the_server_refuses_to_start(tmp_path: Path, token_head: RayHead) -> None:
    result = _serve(tmp_path, "--executor", "ray", "--ray-address", token_head.address)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: the Ray cluster at {token_head.address} requires a token: give it with "
        "--ray-token or DATASETY_RAY_TOKEN\n"
    )


def test_a_wrong_token_is_refused_in_one_line(tmp_path: Path, token_head: RayHead) -> None:
    env = {"DATASETY_RAY_TOKEN": "0" * 64}
    result = _serve(tmp_path, "--executor", "ray", "--ray-address", token_head.address, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: the Ray cluster at {token_head.address} refused the token (--ray-token / "
        "DATASETY_RAY_TOKEN)\n"
    )


def test_with_the_token_a_job_runs_and_its_log_streams(tmp_path: Path, token_head: RayHead) -> None:
    src = make_images(tmp_path / "raw", 2, size=(40, 30))
    out = tmp_path / "out"
    settings = Settings(
        data_dir=tmp_path / "data",
        executor="ray",
        ray_address=token_head.address,
        ray_token=TOKEN,
        kill_grace=2,
    )
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        args = {"input": str(src), "output": str(out), "resolution": "64x48", "upscale": True}
        body = client.post("/v1/jobs", json={"command": "resize", "args": args}).json()
        job = wait_job(client, body["id"], ended, timeout=120)
    assert job["status"] == "done", job
    # The output came through Ray's log tail and log read, both authenticated.
    assert job["output"][-1] == "Done: 2 processed, 0 skipped, 0 failed"
    assert sorted(p.name for p in out.iterdir()) == ["img_000.jpg", "img_001.jpg"]
