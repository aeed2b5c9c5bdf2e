"""The upload's parts without a Hub: names, detection, durations, LoRA metadata, the card."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from datasety.core.errors import DatasetyError
from datasety.hub import card
from datasety.hub.files import select_files
from datasety.hub.kinds import detect_type
from datasety.hub.loader import build_loader
from datasety.hub.lora import lora_facts, read_metadata
from datasety.hub.plan import UploadOptions, build_plan, check_repo_id, repo_name_from
from datasety.media.audio_length import audio_seconds
from tests.hub.makers import KOHYA_METADATA, ljspeech_dataset, png, safetensors, wav


@pytest.mark.parametrize(
    ("name", "expected"),
    [("My Set_v2", "my-set-v2"), ("  a..b--c ", "a.b-c"), ("Ünïcode photos", "unicode-photos")],
)
def test_repository_names_come_from_the_folder_name(
    tmp_path: Path, name: str, expected: str
) -> None:
    (tmp_path / name).mkdir()
    assert repo_name_from(tmp_path / name) == expected


def test_a_name_without_letters_needs_a_repo_id(tmp_path: Path) -> None:
    (tmp_path / "___").mkdir()
    with pytest.raises(DatasetyError, match="give --repo-id"):
        repo_name_from(tmp_path / "___")


@pytest.mark.parametrize("repo_id", ["a/b/c", "a--b", "x/" + "n" * 97, "me/x.git", "a b"])
def test_bad_repository_ids_are_refused(repo_id: str) -> None:
    with pytest.raises(DatasetyError, match="--repo-id"):
        check_repo_id(repo_id)


def test_size_categories_are_the_hubs() -> None:
    assert [card.size_category(n) for n in (0, 999, 1000, 99_999, 100_000, 10**7)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "n>1M",
    ]  # fmt: skip


def test_audio_durations_from_wav_and_flac_headers(tmp_path: Path) -> None:
    assert audio_seconds(wav(tmp_path / "a.wav", 2.5, rate=16000)) == 2.5
    # STREAMINFO of a 44.1 kHz FLAC holding 88200 samples: 2 seconds.
    info = (44100 << 44) | (1 << 41) | (15 << 36) | 88200
    streaminfo = b"\x10\x00\x10\x00" + b"\0" * 6 + info.to_bytes(8, "big") + b"\0" * 16
    flac = tmp_path / "b.flac"
    flac.write_bytes(b"fLaC" + b"\x80\x00\x00\x22" + streaminfo)
    assert audio_seconds(flac) == 2.0
    (tmp_path / "c.mp3").write_bytes(b"ID3\x03" + b"\0" * 100)
    assert audio_seconds(tmp_path / "c.mp3") is None


def test_lora_facts_from_kohya_and_modelspec_metadata(tmp_path: Path) -> None:
    kohya = lora_facts(
        "a.safetensors", read_metadata(safetensors(tmp_path / "a.st", KOHYA_METADATA))
    )
    assert kohya.base_model_id == "stabilityai/stable-diffusion-xl-base-1.0"
    assert kohya.triggers == ["ohwx cat"]
    assert kohya.settings["rank"] == "16" and kohya.settings["optimizer"].endswith("AdamW8bit")
    spec = lora_facts(
        "b.safetensors",
        {
            "modelspec.architecture": "sd_xl_base_1.0.safetensors",
            "modelspec.trigger_phrase": "zk, style",
        },
    )
    assert spec.base_model == "sd_xl_base_1.0.safetensors" and spec.base_model_id is None
    assert spec.triggers == ["zk", "style"]
    assert lora_facts("c", {}).triggers == []


def test_a_file_that_is_not_safetensors_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(DatasetyError, match="not a safetensors file"):
        read_metadata(bad)


def test_type_detection_uses_the_servers_rule_plus_models_and_documents(tmp_path: Path) -> None:
    lora = tmp_path / "lora"
    safetensors(lora / "w.safetensors", {"x": "y"})
    (lora / "w.safetensors").write_bytes((lora / "w.safetensors").read_bytes() + b"\0" * 4000)
    png(lora / "samples" / "s1.png")  # samples beside the weights: still a model
    assert detect_type(select_files(lora).files) == "model"
    assert detect_type(select_files(ljspeech_dataset(tmp_path / "voice")).files) == "audio"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.pdf").write_bytes(b"%PDF-1.4")
    (docs / "a.txt").write_text("a contract", encoding="utf-8")
    assert detect_type(select_files(docs).files) == "document"
    assert build_loader(select_files(docs).files, "document").builder == "pdffolder"


def test_symlinks_out_of_the_folder_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside", encoding="utf-8")
    folder = tmp_path / "set"
    png(folder / "a.png")
    (folder / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "alias.png").symlink_to(folder / "a.png")
    selection = select_files(folder)
    assert [f.repo_path for f in selection.files] == ["a.png", "alias.png"]
    assert selection.left_out == [("leak.txt", "symlink that leads out of the folder")]


def test_a_hub_style_metadata_file_is_kept_instead_of_generated(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    png(folder / "a.png")
    (folder / "metadata.csv").write_text("file_name,text\na.png,hello\n", encoding="utf-8")
    plan = build_plan(UploadOptions(path=folder, repo_id="me/set"))
    assert "metadata.jsonl" not in plan.generated
    meta = card.split_front_matter(plan.generated["README.md"])[0]
    assert meta["configs"][0]["data_files"][0]["path"] == ["**/*.png", "metadata.csv"]


def test_generic_tables_get_a_loader_and_unknown_template_slots_are_refused(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "table"
    folder.mkdir()
    (folder / "rows.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    plan = build_plan(UploadOptions(path=folder, repo_id="me/table"))
    assert plan.upload_type == "generic"
    meta = card.split_front_matter(plan.generated["README.md"])[0]
    assert meta["configs"][0]["data_files"][0]["path"] == ["**/*.csv"]
    template = tmp_path / "t.md"
    template.write_text("{{ summary }} {{ sumary }}", encoding="utf-8")
    with pytest.raises(DatasetyError, match=r"unknown placeholder \{\{sumary\}\}"):
        build_plan(UploadOptions(path=folder, repo_id="me/table", readme_template=template))


def test_metadata_from_a_yaml_file_and_none_drops_a_key(tmp_path: Path) -> None:
    folder = ljspeech_dataset(tmp_path / "voice")
    extra = tmp_path / "extra.yaml"
    extra.write_text("license: cc0-1.0\ntask_categories: null\n", encoding="utf-8")
    plan = build_plan(UploadOptions(path=folder, repo_id="me/v", metadata=str(extra)))
    meta = card.split_front_matter(plan.generated["README.md"])[0]
    assert meta["license"] == "cc0-1.0" and "task_categories" not in meta
    assert json.loads(plan.generated["metadata.jsonl"].splitlines()[0]) == {
        "file_name": "wavs/utt_1.wav",
        "text": "Hello there.",
    }


def test_a_broken_metadata_jsonl_is_a_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    png(folder / "a.png")
    (folder / "metadata.jsonl").write_text('{"file_name": "a.png"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DatasetyError, match="metadata.jsonl line 2 is not a JSON object"):
        build_plan(UploadOptions(path=folder, repo_id="me/set"))
    (folder / "metadata.jsonl").write_bytes(b'{"file_name": "\xff"}\n')
    with pytest.raises(DatasetyError, match="metadata.jsonl is not UTF-8 text"):
        build_plan(UploadOptions(path=folder, repo_id="me/set"))
