"""`datasety train` with tiny random SDXL and FLUX.2-klein pipelines in a temporary HF cache.

Nothing is downloaded: the pipelines are built from configs under the real repository ids and
the runs are offline (``HF_HUB_OFFLINE=1``). Each run is 2-4 steps on four tiny images; what
is checked is real: the LoRA file loads into the diffusers pipeline and changes its output,
a resumed run computes the same losses as one that never stopped, a job reports loss and ETA.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from datasety.commands.invocation import argv_wants_accelerator
from datasety.core.progress import Progress
from datasety.models.loading import model_dir
from datasety.server.app import create_app
from datasety.server.settings import Settings
from datasety.training import data
from datasety.training.lora_file import read_metadata
from tests.clirun import run_main
from tests.tinypipelines import QWEN_EDIT_REPO, save_qwen_image_edit
from tests.training.tiny import (
    FLUX2_REPO,
    QWEN_EDIT_ORIGINAL_REPO,
    QWEN_REPO,
    SDXL_REPO,
    save_flux2_klein_base,
    save_qwen_image,
    save_qwen_image_edit_original,
    save_sdxl,
)

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

# diffusers' Euler scheduler calls np.array() on a tensor; torch 2.13's __array__ takes no
# copy= keyword, which numpy 2 warns about (the values are the same).
EULER_WARNING = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf")
    save_sdxl(home)
    save_flux2_klein_base(home)
    save_qwen_image(home)
    save_qwen_image_edit(home)
    save_qwen_image_edit_original(home)
    return home


@pytest.fixture(autouse=True)
def offline(hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    folder.mkdir()
    shapes = [(64, 64), (128, 64), (64, 64), (64, 128)]
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)]
    for index, (size, colour) in enumerate(zip(shapes, colours, strict=True)):
        Image.new("RGB", size, colour).save(folder / f"img{index}.png")
        (folder / f"img{index}.txt").write_text(f"a plain colour number {index}")
    return folder


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    """Four edit pairs as the server groups them: control/ + target/ folders, the caption
    beside the target (a colour turned to its complement)."""
    folder = tmp_path / "pairs"
    (folder / "control").mkdir(parents=True)
    (folder / "target").mkdir()
    shapes = [(64, 64), (128, 64), (64, 64), (64, 128)]
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)]
    for index, (size, colour) in enumerate(zip(shapes, colours, strict=True)):
        Image.new("RGB", size, colour).save(folder / "control" / f"p{index}.png")
        complement = tuple(255 - c for c in colour)
        Image.new("RGB", size, complement).save(folder / "target" / f"p{index}.png")
        (folder / "target" / f"p{index}.txt").write_text(f"invert the colour {index}")
    return folder


@pytest.fixture
def two_controls(pairs: Path) -> Path:
    """The four pairs with a second control each in input/ (after control/ by path): a stripe
    of the target's colour, wider than the target for two of them (its own bucket)."""
    (pairs / "input").mkdir()
    for index, path in enumerate(sorted((pairs / "target").glob("*.png"))):
        with Image.open(path) as target:
            colour = target.getpixel((0, 0))
        size = (256, 64) if index % 2 == 0 else (64, 64)
        Image.new("RGB", size, colour).save(pairs / "input" / path.name)
    return pairs


def train_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_main(capsys, "train", "--image-size", "64", "--device", "cpu", *args)


def generate(pipe: Any, **extra: Any) -> Any:
    generator = torch.Generator().manual_seed(0)
    return pipe(
        prompt="a plain colour", num_inference_steps=2, height=64, width=64, generator=generator,
        output_type="np", **extra,
    ).images  # fmt: skip


@pytest.mark.filterwarnings(EULER_WARNING)
@pytest.mark.parametrize(
    ("repo", "pipeline", "prefix"),
    [(SDXL_REPO, "StableDiffusionXLPipeline", "lora_unet_"),
     (FLUX2_REPO, "Flux2KleinPipeline", "transformer."),
     (QWEN_REPO, "QwenImagePipeline", "transformer.")],
    ids=["sdxl", "flux2", "qwen"],
)  # fmt: skip
def test_the_lora_loads_into_the_pipeline_and_changes_its_output(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path, repo: str,
    pipeline: str, prefix: str,
) -> None:  # fmt: skip
    output = tmp_path / "out" / "style.safetensors"
    code, out, err = train_cli(
        capsys, "-i", str(dataset), "-o", str(output), "-m", repo, "--steps", "2", "--lr", "0.05",
        "--lora-rank", "4", "--lora-alpha", "8",
    )  # fmt: skip
    assert code == 0, err
    assert "step 2/2 loss=" in out
    meta = read_metadata(output)
    assert meta["base_model"] == repo and meta["steps"] == "2" and meta["lora_rank"] == "4"
    assert meta["dataset_hash"] == data.dataset_hash(data.load_samples(dataset, 64))
    from safetensors.torch import load_file

    keys = list(load_file(str(output)))
    assert keys and all(k.startswith(prefix) for k in keys)
    assert all(".lora_" in k or k.endswith(".alpha") for k in keys)

    pipe = getattr(diffusers, pipeline).from_pretrained(model_dir(repo, note=lambda _: None))
    pipe.set_progress_bar_config(disable=True)
    before = generate(pipe)
    pipe.load_lora_weights(str(output))
    after = generate(pipe)
    assert before.shape == after.shape
    assert abs(before - after).max() > 1e-4


