"""The Run form judges a job as the server does (issue 17 fix 7): required fields and "one of"
groups marked, values and rules from GET /v1/commands checked in the browser, the server's 400
shown beside the field it names; a secret is never a field. Resume of a stopped training job
(issue 14 item 4)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.ui.harness import RegisterFn, Server, make_image, open_view

pytestmark = [pytest.mark.ui, pytest.mark.slow]

RED = (220, 30, 30)


def test_one_of_groups_are_marked_and_rules_are_checked_before_sending(
    page: Page, server: Server, api: httpx.Client
) -> None:
    before = len(api.get("/v1/jobs").json()["jobs"])
    open_view(page, server, "/jobs")
    page.select_option("#run-command", "caption")
    # --input or --input-image: both marked, each naming the other.
    expect(page.locator("label:has(#arg-input) .one-of")).to_contain_text("or input image")
    expect(page.locator("label:has(#arg-input_image) .one-of")).to_contain_text("or input")
    page.click("#run-submit")
    expect(page.locator("#arg-input-error")).to_have_text("--input or --input-image is required")

    page.select_option("#run-command", "resize")
    # --output is required once --input is set (a "requires" rule): marked as it becomes so.
    output_mark = page.locator("label:has(#arg-output) .required-now")
    expect(output_mark).to_be_hidden()
    page.fill("#arg-input", "/somewhere")
    expect(output_mark).to_be_visible()
    expect(output_mark).to_have_attribute("title", re.compile("--output is required"))
    page.fill("#arg-resolution", "banana")
    page.click("#run-submit")
    expect(page.locator("#arg-resolution-error")).to_contain_text("WIDTHxHEIGHT")
    expect(page.locator("#arg-resolution")).to_have_attribute("aria-invalid", "true")
    # A missing output is the rule's own message, beside the output field.
    expect(page.locator("#arg-output-error")).to_have_text(
        "--output is required (or --input-image/--output-image)"
    )
    # Both at once: one target size.
    page.fill("#arg-resolution", "8x8")
    page.fill("#arg-megapixel", "1")
    page.click("#run-submit")
    expect(page.locator("#arg-megapixel-error")).to_contain_text("not both")
    assert len(api.get("/v1/jobs").json()["jobs"]) == before  # nothing was sent


def test_the_servers_400_for_a_value_only_it_can_judge_shows_beside_the_field(
    page: Page, server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    before = len(api.get("/v1/jobs").json()["jobs"])
    open_view(page, server, "/jobs")
    page.fill("#arg-input", str(tmp_path))
    page.fill("#arg-output", str(tmp_path / "out"))
    # The right shape, out of range: the pattern passes in the browser, click refuses it.
    page.fill("#arg-resolution", "0x8")
    page.click("#run-submit")
    error = page.locator("#arg-resolution-error")
    expect(error).to_contain_text("at least 1x1")
    expect(page.locator("#run-error")).to_be_hidden()
    assert len(api.get("/v1/jobs").json()["jobs"]) == before


def test_a_secret_has_no_field_and_says_where_it_goes(page: Page, server: Server) -> None:
    open_view(page, server, "/jobs")
    page.select_option("#run-command", "upload")
    expect(page.locator("#arg-token")).to_have_count(0)
    expect(page.locator('.secret-note[data-param="token"]')).to_contain_text("HF_TOKEN")
    expect(page.locator("#arg-path")).to_have_count(1)


def test_a_job_the_form_accepts_runs(
    page: Page, server: Server, tmp_path: Path, register: RegisterFn
) -> None:
    folder = tmp_path / "photos"
    make_image(folder / "a.png", (32, 32), RED)
    dataset = register(folder)
    open_view(page, server, f"/jobs?dataset={dataset['id']}")
    page.fill("#arg-output", str(tmp_path / "photos_out"))
    page.fill("#arg-resolution", "16x16")
    page.click("#run-submit")
    expect(page.locator("#job-panel .status").first).to_have_text("done", timeout=60_000)
    assert (tmp_path / "photos_out" / "a.jpg").is_file()


def test_resume_opens_the_form_with_the_same_arguments_and_the_last_checkpoint(
    page: Page, server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    """The Resume button of a stopped training job (issue 14 item 4). The job here stops at
    once (its input folder is missing) beside a checkpoints folder, so the button has a
    checkpoint to offer; tests/training/test_train_restart.py kills a real run with its server
    and resumes it through the API."""
    output = tmp_path / "lora.safetensors"
    checkpoints = tmp_path / "lora.checkpoints"
    checkpoints.mkdir()
    (checkpoints / "step-000002.pt").write_bytes(b"an older checkpoint")
    (checkpoints / "step-000003.pt").write_bytes(b"the latest complete checkpoint")
    (checkpoints / ".step-000004.pt.partial").write_bytes(b"half written")
    args = {"input": str(tmp_path / "missing"), "output": str(output), "steps": 9, "lr": 0.0002}
    created = api.post("/v1/jobs", json={"command": "train", "args": args})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    open_view(page, server, f"/jobs?job={job_id}")
    panel = page.locator("#job-panel")
    expect(panel.locator(".status").first).to_have_text("failed", timeout=60_000)
    latest = str(checkpoints / "step-000003.pt")
    expect(panel).to_contain_text(f"{latest} (step 3)")
    page.select_option("#run-command", "resize")  # the form is on something else
    page.click("#job-resume")
    expect(page.locator("#run-command")).to_have_value("train")
    expect(page.locator("#arg-resume")).to_have_value(latest)
    expect(page.locator("#arg-output")).to_have_value(str(output))
    expect(page.locator("#arg-steps")).to_have_value("9")

    before = {job["id"] for job in api.get("/v1/jobs").json()["jobs"]}
    page.click("#run-submit")
    expect(page.locator(f'#job-panel:not([data-id="{job_id}"])')).to_have_count(1)
    (resumed,) = [j for j in api.get("/v1/jobs").json()["jobs"] if j["id"] not in before]
    argv = resumed["argv"]
    assert argv[argv.index("--resume") + 1] == latest
    assert argv[argv.index("--output") + 1] == str(output)
    assert argv[argv.index("--lr") + 1] == "0.0002"


def test_a_job_without_an_input_flag_still_shows_its_folder(
    page: Page, server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    """inspect takes its folder as DIRECTORY (after ``--`` in the job's argv)."""
    folder = tmp_path / "to_inspect"
    make_image(folder / "a.png", (8, 8), RED)
    created = api.post("/v1/jobs", json={"command": "inspect", "args": {"directory": str(folder)}})
    assert created.status_code == 202, created.text
    open_view(page, server, f"/jobs?job={created.json()['id']}")
    row = page.locator(f'#jobs-list .job[data-id="{created.json()["id"]}"]')
    expect(row.locator(".job-input")).to_have_text("to_inspect")
    expect(page.locator("#job-panel code.argv")).to_have_text(f"datasety inspect -- {folder}")
