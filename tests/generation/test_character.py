"""`datasety character`: prompts from a local OpenAI-compatible chat server, images from a
tiny random FLUX.2-klein pipeline or the images API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.clirun import run_main as run_cli
from tests.generation.fakeapi import Failure, FakeImageApi
from tests.tinypipelines import save_flux2_klein

LLM_ANSWER = """<think>three prompts, no numbers</think>
1. Mara the knight laughing in the rain, close-up
2) "Mara the knight riding through a snowy pass at dawn"
- Mara the knight reading a map by candlelight
Mara the knight asleep under an oak tree
"""
SMALL = ("--height", "64", "--width", "64", "--steps", "2")


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf")
    save_flux2_klein(home)
    return home


@pytest.fixture(autouse=True)
def offline(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)


def test_llm_api_prompts_survive_a_429_and_render_locally(
    image_api: FakeImageApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("diffusers")

    def limited_once(attempt: int, request: dict[str, Any]) -> Failure:
        if attempt == 0:
            return 429, {"Retry-After": "0"}, {"error": {"message": "slow down"}}
        return None

    image_api.fail = limited_once
    image_api.chat_text = LLM_ANSWER
    reference = tmp_path / "mara.png"
    Image.new("RGB", (16, 16), (90, 60, 30)).save(reference)
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "character", "-o", str(out), "-n", "3", "--llm-api", "-r", str(reference),
        "--character-description", "Mara, a knight", "--style", "watercolour", "--seed", "4",
        *SMALL,
    )  # fmt: skip
    assert code == 0, err
    assert len(image_api.requests) == 2  # the limited request and its retry
    body = image_api.requests[-1]["json"]
    user = body["messages"][1]["content"]
    assert "Generate 3 varied image prompts" in user[0]["text"]
    assert "Mara, a knight" in user[0]["text"] and "watercolour" in user[0]["text"]
    assert user[1]["image_url"]["url"].startswith("data:image/png;base64,")
    expected = [
        "Mara the knight laughing in the rain, close-up",
        "Mara the knight riding through a snowy pass at dawn",
        "Mara the knight reading a map by candlelight",
    ]
    assert (out / "prompts.txt").read_text().splitlines() == expected
    assert (out / "0002.txt").read_text() == expected[1]
    with Image.open(out / "0003.png") as image:
        assert image.size == (64, 64)
    assert "Done: 3 processed, 0 skipped, 0 failed" in stdout


def test_a_seed_repeats_its_bytes_and_each_image_has_its_own_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("diffusers")
    listed = tmp_path / "prompts.txt"
    listed.write_text("a knight\n\na knight\n")
    made = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        code, _, err = run_cli(
            capsys, "character", "-o", str(out), "--prompts-file", str(listed), "--seed", "9",
            "--batch-size", "2", *SMALL,
        )  # fmt: skip
        assert code == 0, err
        made.append([(out / f"000{k}.png").read_bytes() for k in (1, 2)])
    assert made[0] == made[1]
    assert made[0][0] != made[0][1]  # the same prompt twice: seeds 9 and 10


def test_prompts_file_with_the_image_api(
    image_api: FakeImageApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "prompts.txt"
    listed.write_text("a knight\na knight at night\n")
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "character", "-o", str(out), "--prompts-file", str(listed), "--image-api",
        "--width", "96", "--height", "64", "--output-format", "jpg",
    )  # fmt: skip
    assert code == 0, err
    assert [r["path"] for r in image_api.requests] == ["/v1/images/generations"] * 2
    assert {r["json"]["size"] for r in image_api.requests} == {"96x64"}
    with Image.open(out / "0002.jpg") as image:
        assert image.format == "JPEG" and image.size == (96, 64)
    assert (out / "0001.txt").read_text() == "a knight"


def test_prompts_only_dry_run_and_one_line_errors(
    image_api: FakeImageApi,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image_api.chat_text = LLM_ANSWER
    out = tmp_path / "out"
    monkeypatch.setenv("OLLAMA_HOST", image_api.url.removesuffix("/v1"))
    code, stdout, err = run_cli(
        capsys, "character", "-o", str(out), "-n", "2", "--llm-ollama", "llama3", "--prompts-only"
    )  # fmt: skip
    assert code == 0, err
    assert image_api.requests[-1]["json"]["model"] == "llama3"
    assert "Authorization" not in image_api.requests[-1]["headers"]
    assert sorted(p.name for p in out.iterdir()) == ["prompts.txt"]
    assert len((out / "prompts.txt").read_text().splitlines()) == 2

    asked = len(image_api.requests)
    dry = tmp_path / "dry"
    code, stdout, _ = run_cli(capsys, "character", "-o", str(dry), "--llm-api", "--dry-run")
    assert code == 0 and "would ask" in stdout and not dry.exists()
    assert len(image_api.requests) == asked  # a dry run calls no LLM

    for args, message in [
        ((), "prompts come from one of --llm-api"),
        (("--llm-api", "--llm-ollama", "x"), "given: --llm-api and --llm-ollama"),
        (("--llm-gguf", str(tmp_path / "none.gguf")), "is not a file"),
        (("--prompts-file", str(tmp_path / "none.txt")), "cannot read it"),
        (("--llm-api", "-r", str(tmp_path / "none.png")), "--reference"),
        (("--llm-model", "nobody/no-llm"), "not in the local Hugging Face cache"),
    ]:
        code, _, err = run_cli(capsys, "character", "-o", str(tmp_path / "e"), *args)
        assert code == 1, (args, err)
        assert err.startswith("Error: ") and message in err and "Traceback" not in err