def edit_pipeline(repo: str) -> Any:
    """The edit pipeline of ``repo`` from the cache (Qwen-Image-Edit with the processor
    training uses, as torchvision does not import here)."""
    folder = model_dir(repo, note=lambda _: None)
    if repo in (QWEN_EDIT_REPO, QWEN_EDIT_ORIGINAL_REPO):
        from transformers import AutoTokenizer

        from datasety.models.qwen_vl import image_only_processor

        processor = image_only_processor(
            folder / "processor", AutoTokenizer.from_pretrained(folder / "tokenizer")
        )
        name = json.loads((folder / "model_index.json").read_text())["_class_name"]
        pipe = getattr(diffusers, name).from_pretrained(folder, processor=processor)
    else:
        pipe = diffusers.Flux2KleinPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.filterwarnings(EULER_WARNING)
@pytest.mark.parametrize(
    ("repo", "family"),
    [(FLUX2_REPO, "flux2"), (QWEN_EDIT_REPO, "qwen"), (QWEN_EDIT_ORIGINAL_REPO, "qwen")],
    ids=["flux2", "qwen-edit-plus", "qwen-edit"],
)
def test_an_edit_lora_on_pairs_loads_into_the_edit_pipeline_and_changes_its_output(
    capsys: pytest.CaptureFixture[str], pairs: Path, tmp_path: Path, repo: str, family: str
) -> None:
    output = tmp_path / "edit.safetensors"
    common = ("-m", repo, "--steps", "2", "--lr", "0.05", "--lora-rank", "4",
              "--caption-dropout", "0")  # fmt: skip
    # The original Qwen-Image-Edit renders at its reference's ~1024² pixels whatever the size
    # asked (minutes a sample on a CPU): its samples are left to the Plus run.
    sampled = repo != QWEN_EDIT_ORIGINAL_REPO
    samples = ("--save-every", "1", "--sample-steps", "1") if sampled else ()
    code, out, err = train_cli(capsys, "-i", str(pairs), "-o", str(output), *common, *samples)
    assert code == 0, err
    assert f"Training a {family} edit LoRA" in out and "4 control/target pairs" in out
    if samples:
        # Samples render each pair's caption with its control as the reference image.
        captions = {p.read_text().strip() for p in (pairs / "target").glob("*.txt")}
        written = sorted((tmp_path / "edit.samples").glob("*.txt"))
        assert written and {p.read_text().strip() for p in written} <= captions
    assert read_metadata(output)["edit_pairs"] == "true"

    # The controls condition the training: the same targets and captions with other controls
    # (grey) train another LoRA.
    other = tmp_path / "other"
    shutil.copytree(pairs, other)
    for path in (other / "control").iterdir():
        with Image.open(path) as image:
            Image.new("RGB", image.size, (128, 128, 128)).save(path)
    code, _, err = train_cli(capsys, "-i", str(other), "-o", str(tmp_path / "o.safetensors"),
                             *common)  # fmt: skip
    assert code == 0, err
    from safetensors.torch import load_file

    edit_lora, other_lora = load_file(str(output)), load_file(str(tmp_path / "o.safetensors"))
    assert edit_lora.keys() == other_lora.keys()
    assert any(not torch.equal(edit_lora[k], other_lora[k]) for k in edit_lora)

    pipe = edit_pipeline(repo)
    control = Image.open(pairs / "control" / "p0.png").convert("RGB")
    before = generate(pipe, image=control)
    pipe.load_lora_weights(str(output))
    after = generate(pipe, image=control)
    assert abs(before - after).max() > 1e-4


def test_pairs_are_grouped_as_the_server_groups_them(tmp_path: Path) -> None:
    """Suffix-named pairs in one folder, the caption the group's; an unpaired image and a
    mask are left out (and said so); the pair's hash covers the control."""
    for name, colour in [("a_control", 1), ("a_target", 2), ("b_start", 3), ("b_end", 4),
                         ("c_target", 5), ("a_mask", 6)]:  # fmt: skip
        Image.new("RGB", (64, 64), (colour, 0, 0)).save(tmp_path / f"{name}.png")
    (tmp_path / "a.txt").write_text("the group's caption")
    (tmp_path / "b_start.txt").write_text("the control's caption")
    notes: list[str] = []
    samples = data.load_samples(tmp_path, 64, note=notes.append)
    found = {(s.image.name, *(c.path.name for c in s.controls), s.caption) for s in samples}
    assert found == {("a_target.png", "a_control.png", "the group's caption"),
                     ("b_end.png", "b_start.png", "the control's caption")}  # fmt: skip
    assert len(notes) == 1 and "2 images are in no control/target pair" in notes[0]
    assert "a_mask.png" in notes[0] and "c_target.png" in notes[0]
    other = tmp_path / "other"
    other.mkdir()
    (tmp_path / "a_control.png").rename(other / "a_control.png")
    Image.new("RGB", (64, 64), (9, 9, 9)).save(tmp_path / "a_control.png")
    changed = data.load_samples(tmp_path, 64)
    assert data.dataset_hash(changed) != data.dataset_hash(samples)


