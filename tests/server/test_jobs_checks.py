"""What a job may ask of the server, checked at submit and again at start: no URL fetched for a
client (unless the server opts in, never under ``--root``), an argv the OS can take, paths that
left the roots while the job waited, and a workflow job's relative paths beside its file."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image

from datasety.core.errors import DatasetyError
from datasety.server.app import create_app
from datasety.server.settings import Settings

from .conftest import BASE_URL
from .jobkit import ended, kill_leftover_jobs, make_images, slow_resize, wait_for, wait_job


@pytest.fixture(autouse=True)
def _no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


@pytest.fixture
def variants_url() -> Iterator[str]:
    """A real HTTP server on loopback answering two variants, one per line."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"from the url\nalso from the url\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/groups.txt"
    finally:
        server.shutdown()
        server.server_close()


def shuffle_job(folder: Path, group: str) -> dict[str, Any]:
    args = {"input": str(folder), "output": str(folder), "group": ["a|b", group]}
    return {"command": "shuffle", "args": args}


NO_URL = "this server fetches no URL for a job (start it with --allow-job-urls to allow it)"


def test_a_url_group_is_refused_by_default(
    client: TestClient, tmp_path: Path, variants_url: str
) -> None:
    images = make_images(tmp_path / "images", 1)
    response = client.post("/v1/jobs", json=shuffle_job(images, variants_url))
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": f"Parameter 'group' of shuffle must not be a URL: {NO_URL}: {variants_url}",
            "field": "group",
        },
    )
    assert client.get("/v1/jobs").json()["jobs"] == []
    assert not (images / "img_000.txt").exists()


def test_a_url_group_runs_when_the_server_opts_in(
    data_dir: Path, tmp_path: Path, variants_url: str
) -> None:
    images = make_images(tmp_path / "images", 1)
    app = create_app(Settings(data_dir=data_dir, allow_job_urls=True))
    with TestClient(app, base_url=BASE_URL) as client:
        response = client.post("/v1/jobs", json=shuffle_job(images, variants_url))
        assert response.status_code == 202, response.json()
        job = wait_job(client, response.json()["id"], ended)
    assert job["status"] == "done", job["output"]
    assert "from the url" in (images / "img_000.txt").read_text()


def test_a_url_group_is_refused_under_root_whatever_the_flag(
    data_dir: Path, tmp_path: Path, variants_url: str
) -> None:
    images = make_images(tmp_path / "images", 1)
    app = create_app(Settings(data_dir=data_dir, roots=(tmp_path,)))
    with TestClient(app, base_url=BASE_URL) as client:
        response = client.post("/v1/jobs", json=shuffle_job(images, variants_url))
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "Parameter 'group' of shuffle must not be a URL: a server with --root "
            f"fetches no URL: {variants_url}",
            "field": "group",
        },
    )
    with pytest.raises(DatasetyError, match="--allow-job-urls cannot be used with --root"):
        Settings(data_dir=data_dir, roots=(tmp_path,), allow_job_urls=True).check()


def test_a_workflow_job_with_a_url_step_runs_no_step(
    client: TestClient, tmp_path: Path, variants_url: str
) -> None:
    images = make_images(tmp_path / "images", 1)
    flow = tmp_path / "flow.yaml"
    steps = [
        {"command": "inspect", "args": {"input": str(images)}},
        shuffle_job(images, variants_url),
    ]
    flow.write_text(yaml.safe_dump({"steps": steps}), encoding="utf-8")
    response = client.post("/v1/jobs", json={"command": "workflow", "args": {"file": str(flow)}})
    job = wait_job(client, response.json()["id"], ended)
    assert job["status"] == "failed"
    assert job["output"] == [
        f"Error: Step 2 (shuffle): Parameter 'group' of shuffle must not be a URL: {NO_URL}: "
        f"{variants_url}"
    ]
    assert not (images / "img_000.txt").exists()


def test_an_argv_longer_than_the_os_takes_is_400(client: TestClient) -> None:
    one_too_long = {"command": "inspect", "args": {"input": "x" * 200_000}}
    response = client.post("/v1/jobs", json=one_too_long)
    assert response.status_code == 400
    assert response.json()["error"].startswith("An argument of inspect is 200000 bytes;")
    # Many short values: each costs its bytes and a pointer, so a small body can be too many.
    count = 150_000
    limit = min(os.sysconf("SC_ARG_MAX"), 6 * 1024 * 1024)
    if count * (len("--group") + len("a") + 2 + 16) <= limit:
        pytest.skip("this machine's ARG_MAX is more than a 1 MB job body can fill")
    many = {"command": "shuffle", "args": {"input": "x", "output": "y", "group": ["a"] * count}}
    response = client.post("/v1/jobs", json=many)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Arguments of shuffle are too long to start")
    assert response.json()["error"].endswith(f"the system allows {limit}")
    assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_workflow_jobs_relative_paths_resolve_beside_its_file(
    client: TestClient, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    make_images(project / "raw", 2, size=(40, 30))
    args = {"input": "raw", "output": "sized", "resolution": "16x16", "upscale": True}
    flow = project / "datasety.yaml"
    flow.write_text(yaml.safe_dump({"steps": [{"command": "resize", "args": args}]}))
    response = client.post("/v1/jobs", json={"command": "workflow", "args": {"file": str(flow)}})
    job = wait_job(client, response.json()["id"], ended)
    assert job["status"] == "done", job["output"]
    with Image.open(project / "sized" / "img_001.jpg") as image:
        assert image.size == (16, 16)
    assert not Path("sized").exists()  # nothing in the server's own folder


class TestRecheckAtStart:
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        (tmp_path / "root").mkdir()
        return tmp_path / "root"

    @pytest.fixture
    def settings(self, data_dir: Path, root: Path) -> Settings:
        return Settings(data_dir=data_dir, roots=(root,), max_jobs=1, kill_grace=1)

    def test_a_queued_job_whose_folder_became_a_link_out_does_not_start(
        self, client: TestClient, root: Path, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        src = make_images(root / "raw", 1, size=(40, 30))
        busy = make_images(root / "busy", 40)
        first = client.post("/v1/jobs", json=slow_resize(busy, root / "busy_out", workers=1))
        (root / "target").mkdir()
        args = {"input": str(src), "output": str(root / "target" / "out"), "resolution": "16x16"}
        queued = client.post("/v1/jobs", json={"command": "resize", "args": args})
        assert queued.json()["status"] == "queued"
        # While it waits, its output folder is swapped for a symlink out of the root.
        (root / "target").rmdir()
        (root / "target").symlink_to(outside)
        assert client.delete(f"/v1/jobs/{first.json()['id']}").status_code == 200
        job = wait_job(client, queued.json()["id"], ended)
        assert job["status"] == "failed" and job["started_at"] is not None
        assert job["error"] == (
            "Refused at start: Parameter 'output' of resize must be inside a --root folder: "
            f"{root / 'target' / 'out'}"
        )
        assert list(outside.iterdir()) == []
        # The next job starts as usual.
        fine = dict(args, output=str(root / "fine"))
        response = client.post("/v1/jobs", json={"command": "resize", "args": fine})
        done = wait_for(lambda: wait_job(client, response.json()["id"], ended), 60, "next job")
        assert done["status"] == "done", done["output"]
