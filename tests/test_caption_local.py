"""`datasety caption` with a local transformers model.

Nothing can be downloaded here, so the tests build tiny randomly initialised models (a
Florence-2, the default family; a ViT+GPT2 captioner; a Llava chat model), save them with
``save_pretrained`` and caption real images through ``--model <folder>``: the same
``from_pretrained`` path users take with a hub id. Random weights give gibberish, so the tests
check files, counts and the template, not the words.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.clirun import run_main as run_cli
from tests.hfcache import byte_level_vocab, snapshot_dir

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def never_stop_early(model: Any, special_ids: list[int]) -> None:
    # Random weights may pick end-of-sequence first and leave an empty caption; a few real
    # tokens per caption let the tests see text go through the whole path.
    model.generation_config.min_new_tokens = 4
    model.generation_config.bad_words_ids = [[i] for i in special_ids]


@pytest.fixture(scope="module")
def florence_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Florence-2 (DaViT vision tower + BART), saved like a hub repository."""
    tf = transformers
    tokenizer = tf.BartTokenizer(
        vocab=byte_level_vocab(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]),
        merges=[],
        extra_special_tokens={"image_token": "<image>"},
    )
    image_processor_class = getattr(tf, "CLIPImageProcessorPil", tf.CLIPImageProcessor)
    image_processor = image_processor_class(size={"height": 32, "width": 32}, do_center_crop=False)
    image_processor.image_seq_length = 17  # a 32x32 input gives 4x4 patches + 1 temporal token
    processor = tf.Florence2Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        post_processor_config={"pure_text": {}},
    )
    vision = tf.Florence2VisionConfig(
        depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1],
        patch_prenorm=[False, True], embed_dim=[8, 16], num_heads=[1, 2], num_groups=[1, 2],
        window_size=2, projection_dim=16, max_position_embeddings=8, drop_path_rate=0.0,
    )  # fmt: skip
    text = tf.BartConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=128, bos_token_id=0, pad_token_id=1,
        eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=0,
    )  # fmt: skip
    config = tf.Florence2Config(
        vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id
    )
    torch.manual_seed(0)
    model = tf.Florence2ForConditionalGeneration(config)
    never_stop_early(model, [0, 1, 3, 4, tokenizer.image_token_id])
    folder = tmp_path_factory.mktemp("tiny-florence-2")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vit_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ViT encoder + GPT2 decoder captioner with no combined processor."""
    tf = transformers
    tokenizer = tf.GPT2Tokenizer(vocab=byte_level_vocab(["<|endoftext|>"]), merges=[])
    image_processor_class = getattr(tf, "ViTImageProcessorPil", tf.ViTImageProcessor)
    image_processor = image_processor_class(size={"height": 32, "width": 32})
    encoder = tf.ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        image_size=32, patch_size=8,
    )  # fmt: skip
    decoder = tf.GPT2Config(
        vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2, n_positions=64,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    config = tf.VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = 0
    torch.manual_seed(0)
    model = tf.VisionEncoderDecoderModel(config=config)
    generation = model.generation_config
    generation.decoder_start_token_id = generation.pad_token_id = generation.eos_token_id = 0
    never_stop_early(model, [0])
    folder = tmp_path_factory.mktemp("tiny-vit-gpt2")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny chat VLM (CLIP vision + Llama) whose processor has a chat template."""
    tf = transformers
    tokenizer = tf.GPT2Tokenizer(
        vocab=byte_level_vocab(["<unk>", "<s>", "</s>", "<pad>"]),
        merges=[],
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    image_processor_class = getattr(tf, "CLIPImageProcessorPil", tf.CLIPImageProcessor)
    image_processor = image_processor_class(
        size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32}
    )
    chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}"
        "{% endfor %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
    )
    processor = tf.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=chat_template,
    )
    vision = tf.CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=32, patch_size=8, projection_dim=16,
    )  # fmt: skip
    text = tf.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )  # fmt: skip
    config = tf.LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.image_token_id,
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    model = tf.LlavaForConditionalGeneration(config)
    never_stop_early(model, [0, 1, 2, 3, tokenizer.image_token_id])
    folder = tmp_path_factory.mktemp("tiny-llava")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "red.png")
    Image.new("L", (20, 50), 128).save(folder / "grey.jpg")  # not RGB: converted on load
    Image.new("RGBA", (33, 33), (0, 0, 255, 128)).save(folder / "blue.webp")
    return folder


def captions(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.rglob("*.txt"))}