def test_several_controls_of_a_target_are_one_sample_in_path_order(two_controls: Path) -> None:
    """control/ and input/ are both the input role: a target with two controls, each at its own
    aspect ratio at the target's area; the second control is part of the dataset's hash."""
    samples = {s.image.name: s for s in data.load_samples(two_controls, 64)}
    assert len(samples) == 4
    first = samples["p0.png"]
    assert [c.path.parent.name for c in first.controls] == ["control", "input"]
    assert first.bucket == (64, 64) and [c.bucket for c in first.controls] == [(64, 64), (128, 64)]
    assert first.shapes == ((64, 64), (64, 64), (128, 64))
    before = data.dataset_hash(list(samples.values()))
    Image.new("RGB", (256, 64), (1, 2, 3)).save(two_controls / "input" / "p0.png")
    assert data.dataset_hash(data.load_samples(two_controls, 64)) != before
    # A batch holds samples of one shape set.
    for batch in data.epoch_batches(list(samples.values()), 2, 7, 0):
        assert len({list(samples.values())[i].shapes for i in batch}) == 1


def test_the_original_qwen_image_edit_takes_one_control_per_pair(
    capsys: pytest.CaptureFixture[str], pairs: Path, two_controls: Path, tmp_path: Path
) -> None:
    """Its pipeline takes one reference image, and its prompt always holds one: pairs with more
    are left out (said so), all of them is a one-line error, plain images are too."""
    args = ("-o", str(tmp_path / "x.safetensors"), "-m", QWEN_EDIT_ORIGINAL_REPO, "--steps", "1")
    code, _, err = train_cli(capsys, "-i", str(two_controls), *args)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "every pair of --input has more than 1 control images" in err
    assert f"{QWEN_EDIT_ORIGINAL_REPO} takes 1 reference image" in err
    plain = tmp_path / "plain"
    shutil.copytree(two_controls / "target", plain)
    code, _, err = train_cli(capsys, "-i", str(plain), *args)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "encodes each caption with its reference image" in err
    assert not list(tmp_path.glob("x*"))
    notes: list[str] = []
    (two_controls / "input" / "p1.png").unlink()
    samples = data.load_samples(two_controls, 64)
    kept = data.limit_controls(samples, 1, QWEN_EDIT_ORIGINAL_REPO, notes.append)
    assert [s.image.name for s in kept] == ["p1.png"]
    assert notes == [f"3 pairs have more than 1 control images and are left out "
                     f"({QWEN_EDIT_ORIGINAL_REPO} takes 1 reference image): p0.png, p2.png, "
                     f"p3.png"]  # fmt: skip


@pytest.mark.filterwarnings(EULER_WARNING)
@pytest.mark.parametrize("repo", [FLUX2_REPO, QWEN_EDIT_REPO], ids=["flux2", "qwen-edit-plus"])
def test_two_controls_per_pair_train_resume_exactly_and_load_back(
    two_controls: Path, tmp_path: Path, repo: str
) -> None:
    """Both controls condition the denoiser as the pipeline's reference images; a resumed run
    computes the same losses; the LoRA loads into the edit pipeline called with both images."""
    from datasety.training.loop import train

    whole = train(settings(two_controls, tmp_path / "whole.safetensors", model=repo,
                           sample_steps=0), Progress(total=4))  # fmt: skip
    checkpoint = tmp_path / "whole.checkpoints" / "step-000002.pt"
    resumed = train(
        settings(two_controls, tmp_path / "resumed.safetensors", model=repo, sample_steps=0,
                 resume=str(checkpoint)),
        Progress(total=4),
    )  # fmt: skip
    assert len(whole["losses"]) == 4 and resumed["losses"] == whole["losses"][2:]
    from safetensors.torch import load_file

    lora = load_file(str(tmp_path / "whole.safetensors"))
    assert all(torch.equal(v, load_file(str(tmp_path / "resumed.safetensors"))[k])
               for k, v in lora.items())  # fmt: skip

    # The second control counts: without it (one control per pair) the losses differ.
    shutil.rmtree(two_controls / "input")
    single = train(settings(two_controls, tmp_path / "single.safetensors", model=repo,
                            sample_steps=0, save_every=None), Progress(total=4))  # fmt: skip
    assert single["losses"] != whole["losses"]

    pipe = edit_pipeline(repo)
    images = [Image.open(two_controls / "control" / "p0.png").convert("RGB"),
              Image.new("RGB", (256, 64), (55, 225, 225))]  # fmt: skip
    before = generate(pipe, image=images)
    pipe.load_lora_weights(str(tmp_path / "whole.safetensors"))
    after = generate(pipe, image=images)
    assert abs(before - after).max() > 1e-4


