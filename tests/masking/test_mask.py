"""`datasety mask` with tiny random CLIPSeg and SAM 3 models in a temporary HF cache."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from datasety.masking.segmenters import drop_unused_layers
from datasety.masking.shaping import dilate
from datasety.server.app import create_app
from datasety.server.settings import Settings
from tests.clirun import run_main as run_cli
from tests.tinymodels import save_clipseg, save_grounding_dino, save_sam2, save_sam3

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf")
    save_clipseg(torch, transformers, home)
    save_sam3(torch, transformers, home)
    save_grounding_dino(torch, transformers, home)
    save_sam2(torch, transformers, home)
    return home


@pytest.fixture(autouse=True)
def offline(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "red.jpg")
    Image.new("RGBA", (33, 21), (0, 0, 255, 128)).save(folder / "sub" / "blue.png")
    (folder / "red.txt").write_text("a red square")
    return folder


def grouped(dataset: Path) -> dict[str, dict[str, object]]:
    with TestClient(create_app(Settings(data_dir=dataset.parent / "data"))) as client:
        client.headers["Host"] = "localhost"
        created = client.post("/v1/datasets", json={"path": str(dataset)})
        assert created.status_code == 201, created.text
        url = f"/v1/datasets/{created.json()['id']}/files"
        pairs = client.get(url, params={"group": "true", "folder": ""}).json()["pairs"]
    return {pair["base"]: pair for pair in pairs}


def test_a_server_job_runs_mask_and_commands_lists_it(dataset: Path) -> None:
    with TestClient(create_app(Settings(data_dir=dataset.parent / "data"))) as client:
        client.headers["Host"] = "localhost"
        listed = client.get("/v1/commands").json()["commands"]
        params = {p["name"]: p for p in listed["mask"]["params"]}
        assert "filter" in listed
        assert params["input"]["type"] == "path" and params["threshold"]["type"] == "number"
        assert params["model"]["choices"] == ["sam3", "sam2", "clipseg"]
        args = {"input": str(dataset), "keywords": "square", "model": "clipseg", "threshold": 0}
        created = client.post("/v1/jobs", json={"command": "mask", "args": args})
        assert created.status_code == 202, created.text
        url = f"/v1/jobs/{created.json()['id']}"
        deadline = time.monotonic() + 120  # a bound for a hung job, not a speed check
        while (job := client.get(url).json())["ended_at"] is None:
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
    assert job["status"] == "done", job
    assert job["progress"]["done"] == job["progress"]["total"] == 1
    assert_mask(dataset / "mask" / "red.png", (40, 30), 255)


def assert_mask(path: Path, size: tuple[int, int], value: int) -> None:
    with Image.open(path) as mask:
        assert mask.mode == "L" and mask.size == size
        assert set(np.unique(np.asarray(mask)).tolist()) == {value}


def test_clipseg_masks_in_mask_folders_pair_with_their_images(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dataset / "broken.png").write_bytes(b"\x89PNG not really")
    code, out, err = run_cli(
        capsys, "mask", "-i", str(dataset), "-k", "square, hat", "--model", "clipseg",
        "--threshold", "0", "-R", "--device", "cpu", "--batch-size", "2",
    )  # fmt: skip
    del code  # whether "some failed" exits non-zero is the exit-code rule, tested elsewhere
    assert "Loading model CIDAS/clipseg-rd64-refined from the local cache" in out
    assert "Failed: broken.png: cannot read image" in err
    assert "Done: 2 processed, 0 skipped, 1 failed" in out
    assert_mask(dataset / "mask" / "red.png", (40, 30), 255)  # threshold 0: all of it
    assert_mask(dataset / "sub" / "mask" / "blue.png", (33, 21), 255)
    red = grouped(dataset)["red"]
    assert (red["image"], red["mask"]) == ("red.jpg", "mask/red.png")
    # A second run never takes the masks for images.
    (dataset / "broken.png").unlink()
    code, out, err = run_cli(
        capsys, "mask", "-i", str(dataset), "-k", "square", "--model", "clipseg", "-R",
        "--skip-existing",
    )  # fmt: skip
    assert code == 0, err
    assert "Done: 0 processed, 2 skipped, 0 failed" in out


def test_suffix_naming_inverted_jpg_pairs_by_suffix(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "mask", "-i", str(dataset), "-k", "square", "--model", "clipseg",
        "--threshold", "1", "--invert", "--naming", "suffix", "--output-format", "jpg",
    )  # fmt: skip
    assert code == 0, err
    assert_mask(dataset / "red_mask.jpg", (40, 30), 255)  # nothing found, inverted
    assert not (dataset / "sub" / "blue_mask.jpg").exists()  # not recursive
    assert grouped(dataset)["red"]["mask"] == "red_mask.jpg"


def test_sam3_single_image_dry_run_then_real(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "red mask.png"
    args = ["mask", "--input-image", str(dataset / "red.jpg"), "--output-image", str(target)]
    code, out, err = run_cli(capsys, *args, "-k", "square", "--threshold", "1", "--dry-run")
    assert code == 0, err
    assert "would write" in out and "0.0% coverage" in out and not target.exists()
    code, out, err = run_cli(capsys, *args, "-k", "square,hat", "--threshold", "1")
    assert code == 0, err
    assert "Loading model facebook/sam3 from the local cache" in out
    assert_mask(target, (40, 30), 0)  # no instance scores above 1
    code, _, err = run_cli(capsys, *args, "-k", "square", "--threshold", "0", "--padding", "2")
    assert code == 0, err
    with Image.open(target) as mask:
        assert mask.size == (40, 30) and mask.mode == "L"
    # The suffix sets the format: a .webp name gets WebP bytes, not the default PNG's.
    webp = tmp_path / "out" / "red.webp"
    args = ["mask", "--input-image", str(dataset / "red.jpg"), "--output-image", str(webp)]
    assert run_cli(capsys, *args, "-k", "square", "--threshold", "0")[0] == 0
    with Image.open(webp) as mask:
        assert mask.format == "WEBP" and mask.size == (40, 30)


def test_sam2_masks_inside_the_detector_boxes(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "mask", "-i", str(dataset), "-R", "-k", "square,hat", "--model", "sam2",
        "--threshold", "1", "--naming", "suffix",
    )  # fmt: skip
    assert code == 0, err
    assert "Loading model IDEA-Research/grounding-dino-base from the local cache" in out
    assert "Loading model facebook/sam2-hiera-large from the local cache" in out
    assert_mask(dataset / "red_mask.png", (40, 30), 0)  # no box scores above 1: nothing
    assert_mask(dataset / "sub" / "blue_mask.png", (33, 21), 0)
    # Threshold 0 keeps every box; SAM 2 fills some of each (random weights: any shape).
    code, _, err = run_cli(
        capsys, "mask", "--input-image", str(dataset / "red.jpg"), "-k", "square",
        "--model", "sam2", "--threshold", "0",
    )  # fmt: skip
    assert code == 0, err
    with Image.open(dataset / "mask" / "red.png") as mask:
        assert mask.mode == "L" and mask.size == (40, 30)
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}


def test_missing_model_offline_names_the_repo(
    dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    code, _, err = run_cli(capsys, "mask", "-i", str(dataset), "-k", "x", "--model", "clipseg")
    assert code == 1
    assert err.startswith("Error: model CIDAS/clipseg-rd64-refined is not in the local")
    assert len(err.strip().splitlines()) == 1


def test_missing_torch_names_the_extra(
    dataset: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if absent
    code, _, err = run_cli(capsys, "mask", "-i", str(dataset), "-k", "x")
    assert code == 1
    assert err.strip() == (
        "Error: mask needs torch, which is not installed: pip install 'datasety[mask]'"
    )


def test_usage_errors(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "mask", "-i", str(dataset), "-k", " , ")
    assert code == 2 and "--keywords names nothing" in err
    code, _, err = run_cli(
        capsys, "mask", "-i", str(dataset), "-o", str(dataset), "-k", "x", "--naming", "suffix"
    )
    assert code == 2 and "--naming suffix" in err


def test_dilate_grows_by_the_radius_in_a_square() -> None:
    mask = np.zeros((9, 9), np.uint8)
    mask[4, 4] = 255
    grown = dilate(mask, 2)
    assert grown.sum() == 25 * 255 and grown[2:7, 2:7].all()
    assert dilate(mask, 0) is mask


def test_clipseg_without_its_unused_layers_gives_the_same_logits() -> None:
    config = transformers.CLIPSegConfig(
        text_config={"vocab_size": 99, "hidden_size": 16, "intermediate_size": 32,
                     "num_hidden_layers": 1, "num_attention_heads": 2},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 4,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16, extract_layers=[0, 1], reduce_dim=8, decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.CLIPSegForImageSegmentation(config).eval()
    pixels = torch.rand(2, 3, 32, 32)
    ids = torch.tensor([[0, 5, 7, 1], [0, 9, 1, 1]])
    with torch.inference_mode():
        conditions = model.get_conditional_embeddings(batch_size=2, input_ids=ids)
        full = model(pixel_values=pixels, conditional_embeddings=conditions).logits
        drop_unused_layers(model)
        assert len(model.clip.vision_model.encoder.layers) == 2
        cut = model(pixel_values=pixels, conditional_embeddings=conditions).logits
    assert torch.equal(full, cut)
