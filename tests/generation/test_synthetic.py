"""`datasety synthetic` with tiny random diffusers pipelines in a temporary HF cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from datasety.server.app import create_app
from datasety.server.settings import Settings
from tests.clirun import run_main as run_cli
from tests.tinypipelines import (
    FLUX2_KLEIN_REPO,
    QWEN_EDIT_REPO,
    SDXL_REPO,
    save_flux2_klein,
    save_qwen_image_edit,
    save_sdxl_img2img,
    save_sdxl_lora,
)

pytest.importorskip("torch")
pytest.importorskip("diffusers")

SDXL = ("--model", SDXL_REPO, "--steps", "2")
# The default --model is the FP8 id: it loads the BF16 repository, which the cache holds.
KLEIN = ("--steps", "2")


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf")
    save_sdxl_img2img(home)
    save_flux2_klein(home)
    save_qwen_image_edit(home)
    return home


@pytest.fixture(autouse=True)
def offline(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(folder / "red.png")
    Image.new("RGB", (80, 64), (30, 30, 200)).save(folder / "blue.jpg", quality=90)
    return folder


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_sdxl_img2img_writes_control_target_and_caption_per_source(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(out), "-p", "add a hat", *SDXL,
        "--seed", "7", "--batch-size", "2",
    )  # fmt: skip
    assert code == 0, err
    assert files_under(out) == [
        "blue.txt", "control/blue.jpg", "control/red.png", "red.txt", "target/blue.png",
        "target/red.png",
    ]  # fmt: skip
    assert (out / "control" / "blue.jpg").read_bytes() == (sources / "blue.jpg").read_bytes()
    assert (out / "red.txt").read_text() == "add a hat"
    with Image.open(out / "target" / "blue.png") as edited:
        assert edited.size == (80, 64)
    assert "sdxl" in stdout and "loaded in" in stdout
    assert "Done: 2 processed, 0 skipped, 0 failed" in stdout


def test_a_seed_gives_the_same_bytes_and_another_seed_others(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = []
    for run, seed in enumerate(["5", "5", "6"]):
        out = tmp_path / f"out{run}"
        code, _, err = run_cli(
            capsys, "synthetic", "-i", str(sources), "-o", str(out), "-p", "snow", *SDXL,
            "--seed", seed,
        )  # fmt: skip
        assert code == 0, err
        made.append((out / "target" / "red.png").read_bytes())
    assert made[0] == made[1]
    assert made[0] != made[2]


def test_flux2_klein_default_model_makes_numbered_pairs(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(out), "-p", "make it night", *KLEIN,
        "--num-images", "2", "--seed", "1",
    )  # fmt: skip
    assert code == 0, err
    assert f"loading its BF16 equivalent {FLUX2_KLEIN_REPO}" in stdout
    assert "flux2-klein" in stdout
    names = files_under(out)
    assert "target/red_1.png" in names and "target/red_2.png" in names
    assert "control/blue_2.jpg" in names and "blue_1.txt" in names and len(names) == 12
    first, second = ((out / "target" / f"red_{k}.png").read_bytes() for k in (1, 2))
    assert first != second  # each variant has its own seed


def test_pairs_group_in_the_server_with_no_renaming(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "dataset"
    code, _, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(dataset), "-p", "add rain", *SDXL,
    )  # fmt: skip
    assert code == 0, err
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        client.headers["Host"] = "localhost"
        created = client.post("/v1/datasets", json={"path": str(dataset)})
        assert created.status_code == 201, created.text
        url = f"/v1/datasets/{created.json()['id']}/files"
        pairs = client.get(url, params={"group": "true"}).json()["pairs"]
    by_base = {pair["base"]: pair for pair in pairs}
    assert set(by_base) == {"red", "blue"}
    assert by_base["blue"]["input"] == "control/blue.jpg"
    assert by_base["blue"]["target"] == "target/blue.png"
    assert by_base["red"]["caption"] == "add rain"


def test_skip_existing_single_image_and_dry_run(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ("synthetic", "-i", str(sources), "-o", str(out), "-p", "x", *SDXL)
    code, stdout, _ = run_cli(capsys, *args, "--dry-run")
    assert code == 0 and not out.exists()
    assert "would write" in stdout and str(out / "target" / "red.png") in stdout
    assert run_cli(capsys, *args)[0] == 0
    before = (out / "target" / "red.png").stat().st_mtime_ns
    code, stdout, _ = run_cli(capsys, *args, "--skip-existing")
    assert code == 0 and "0 processed, 2 skipped" in stdout
    assert (out / "target" / "red.png").stat().st_mtime_ns == before
    # A second run over the output folder never takes its control/ and target/ as sources.
    code, stdout, _ = run_cli(capsys, "synthetic", "-i", str(out), "-o", str(out), "-p", "x",
                              "-R", *SDXL, "--dry-run")  # fmt: skip
    assert code == 0 and "Done: 0 processed" in stdout

    code, _, err = run_cli(
        capsys, "synthetic", "--input-image", str(sources / "red.png"), "-p", "x", *SDXL,
        "--output-format", "webp",
    )  # fmt: skip
    assert code == 0, err
    with Image.open(sources / "red_target.webp") as edited:
        assert edited.format == "WEBP" and edited.size == (64, 64)
    # --output-image's suffix sets the format, as resize's and degrade's does.
    edit = tmp_path / "edit.jpeg"
    code, _, err = run_cli(capsys, "synthetic", "--input-image", str(sources / "red.png"),
                           "--output-image", str(edit), "-p", "x", *SDXL)  # fmt: skip
    assert code == 0, err
    with Image.open(edit) as edited:
        assert edited.format == "JPEG"


def test_a_lora_changes_the_edit_by_its_scale(
    hf_home: Path, sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("peft")
    lora = save_sdxl_lora(hf_home, tmp_path / "lora")
    made = {}
    for label, extra in [("base", ()), ("off", (f"{lora}:0",)), ("on", (f"{lora}:0.8",))]:
        out = tmp_path / label
        flags = [flag for spec in extra for flag in ("--lora", spec)]
        code, stdout, err = run_cli(
            capsys, "synthetic", "-i", str(sources), "-o", str(out), "-p", "x", *SDXL,
            "--seed", "2", *flags,
        )  # fmt: skip
        assert code == 0, err
        made[label] = (out / "target" / "red.png").read_bytes()
    assert f"LoRA {lora} at scale 0.8" in stdout
    assert made["off"] == made["base"]
    assert made["on"] != made["base"]


def test_weights_load_into_the_unet_and_bad_inputs_are_one_line_errors(
    hf_home: Path, sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch
    from safetensors.torch import save_file

    from tests.hfcache import snapshot_dir

    unet_file = snapshot_dir(hf_home, SDXL_REPO) / "unet" / "diffusion_pytorch_model.safetensors"
    from safetensors.torch import load_file

    state = {f"model.diffusion_model.{k}": v for k, v in load_file(unet_file).items()}
    good = tmp_path / "finetune.safetensors"
    save_file(state, str(good))
    args = ("synthetic", "-i", str(sources), "-o", str(tmp_path / "o"), "-p", "x", *SDXL)
    code, stdout, err = run_cli(capsys, *args, "--weights", str(good))
    assert code == 0, err
    assert f"--weights: {len(state)} of {len(state)} tensors loaded into the unet" in stdout

    foreign = tmp_path / "foreign.safetensors"
    save_file({"something.else": torch.zeros(2)}, str(foreign))
    for extra, message in [
        (("--weights", str(foreign)), "none of its 1 tensors fit the unet"),
        (("--weights", str(tmp_path / "missing.safetensors")), "is not a file"),
        (("--lora", str(tmp_path / "missing.safetensors")), "--lora"),
        (("--gguf", str(good)), "diffusers loads no GGUF model for sdxl"),
        (("--model", "nobody/not-cached"), "not in the local Hugging Face cache"),
        (("--steps", "1"), "leaves no denoising step"),
    ]:
        code, _, err = run_cli(capsys, *args, *extra)
        assert code == 1, (extra, err)
        assert err.startswith("Error: ") and message in err and "Traceback" not in err


def test_qwen_image_edit_plus_edits_without_torchvision(
    sources: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """transformers' Qwen2-VL processor declares a video processor, which needs torchvision
    (not importable beside the CPU torch build): the pipeline gets the image-only one."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus

    # The pipeline sizes its output and its VAE and prompt images by area (1024², 384²):
    # 1/256 of each keeps the tiny model's CPU run to seconds instead of minutes.
    sized = plus.calculate_dimensions
    monkeypatch.setattr(plus, "calculate_dimensions", lambda area, ratio: sized(area // 256, ratio))
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "synthetic", "-i", str(sources), "-o", str(out), "-p", "paint it green",
        "--model", QWEN_EDIT_REPO, "--steps", "1", "--seed", "3",
    )  # fmt: skip
    assert code == 0, err
    assert "qwen-image-edit, QwenImageEditPlusPipeline" in stdout
    assert "Done: 2 processed, 0 skipped, 0 failed" in stdout
    assert files_under(out) == [
        "blue.txt", "control/blue.jpg", "control/red.png", "red.txt", "target/blue.png",
        "target/red.png",
    ]  # fmt: skip
    for name in ("red", "blue"):
        with Image.open(out / "target" / f"{name}.png") as edited:
            edited.load()  # a whole, readable image
            assert edited.mode == "RGB"


def test_a_server_job_runs_synthetic_and_commands_lists_it(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        client.headers["Host"] = "localhost"
        listed = client.get("/v1/commands").json()["commands"]
        params = {p["name"]: p for p in listed["synthetic"]["params"]}
        assert params["model"]["default"] == "black-forest-labs/FLUX.2-klein-4b-fp8"
        assert params["api_image_size"]["choices"] == ["0.5K", "1K", "2K", "4K"]
        args = {
            "input": str(sources), "output": str(out), "prompt": "fog", "model": SDXL_REPO,
            "steps": 2, "device": "cpu",
        }  # fmt: skip
        created = client.post("/v1/jobs", json={"command": "synthetic", "args": args})
        assert created.status_code == 202, created.text
        url = f"/v1/jobs/{created.json()['id']}"
        deadline = time.monotonic() + 300  # a bound for a hung job, not a speed check
        while (job := client.get(url).json())["ended_at"] is None:
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
    assert job["status"] == "done", (job["error"], job["output"][-2000:])
    assert job["progress"]["done"] == job["progress"]["total"] == 2
    assert (out / "target" / "blue.png").is_file()