@pytest.mark.parametrize(("repo", "family"), [(SDXL_REPO, "sdxl"), (QWEN_REPO, "qwen")])
def test_a_model_without_reference_images_refuses_edit_pairs_in_one_line(
    capsys: pytest.CaptureFixture[str], pairs: Path, tmp_path: Path, repo: str, family: str
) -> None:
    code, _, err = train_cli(capsys, "-i", str(pairs), "-o", str(tmp_path / "x"), "-m", repo)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"{repo} ({family}) takes no reference image" in err and "Qwen-Image-Edit" in err


@pytest.mark.parametrize(
    ("repo", "data_fixture"),
    [(SDXL_REPO, "dataset"), (FLUX2_REPO, "dataset"), (QWEN_REPO, "dataset"),
     (QWEN_EDIT_REPO, "pairs")],
    ids=["sdxl", "flux2", "qwen", "qwen-edit-pairs"],
)  # fmt: skip
def test_comfyui_maps_every_lora_key_onto_the_weights_diffusers_patches(
    request: pytest.FixtureRequest, tmp_path: Path, repo: str, data_fixture: str
) -> None:
    """ComfyUI's key mapping (ported in tests/training/comfyui.py) finds a weight of the
    original-format model for every key of the file, and patches it exactly as diffusers'
    load_lora_weights + fuse_lora does (an edit LoRA: into the edit pipeline)."""
    from diffusers.loaders import single_file_utils as single
    from safetensors.torch import load_file

    from datasety.training.loop import train
    from tests.training import comfyui

    output = tmp_path / "style.safetensors"
    train(settings(request.getfixturevalue(data_fixture), output, model=repo, steps=2, lr=0.05,
                   save_every=None), Progress(total=2))  # fmt: skip
    lora = load_file(str(output))
    if repo in (FLUX2_REPO, QWEN_EDIT_REPO):
        pipe = edit_pipeline(repo)
    else:
        pipeline = "StableDiffusionXLPipeline" if repo == SDXL_REPO else "QwenImagePipeline"
        pipe = getattr(diffusers, pipeline).from_pretrained(model_dir(repo, note=lambda _: None))
    denoiser = pipe.unet if repo == SDXL_REPO else pipe.transformer
    original = {k: v.clone() for k, v in denoiser.state_dict().items()}
    unet_config = flux_config = None
    qwen_image = repo in (QWEN_REPO, QWEN_EDIT_REPO)
    if qwen_image:
        # ComfyUI's Qwen-Image model has diffusers' names: its state is the transformer's.
        comfy_state = comfyui.qwen_image_state(original, denoiser.config.num_layers)

        def to_diffusers(state: dict[str, Any]) -> dict[str, Any]:
            return {k.removeprefix("diffusion_model."): v for k, v in state.items()}
    elif repo == SDXL_REPO:
        unet_config = comfyui.unet_config_of(denoiser.config)
        comfy_state = comfyui.ldm_unet_state(original, unet_config)

        def to_diffusers(state: dict[str, Any]) -> dict[str, Any]:
            ldm = {f"model.{k}": v for k, v in state.items()}
            return dict(single.convert_ldm_unet_checkpoint(ldm, denoiser.config))
    else:
        flux_config = comfyui.flux_config_of(denoiser.config)
        comfy_state = comfyui.bfl_transformer_state(original, flux_config)

        def to_diffusers(state: dict[str, Any]) -> dict[str, Any]:
            bfl = {k.removeprefix("diffusion_model."): v for k, v in state.items()}
            return dict(single.convert_flux2_transformer_checkpoint_to_diffusers(bfl))

    # diffusers' own single-file converter reads the names back to the model's weights: they
    # are the original checkpoint's names, the ones ComfyUI's model has.
    back = to_diffusers(comfy_state)
    assert back and all(torch.equal(value, original[key]) for key, value in back.items())
    if repo != FLUX2_REPO:
        assert back.keys() == original.keys()

    key_map = comfyui.model_lora_keys_unet(list(comfy_state), unet_config, flux_config, qwen_image)
    patches, not_loaded = comfyui.load_lora(lora, key_map)
    assert not_loaded == []  # ComfyUI would log "lora key not loaded" for each
    modules = {key.rsplit(".lora_", 1)[0] for key in lora if ".lora_" in key}
    assert len(patches) == len(modules) > 0
    for target, _, _, _ in patches.values():
        assert (target if isinstance(target, str) else target[0]) in comfy_state

    patched = to_diffusers(comfyui.apply_patches(comfy_state, patches))
    pipe.load_lora_weights(str(output))
    pipe.fuse_lora()
    pipe.unload_lora_weights()
    fused = denoiser.state_dict()
    changed = {key for key, value in patched.items() if not torch.equal(value, original[key])}
    if qwen_image:
        # Exactly the modules that trained changed: the last block's text output feeds no loss,
        # its B stays zero and it adds nothing (the keys are the module paths).
        trained = {
            key.removeprefix("transformer.").replace(".lora_B.weight", ".weight")
            for key, value in lora.items()
            if key.endswith(".lora_B.weight") and bool(value.any())
        }
        assert changed == trained and 0 < len(changed) <= len(modules)
    else:
        assert len(changed) == len(modules)
    for key in patched:
        torch.testing.assert_close(patched[key], fused[key], rtol=1e-5, atol=1e-6)


