"""/openapi.json describes the jobs and commands endpoints with real models (checked against
real answers), and the docs pages load everything from this server (no CDN)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.server.routes.commands import CommandsOut
from datasety.server.routes.jobs import JobAccepted, JobList, JobOut

from .jobkit import ended, kill_leftover_jobs, make_images, wait_job


@pytest.fixture(autouse=True)
def _no_leftover_jobs(data_dir: Path) -> Iterator[None]:
    yield
    kill_leftover_jobs(data_dir)


def _schema_of(operation: dict[str, Any], status: str) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"][status]["content"]["application/json"]["schema"]
    return schema


def test_jobs_and_commands_have_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    ref = "#/components/schemas/"
    assert _schema_of(paths["/v1/jobs"]["get"], "200") == {"$ref": ref + "JobList"}
    assert _schema_of(paths["/v1/jobs"]["post"], "202") == {"$ref": ref + "JobAccepted"}
    assert _schema_of(paths["/v1/jobs/{job_id}"]["get"], "200") == {"$ref": ref + "JobOut"}
    assert _schema_of(paths["/v1/jobs/{job_id}"]["delete"], "200") == {"$ref": ref + "Cancelled"}
    assert _schema_of(paths["/v1/commands"]["get"], "200") == {"$ref": ref + "CommandsOut"}
    logs = paths["/v1/jobs/{job_id}/logs"]["get"]["responses"]["200"]["content"]
    assert set(logs) == {"text/plain", "text/event-stream"}

    body = paths["/v1/jobs"]["post"]["requestBody"]
    assert body["required"] is True
    submit = body["content"]["application/json"]["schema"]
    assert submit["required"] == ["command"] and set(submit["properties"]) == {"command", "args"}

    # The spec's keys, in the schema a client generator reads.
    job = schemas["JobOut"]["properties"]
    spec_keys = ["id", "command", "argv", "status", "output", "exit_code", "started_at"]
    assert set(spec_keys + ["ended_at"]) <= set(job)
    assert schemas["JobList"]["properties"]["jobs"]["items"] == {"$ref": ref + "JobOut"}
    param = schemas["ParamOut"]["properties"]
    assert {"name", "help", "required", "choices", "default"} <= set(param)


def test_real_answers_match_the_models(client: TestClient, tmp_path: Path) -> None:
    """The models forbid unknown keys: a key added to an answer must be documented too."""
    CommandsOut.model_validate(client.get("/v1/commands").json())
    src = make_images(tmp_path / "raw", 1)
    out = tmp_path / "out"
    payload = {
        "command": "resize",
        "args": {"input": str(src), "output": str(out), "resolution": "16x16"},
    }
    accepted = client.post("/v1/jobs", json=payload)
    assert accepted.status_code == 202
    job_id = JobAccepted.model_validate(accepted.json()).id
    JobOut.model_validate(wait_job(client, job_id, ended))
    (listed,) = JobList.model_validate(client.get("/v1/jobs").json()).jobs
    assert listed.id == job_id and listed.status == "done"


LOCAL_URL = re.compile(r"""(?:src|href)="([^"]*)"|url: '([^']*)'""")


def test_the_docs_page_loads_only_from_this_server(client: TestClient) -> None:
    html = client.get("/docs")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    urls = [a or b for a, b in LOCAL_URL.findall(html.text)]
    assert "/openapi.json" in urls or "/openapi.json" in html.text
    assets = [url for url in urls if url != "/openapi.json"]
    assert assets and all(url.startswith("/docs/assets/") for url in assets), urls
    assert "cdn" not in html.text.lower() and "googleapis" not in html.text
    assert '"validatorUrl": null' in html.text  # no schema sent to validator.swagger.io
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