def test_florence_captions_every_image_in_batches(
    florence_dir: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (images / "broken.png").write_bytes(b"\x89PNG but not really")
    code, out, err = run_cli(
        capsys,
        "caption", "-i", str(images), "--model", str(florence_dir), "--device", "cpu",
        "--batch-size", "2", "--num-beams", "2", "--max-tokens", "6",
        "--template", "photo of sks, {{caption}}, 4k",
    )  # fmt: skip
    assert code == 3, err  # finished; broken.png failed
    written = captions(images)
    assert sorted(written) == ["blue.txt", "grey.txt", "red.txt"]
    for text in written.values():
        assert text.startswith("photo of sks, ") and text.endswith(", 4k")
        generated = text[len("photo of sks, ") : -len(", 4k")]
        assert generated and "\n" not in generated and "<" not in generated
    assert "Failed: broken.png: cannot read image" in err
    assert "(florence prompts)" in out and "on cpu" in out
    assert "Done: 3 processed, 0 skipped, 1 failed" in out


def test_florence_single_image_and_skip_existing(
    florence_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "red caption.txt"
    target.parent.mkdir()
    code, _, err = run_cli(
        capsys,
        "caption", "--input-image", str(images / "red.png"), "--output-caption", str(target),
        "--model", str(florence_dir), "--device", "cpu", "--max-tokens", "5",
    )  # fmt: skip
    assert code == 0, err
    assert target.read_text().strip()
    (images / "red.txt").write_text("kept")
    code, out, err = run_cli(
        capsys,
        "caption", "-i", str(images), "--model", str(florence_dir), "--device", "cpu",
        "--max-tokens", "5", "--skip-existing", "--prompt", "<CAPTION>",
    )  # fmt: skip
    assert code == 0, err
    assert (images / "red.txt").read_text() == "kept"
    assert (images / "grey.txt").read_text().strip()
    assert "Done: 2 processed, 1 skipped, 0 failed" in out


def test_image_only_captioner_without_combined_processor(
    vit_gpt2_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "captions"
    code, out, err = run_cli(
        capsys,
        "caption", "-i", str(images), "-o", str(out_dir), "--model", str(vit_gpt2_dir),
        "--device", "cpu", "--max-tokens", "5", "--num-beams", "1", "--template", "sks",
    )  # fmt: skip
    assert code == 0, err
    written = captions(out_dir)
    assert sorted(written) == ["blue.txt", "grey.txt", "red.txt"]
    assert all(text.startswith("sks ") and len(text) > 4 for text in written.values())
    assert "(images prompts)" in out
    assert captions(images) == {}


def test_chat_model_answers_without_echoing_the_prompt(
    llava_dir: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "caption", "-i", str(images), "--model", str(llava_dir), "--device", "cpu",
        "--max-tokens", "5", "--num-beams", "1", "--batch-size", "3",
    )  # fmt: skip
    assert code == 0, err
    assert "(chat prompts)" in out
    written = captions(images)
    assert sorted(written) == ["blue.txt", "grey.txt", "red.txt"]
    for text in written.values():
        # Five generated byte-level tokens at most, none of the prompt that came before them.
        assert text and len(text.encode()) <= 5 * 3
        assert "user" not in text and "assistant" not in text and "Describe" not in text


def test_dry_run_loads_no_model(images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "caption", "-i", str(images), "--model", "/no/such/model", "--dry-run"
    )
    assert code == 0, err
    assert "would caption red.png" in out
    assert captions(images) == {}


def test_model_that_cannot_be_loaded_is_one_line_error(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    code, _, err = run_cli(capsys, "caption", "-i", str(images), "--model", str(empty))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot load model '{empty}'"), err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_missing_cuda_is_one_line_error(
    florence_dir: Path, images: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "caption", "-i", str(images), "--model", str(florence_dir), "--device", "cuda"
    )
    assert code == 1
    assert err.strip() == "Error: --device cuda: torch sees no CUDA GPU here (try --device auto)"


def test_missing_torch_gives_install_hint(
    images: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if absent
    code, _, err = run_cli(capsys, "caption", "-i", str(images))
    assert code == 1
    assert err.strip() == (
        "Error: local captioning needs torch, which is not installed: "
        "pip install 'datasety[caption]'"
    )


def test_cli_starts_without_importing_torch() -> None:
    script = (
        "import sys\n"
        "from datasety.cli import cli\n"
        "from click.testing import CliRunner\n"
        "result = CliRunner().invoke(cli, ['caption', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_default_model_loads_by_repo_id_from_the_hf_cache(
    florence_dir: Path,
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # microsoft/Florence-2-base is loaded as transformers' native copy, under its own id.
    hf_home = tmp_path / "hf"
    snapshot = snapshot_dir(hf_home, "florence-community/Florence-2-base")
    shutil.copytree(florence_dir, snapshot, dirs_exist_ok=True)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    code, out, err = run_cli(capsys, "caption", "-i", str(images), "--max-tokens", "4")
    assert code == 0, err
    assert "Loading model florence-community/Florence-2-base from the local cache" in out
    assert sorted(captions(images)) == ["blue.txt", "grey.txt", "red.txt"]