def settings(dataset: Path, output: Path, **changes: Any) -> Any:
    from datasety.training.loop import TrainSettings

    base: dict[str, Any] = dict(
        input=dataset, output=output, model=FLUX2_REPO, steps=4, image_size=64, device="cpu",
        lr=1e-2, lora_rank=4, lora_dropout=0.1, caption_dropout=0.5, lr_scheduler="cosine",
        lr_warmup_steps=1, gradient_accumulation_steps=2, batch_size=2, noise_offset=0.05,
        save_every=2, sample_steps=2,
    )  # fmt: skip
    base.update(changes)
    return TrainSettings(**base)


@pytest.mark.parametrize(
    ("repo", "data_fixture"),
    [(FLUX2_REPO, "dataset"), (QWEN_REPO, "dataset"), (QWEN_EDIT_REPO, "pairs")],
    ids=["flux2", "qwen", "qwen-edit-pairs"],
)
def test_resume_continues_with_the_same_losses(
    request: pytest.FixtureRequest, tmp_path: Path, repo: str, data_fixture: str
) -> None:
    """Batches of two with caption dropout: Qwen-Image's captions of different lengths
    (a caption and the empty one) are padded and masked in one batch; on edit pairs the empty
    caption is encoded with each pair's control."""
    from datasety.training.loop import train

    dataset = request.getfixturevalue(data_fixture)

    whole = train(settings(dataset, tmp_path / "whole.safetensors", model=repo), Progress(total=4))
    checkpoint = tmp_path / "whole.checkpoints" / "step-000002.pt"
    assert checkpoint.is_file()
    resumed = train(
        settings(dataset, tmp_path / "resumed.safetensors", model=repo,
                 resume=str(checkpoint.parent)),
        Progress(total=4),
    )  # fmt: skip
    assert len(whole["losses"]) == 4 and len(resumed["losses"]) == 2
    assert resumed["losses"] == whole["losses"][2:]
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "whole.safetensors"))
    b = load_file(str(tmp_path / "resumed.safetensors"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_checkpoint_from_before_lora_layers_resumes_with_the_default_layers(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path
) -> None:
    """Checkpoints written before --lora-layers have no ``lora_layers`` record; they trained
    the family's default layers, so a run with those resumes them (and one with others not)."""
    from datasety.training.loop import train

    whole = train(settings(dataset, tmp_path / "whole.safetensors", steps=2, save_every=1,
                           sample_steps=0), Progress(total=2))  # fmt: skip
    checkpoint = tmp_path / "whole.checkpoints" / "step-000001.pt"
    state = torch.load(checkpoint, weights_only=True)
    del state["settings"]["lora_layers"]
    torch.save(state, checkpoint)
    args = ["-i", str(dataset), "-m", FLUX2_REPO, "--steps", "2", "--lr", "1e-2",
            "--lora-rank", "4", "--lora-dropout", "0.1", "--caption-dropout", "0.5",
            "--lr-scheduler", "cosine", "--lr-warmup-steps", "1",
            "--gradient-accumulation-steps", "2", "--batch-size", "2", "--noise-offset", "0.05",
            "--resume", str(checkpoint)]  # fmt: skip
    code, out, err = train_cli(capsys, *args, "-o", str(tmp_path / "r.safetensors"))
    assert code == 0, err
    assert "step-000001.pt predates --lora-layers: it trained flux2's default layers" in out
    assert f"step 2/2 loss={whole['losses'][1]:.6f}" in out
    code, _, err = train_cli(capsys, *args, "-o", str(tmp_path / "x.safetensors"),
                             "--lora-layers", "to_q")  # fmt: skip
    assert code == 1 and "was saved with lora_layers=" in err


def test_family_alone_trains_its_base_model(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path
) -> None:
    output = tmp_path / "q.safetensors"
    code, out, err = train_cli(
        capsys, "-i", str(dataset), "-o", str(output), "--family", "qwen", "--steps", "1"
    )
    assert code == 0, err
    assert f"Training a qwen LoRA on {QWEN_REPO}" in out
    assert read_metadata(output)["base_model"] == QWEN_REPO


def test_qwen_captions_of_different_lengths_share_a_batch_with_a_mask() -> None:
    from datasety.training.families import QwenImage

    family = QwenImage(torch, diffusers)
    rows = [{"latents": torch.ones(4, 2, 2), "prompt_embeds": torch.ones(n, 16)} for n in (3, 5)]
    batch = family.collate(rows)
    assert batch["prompt_embeds"].shape == (2, 5, 16) and batch["latents"].shape == (2, 4, 2, 2)
    assert batch["prompt_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert float(batch["prompt_embeds"][0, 3:].abs().sum()) == 0


@pytest.mark.filterwarnings(EULER_WARNING)
@pytest.mark.parametrize("repo", [SDXL_REPO, FLUX2_REPO, QWEN_REPO], ids=["sdxl", "flux2", "qwen"])
def test_samples_at_save_every_from_validation_captions(
    dataset: Path, tmp_path: Path, repo: str
) -> None:
    import numpy as np

    from datasety.training.loop import train

    def run(name: str, **changes: Any) -> tuple[Path, dict[str, Any]]:
        output = tmp_path / name / "style.safetensors"
        options = {"model": repo, "validation_split": 0.25, "sample_steps": 2, **changes}
        return output, train(settings(dataset, output, **options), Progress(total=4))

    output, first = run("first")
    folder = tmp_path / "first" / "style.samples"
    names = sorted(p.name for p in folder.iterdir())
    # At the checkpoint (step 2) and at the end (step 4); one validation image, one prompt.
    assert names == ["step-000002-0.png", "step-000002-0.txt", "step-000004-0.png",
                     "step-000004-0.txt"]  # fmt: skip
    _, validation = data.split_validation(data.load_samples(dataset, 64), 0.25, 42)
    assert (folder / "step-000002-0.txt").read_text().strip() == validation[0].caption

    def pixels(path: Path) -> Any:
        with Image.open(path) as image:
            assert image.size == (64, 64)
            return np.asarray(image.convert("RGB"), dtype=np.int16)

    step2, step4 = pixels(folder / "step-000002-0.png"), pixels(folder / "step-000004-0.png")
    assert np.abs(step2 - step4).max() > 0  # the LoRA trained in between
    # Same seed, same images; sampling leaves the training's random state alone.
    _, again = run("again")
    assert np.array_equal(pixels(tmp_path / "again" / "style.samples" / "step-000004-0.png"), step4)
    _, silent = run("silent", sample_steps=0)
    assert not (tmp_path / "silent" / "style.samples").exists()
    assert first["losses"] == again["losses"] == silent["losses"]


def test_resume_refuses_other_settings(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path
) -> None:
    from datasety.training.loop import train

    train(settings(dataset, tmp_path / "a.safetensors", steps=3), Progress(total=3))
    code, _, err = train_cli(
        capsys, "-i", str(dataset), "-o", str(tmp_path / "b.safetensors"), "--lora-rank", "8",
        "--resume", str(tmp_path / "a.checkpoints"), "--steps", "3",
    )  # fmt: skip
    assert code == 1
    assert err.startswith("Error: --resume") and "lora_rank=4" in err and len(err.splitlines()) == 1


def test_a_second_run_reuses_the_cached_latents(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path
) -> None:
    args = ("-i", str(dataset), "-o", str(tmp_path / "x.safetensors"), "--steps", "1")
    code, out, err = train_cli(capsys, *args)
    assert code == 0, err
    assert "Encoding 4 images and 5 captions" in out
    code, out, err = train_cli(capsys, *args)
    assert code == 0, err
    assert "found in the cache" in out and "Encoding" not in out


# What a form that sends every default sends for the voice flags.
VOICE_DEFAULTS = ("--backend", "piper", "--sample-rate", "22050", "--accelerator", "auto",
                  "--devices", "auto", "--quality", "medium", "--test-text", "")  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--optimizer", "adamw8bit"), "--optimizer adamw8bit needs bitsandbytes on a CUDA GPU"),
        # Every voice flag spelled out at its default is no voice request: the image run goes on
        # (to the next check, which this CPU box fails).
        ((*VOICE_DEFAULTS, "--optimizer", "adamw8bit"), "--optimizer adamw8bit needs bitsandbytes"),
        (("--sample-rate", "16000"), "--sample-rate is for voice training; "),
        (("--backend", "coqui"), "--backend is for voice training; "),
        (("--test-text", "hello"), "--test-text is for voice training; "),
        (("--family", "nope"), "--family 'nope': choose one of"),
    ],
)
def test_what_is_not_built_or_not_possible_is_one_line(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path, extra: tuple[str, ...],
    message: str,
) -> None:  # fmt: skip
    code, _, err = train_cli(capsys, "-i", str(dataset), "-o", str(tmp_path / "x"), *extra)
    assert code == 1
    assert err.startswith("Error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("x*"))


def test_lora_layers_choose_the_trained_layers(
    capsys: pytest.CaptureFixture[str], dataset: Path, tmp_path: Path
) -> None:
    output = tmp_path / "qk.safetensors"
    code, _, err = train_cli(capsys, "-i", str(dataset), "-o", str(output), "--steps", "1",
                             "--lora-layers", "to_q, to_k")  # fmt: skip
    assert code == 0, err
    from safetensors.torch import load_file

    modules = {key.rsplit(".lora_", 1)[0].rsplit(".", 1)[1] for key in load_file(str(output))}
    assert modules == {"to_q", "to_k"}
    code, _, err = train_cli(capsys, "-i", str(dataset), "-o", str(tmp_path / "x"),
                             "--lora-layers", "to_q,nope")  # fmt: skip
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "--lora-layers: the model has no layer named nope" in err
    assert not list(tmp_path.glob("x*"))


def test_buckets_keep_the_aspect_ratio_and_batches_repeat() -> None:
    assert data.bucket_for(1024, 1024, 512) == (512, 512)
    width, height = data.bucket_for(1920, 1080, 512)
    assert width > height and width % 64 == 0 and height % 64 == 0
    assert abs(width * height - 512 * 512) < 0.15 * 512 * 512
    samples = [
        data.Sample(Path(f"{i}.png"), "", str(i), (w, h), data.bucket_for(w, h, 64))
        for i, (w, h) in enumerate([(64, 64), (128, 64), (64, 64), (64, 128), (64, 64)])
    ]
    first = [data.batch_at(samples, 2, 7, i) for i in range(12)]
    assert first == [data.batch_at(samples, 2, 7, i) for i in range(12)]
    for batch in first:
        assert len({samples[i].bucket for i in batch}) == 1
    epoch = data.epoch_batches(samples, 2, 7, 0)
    assert sorted(i for batch in epoch for i in batch) == list(range(5))
    # The loop's order keeps an epoch: the same batches, epoch after epoch.
    order = data.BatchOrder(samples, 2, 7)
    epochs = [data.epoch_batches(samples, 2, 7, e) for e in range(4)]
    assert [order.batch(i) for i in range(12)] == [b for e in epochs for b in e][:12] == first


@pytest.mark.slow
def test_two_cpu_processes_under_torchrun(dataset: Path, tmp_path: Path) -> None:
    output = tmp_path / "ddp.safetensors"
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", str(free_port()), "-m",
         "datasety", "train", "-i", str(dataset), "-o", str(output), "--steps", "2",
         "--image-size", "64", "--device", "cpu", "--save-every", "1", "--sample-steps", "1"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # One process reports and writes; both trained (a checkpoint records two processes).
    assert result.stdout.count("step 2/2 loss=") == 1
    assert result.stdout.count("Done: ") == 1
    state = torch.load(tmp_path / "ddp.checkpoints" / "step-000001.pt", weights_only=True)
    assert state["settings"]["processes"] == 2
    assert read_metadata(output)["steps"] == "2"
    # The main process rendered the samples (the four captions: no validation split).
    names = sorted(p.stem for p in (tmp_path / "ddp.samples").glob("*.png"))
    assert names == [f"step-00000{step}-{i}" for step in (1, 2) for i in range(4)]


# docs/training.md's FSDP config for accelerate, as written there (4 GPUs; the test runs 2
# CPU processes: --num_processes 2 --mixed_precision no, and train --device cpu).
FSDP_CONFIG = """\
distributed_type: FSDP
num_processes: 4
mixed_precision: bf16
fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_reshard_after_forward: true
  fsdp_state_dict_type: FULL_STATE_DICT
"""


@pytest.mark.slow
def test_fsdp_through_accelerates_config(dataset: Path, tmp_path: Path) -> None:
    """The docs' ``accelerate launch --config_file fsdp.yaml`` on two CPU processes (accelerate
    runs them data-parallel and says so), then the same run with accelerate's FSDP path taken
    on CPUs (tests/training/fsdp_on_cpu.py): torch's FSDP2 shards the LoRA weights and the
    optimizer's moments, and the run computes the same losses and the same LoRA file as the
    data-parallel one; its checkpoint resumes under FSDP with the same losses again."""
    from safetensors.torch import load_file

    config = tmp_path / "fsdp.yaml"
    config.write_text(FSDP_CONFIG)
    accelerate = Path(sys.executable).with_name("accelerate")

    def launch(name: str, *extra: str, fsdp: bool = False) -> tuple[list[str], Path]:
        output = tmp_path / f"{name}.safetensors"
        target = [str(Path(__file__).with_name("fsdp_on_cpu.py"))] if fsdp else ["-m", "datasety"]
        result = subprocess.run(
            [str(accelerate), "launch", "--config_file", str(config),
             "--num_processes", "2", "--mixed_precision", "no", "--main_process_port",
             str(free_port()), *target, "train", "-i", str(dataset), "-o", str(output),
             "--steps", "4", "--save-every", "2", "--image-size", "64", "--device", "cpu",
             "--lr", "0.01", "--lora-rank", "4", "--batch-size", "2", "--sample-steps", "1",
             *extra],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        note = "accelerate takes FSDP on GPUs only: these 2 cpu process(es) train data-parallel"
        assert (note in result.stdout) is not fsdp, result.stdout
        losses = [line.split("loss=")[1] for line in result.stdout.splitlines() if " loss=" in line]
        return losses, output

    plain, plain_file = launch("plain")
    assert len(plain) == 4
    sharded, sharded_file = launch("sharded", fsdp=True)
    assert sharded == plain
    a, b = load_file(str(plain_file)), load_file(str(sharded_file))
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    state = torch.load(tmp_path / "sharded.checkpoints" / "step-000002.pt", weights_only=True)
    assert state["settings"]["processes"] == 2 and len(state["rng_per_process"]) == 2
    # Whole tensors in the file, not one process's shard.
    assert {k: v.shape for k, v in state["lora"].items()} == {
        k: v.shape for k, v in torch.load(tmp_path / "plain.checkpoints" / "step-000002.pt",
                                          weights_only=True)["lora"].items()
    }  # fmt: skip
    resumed, resumed_file = launch(
        "resumed", "--resume", str(tmp_path / "sharded.checkpoints"), fsdp=True
    )
    assert resumed == plain[2:]
    c = load_file(str(resumed_file))
    assert all(torch.equal(b[key], c[key]) for key in b)
    # The main process wrote the samples; every process rendered them with it.
    assert len(list((tmp_path / "sharded.samples").glob("step-000004-*.png"))) == 4


@pytest.mark.slow
def test_a_cancelled_run_leaves_complete_files_and_resumes(dataset: Path, tmp_path: Path) -> None:
    output = tmp_path / "cancel.safetensors"
    folder = tmp_path / "cancel.checkpoints"
    args = ["-i", str(dataset), "-o", str(output), "--image-size", "64", "--device", "cpu"]
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "datasety", "train", *args, "--steps", "500", "--save-every",
             "1", "--sample-steps", "1"],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # a bound for a hung run, not a speed check
        while len(list(folder.glob("step-*.pt"))) < 2:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)  # what a job's cancel sends
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert not output.exists()
    assert [p.name for p in folder.iterdir() if not p.name.startswith("step-")] == []
    latest = max(folder.glob("step-*.pt"))
    step = torch.load(latest, weights_only=True)["step"]
    code = subprocess.run(
        [sys.executable, "-m", "datasety", "train", *args, "--steps", str(step + 1),
         "--resume", str(folder)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert code.returncode == 0, code.stderr
    assert f"Resuming at step {step} of {step + 1}" in code.stdout
    assert read_metadata(output)["steps"] == str(step + 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_train_job_reports_loss_and_eta(dataset: Path, tmp_path: Path) -> None:
    output = tmp_path / "job.safetensors"
    # Every voice flag at its default, as a form that sends every default does: an image run.
    voice_defaults = {"backend": "piper", "sample_rate": 22050, "accelerator": "auto",
                      "devices": "auto", "quality": "medium"}  # fmt: skip
    args = {"input": str(dataset), "output": str(output), "steps": 2, "image_size": 64,
            "device": "cpu", "save_every": 1, "sample_steps": 1,
            "sample_prompt": ["a plain test colour"], **voice_defaults}  # fmt: skip
    assert argv_wants_accelerator(["train", "--input", str(dataset)])
    assert not argv_wants_accelerator(["train", "--input", str(dataset), "--device", "cpu"])
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        client.headers["Host"] = "localhost"
        listed = client.get("/v1/commands").json()["commands"]
        names = {p["name"] for p in listed["train"]["params"]}
        assert {"lora_rank", "min_snr_gamma", "resume", "timestep_type"} <= names
        created = client.post("/v1/jobs", json={"command": "train", "args": args})
        assert created.status_code == 202, created.text
        url = f"/v1/jobs/{created.json()['id']}"
        deadline = time.monotonic() + 300  # a bound for a hung job, not a speed check
        while (job := client.get(url).json())["ended_at"] is None:
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
    assert job["status"] == "done", job
    progress = job["progress"]
    assert progress["done"] == progress["total"] == 2
    assert isinstance(progress["loss"], float) and progress["eta_s"] == 0
    # The job lists the latest sample images (the end's), written with their prompt.
    final = tmp_path / "job.samples" / "step-000002-0.png"
    assert progress["samples"] == [str(final)] and final.is_file()
    assert final.with_suffix(".txt").read_text().strip() == "a plain test colour"
    assert json.loads(read_metadata(output)["settings"])["steps"] == 2
