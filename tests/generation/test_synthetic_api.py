"""`datasety synthetic --image-api` against a local server speaking OpenAI's images protocol."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.clirun import run_main as run_cli
from tests.generation.fakeapi import Failure, FakeImageApi


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    Image.new("RGB", (48, 32), (255, 0, 0)).save(folder / "red.png")
    Image.new("RGB", (32, 32), (0, 0, 255)).save(folder / "blue.png")
    Image.new("RGB", (32, 48), (0, 255, 0)).save(folder / "green.png")
    return folder


def test_edits_survive_a_429_and_write_pairs(
    image_api: FakeImageApi, sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def limited_once(attempt: int, request: dict[str, Any]) -> Failure:
        if attempt == 0:
            return 429, {"Retry-After": "0"}, {"error": {"message": "slow down"}}
        return None

    image_api.fail = limited_once
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(out), "-p", "invert it",
        "--image-api", "--num-images", "2", "--api-image-size", "0.5K", "--concurrency", "2",
    )  # fmt: skip
    assert code == 0, err
    assert "Done: 3 processed, 0 skipped, 0 failed" in stdout
    assert len(image_api.requests) == 4  # three edits and the retry of the limited one
    first = image_api.requests[-1]
    assert first["path"] == "/v1/images/edits"
    assert first["headers"]["Authorization"] == "Bearer sk-test-key"
    fields = first["fields"]
    assert fields["model"] == "black-forest-labs/flux.2-klein-4b"  # the API's id for the FP8
    assert fields["prompt"] == "invert it" and fields["n"] == "2"
    sizes = {request["fields"]["size"] for request in image_api.requests}
    assert sizes == {"512x336", "512x512", "336x512"}  # 0.5K long side, the source's shape
    with Image.open(out / "target" / "red_2.png") as edited:
        assert edited.convert("RGB").getpixel((0, 0)) == (0, 255, 255)  # inverted red
    assert (out / "control" / "red_1.png").read_bytes() == (sources / "red.png").read_bytes()
    assert (out / "green_2.txt").read_text() == "invert it"


def test_an_image_that_keeps_failing_is_reported_and_skipped(
    image_api: FakeImageApi, sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def blue_is_down(attempt: int, request: dict[str, Any]) -> Failure:
        with Image.open(io.BytesIO(request["files"]["image"])) as image:
            if image.convert("RGB").getpixel((0, 0)) == (0, 0, 255):
                return 503, {"Retry-After": "0"}, {"error": {"message": "overloaded"}}
        return None

    image_api.fail = blue_is_down
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(out), "-p", "x", "--image-api",
        "--max-retries", "2",
    )  # fmt: skip
    assert code == 3
    assert "Failed: blue.png" in stdout + err and "HTTP 503: overloaded" in stdout + err
    assert "Done: 2 processed, 0 skipped, 1 failed" in stdout
    assert len(image_api.requests) == 2 + 3  # blue: one try and two retries
    assert not (out / "target" / "blue.png").exists()
    assert not (out / "control" / "blue.png").exists() and not (out / "blue.txt").exists()
    assert (out / "target" / "red.png").is_file()


def test_a_refused_key_stops_the_batch_in_one_line(
    image_api: FakeImageApi, sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image_api.fail = lambda attempt, request: (401, {}, {"error": {"message": "bad key"}})
    code, _, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(tmp_path / "o"), "-p", "x",
        "--image-api", "--concurrency", "1",
    )  # fmt: skip
    assert code == 1 and "refused the API key" in err and "Traceback" not in err
    assert len(image_api.requests) == 1
    code, _, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(tmp_path / "o"), "-p", "x",
        "--image-api", "--api-aspect-ratio", "wide",
    )  # fmt: skip
    assert code == 1 and "give it as W:H" in err
