"""With ``--root``, a job's path arguments (and a workflow job's steps) must stay inside the
roots: refused with 400 before anything is queued, or, for workflow steps, before any step runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image

from datasety.server.settings import Settings

from .jobkit import ended, kill_leftover_jobs, make_images, wait_job


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(data_dir: Path, root: Path) -> Settings:
    return Settings(data_dir=data_dir, kill_grace=2, roots=(root,))


@pytest.fixture(autouse=True)
def _no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


def resize(src: Path | str, dst: Path | str) -> dict[str, Any]:
    args = {"input": str(src), "output": str(dst), "resolution": "16x16", "upscale": True}
    return {"command": "resize", "args": args}


def no_jobs(client: TestClient) -> bool:
    return client.get("/v1/jobs").json()["jobs"] == []


def test_output_outside_the_roots_is_refused_and_nothing_queued(
    client: TestClient, root: Path, outside: Path
) -> None:
    src = make_images(root / "raw", 1)
    response = client.post("/v1/jobs", json=resize(src, outside / "out"))
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Parameter 'output' of resize must be inside a --root folder: {outside / 'out'}",
        "field": "output",
    }
    assert no_jobs(client)
    assert not (outside / "out").exists()


def test_paths_inside_the_roots_run(client: TestClient, root: Path) -> None:
    src = make_images(root / "raw", 2, size=(40, 30))
    # The output does not exist yet, two levels down: judged by its deepest existing parent.
    response = client.post("/v1/jobs", json=resize(src, root / "new" / "sized"))
    assert response.status_code == 202
    job = wait_job(client, response.json()["id"], ended)
    assert job["status"] == "done", job["output"]
    with Image.open(root / "new" / "sized" / "img_000.jpg") as image:
        assert image.size == (16, 16)


def test_a_symlink_inside_a_root_pointing_outside_is_refused(
    client: TestClient, root: Path, outside: Path
) -> None:
    src = make_images(root / "raw", 1)
    (root / "escape").symlink_to(outside)
    response = client.post("/v1/jobs", json=resize(src, root / "escape" / "out"))
    assert response.status_code == 400
    assert "'output' of resize must be inside a --root folder" in response.json()["error"]
    # An input behind such a link would be read from outside: refused the same way.
    make_images(outside / "raw", 1)
    response = client.post("/v1/jobs", json=resize(root / "escape" / "raw", root / "out"))
    assert response.status_code == 400
    assert "'input' of resize must be inside a --root folder" in response.json()["error"]
    assert no_jobs(client)


def test_dot_dot_escapes_and_relative_paths_are_refused(
    client: TestClient, root: Path, outside: Path
) -> None:
    src = make_images(root / "raw", 1)
    climbing = f"{root}/new/../../outside/out"
    response = client.post("/v1/jobs", json=resize(src, climbing))
    assert response.status_code == 400
    assert response.json()["error"].endswith(f"must be inside a --root folder: {climbing}")
    # A job's working folder is not the client's to rely on: relative paths need a root too.
    response = client.post("/v1/jobs", json=resize(src, "out"))
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Parameter 'output' of resize must be an absolute path inside a --root folder: out"
    )
    assert no_jobs(client)


def test_every_path_parameter_is_checked(client: TestClient, root: Path, outside: Path) -> None:
    bad = str(outside / "x")
    cases = [
        ("resize", {"input_image": bad, "output_image": str(root / "a.jpg")}, "input_image"),
        ("degrade", {"input": str(root), "output": bad}, "output"),
        ("align", {"target": str(root), "control": bad}, "control"),
        ("caption", {"input_image": str(root / "a.jpg"), "output_caption": bad}, "output_caption"),
        ("inspect", {"directory": bad}, "directory"),
        ("inspect", {"input": bad}, "input"),
        ("shuffle", {"input": bad, "output": str(root), "group": "a|b"}, "input"),
        ("workflow", {"file": bad}, "file"),
    ]
    for command, args, param in cases:
        response = client.post("/v1/jobs", json={"command": command, "args": args})
        assert response.status_code == 400, (command, response.json())
        expected = f"Parameter '{param}' of {command} must be inside a --root folder: {bad}"
        assert response.json() == {"error": expected, "field": param}
    assert no_jobs(client)


def test_a_group_naming_a_file_outside_the_roots_is_refused(
    client: TestClient, root: Path, outside: Path
) -> None:
    secret = outside / "secret.txt"
    secret.write_text("line one\nline two\n", encoding="utf-8")
    args = {"input": str(root), "output": str(root), "group": ["a|b", str(secret)]}
    response = client.post("/v1/jobs", json={"command": "shuffle", "args": args})
    assert response.status_code == 400
    assert response.json() == {
        "error": f"Parameter 'group' of shuffle names a file outside the --root folders: {secret}",
        "field": "group",
    }
    assert no_jobs(client)
    # Inline variants and a file inside a root are fine.
    (root / "mine.txt").write_text("x\ny\n", encoding="utf-8")
    args["group"] = ["a|b", str(root / "mine.txt")]
    response = client.post("/v1/jobs", json={"command": "shuffle", "args": args})
    assert response.status_code == 202


def write_workflow(path: Path, output: Path, src: Path) -> Path:
    steps = [{"name": "shrink", "command": "resize", "args": resize(src, output)["args"]}]
    path.write_text(yaml.safe_dump({"steps": steps}), encoding="utf-8")
    return path


def test_a_workflow_job_cannot_escape_through_its_steps(
    client: TestClient, root: Path, outside: Path
) -> None:
    src = make_images(root / "raw", 1, size=(40, 30))
    flow = write_workflow(root / "escape.yaml", outside / "out", src)
    response = client.post("/v1/jobs", json={"command": "workflow", "args": {"file": str(flow)}})
    assert response.status_code == 202
    job = wait_job(client, response.json()["id"], ended)
    assert job["status"] == "failed" and job["exit_code"] != 0
    # Refused before the step ran: the workflow's one line of output is the error.
    assert job["output"] == [
        f"Error: Step 1 (resize): Parameter 'output' of resize must be inside a --root folder: "
        f"{outside / 'out'}"
    ]
    assert not (outside / "out").exists()

    inside = write_workflow(root / "inside.yaml", root / "out", src)
    response = client.post("/v1/jobs", json={"command": "workflow", "args": {"file": str(inside)}})
    job = wait_job(client, response.json()["id"], ended)
    assert job["status"] == "done", job["output"]
    with Image.open(root / "out" / "img_000.jpg") as image:
        assert image.size == (16, 16)


class TestWithoutRoots:
    @pytest.fixture
    def settings(self, data_dir: Path) -> Settings:
        return Settings(data_dir=data_dir, kill_grace=2)

    def test_any_path_is_accepted_as_before(
        self, client: TestClient, root: Path, outside: Path
    ) -> None:
        src = make_images(root / "raw", 1, size=(40, 30))
        response = client.post("/v1/jobs", json=resize(src, outside / "out"))
        assert response.status_code == 202
        job = wait_job(client, response.json()["id"], ended)
        assert job["status"] == "done", job["output"]
        assert (outside / "out" / "img_000.jpg").is_file()
