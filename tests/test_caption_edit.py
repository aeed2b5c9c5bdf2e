"""`datasety caption --append/--prepend` on real files, caption text rules, and usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from datasety.captioning.targets import directory_targets
from datasety.captioning.text import apply_template, clean_caption, edit_caption
from tests.clirun import run_main as run_cli


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("one.png", "two.jpg", "three.webp"):
        Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / name)
    (folder / "one.txt").write_text("a cat on a sofa")
    (folder / "two.txt").write_text("a dog\nin the park \n")
    return folder


# -- text rules ---------------------------------------------------------------------------------


def test_clean_caption_makes_one_line() -> None:
    assert clean_caption("  a dog\n\nin  the\tpark ") == "a dog in the park"


def test_template_placeholder_and_prepend() -> None:
    assert apply_template("sks, {{caption}}, 4k", "a man") == "sks, a man, 4k"
    assert apply_template("{{caption}} {{caption}}", "x") == "x x"
    assert apply_template("photo of sks person,", "a man") == "photo of sks person, a man"
    assert apply_template("trigger ", "a man") == "trigger a man"
    assert apply_template(None, "a man") == "a man"
    assert apply_template("", "a man") == "a man"


def test_edit_caption_joins_with_a_space_or_attaches_punctuation() -> None:
    assert edit_caption("a cat", "4k", None) == "a cat 4k"
    assert edit_caption("a cat", ", 4k", None) == "a cat, 4k"
    assert edit_caption("a cat", None, "sks,") == "sks, a cat"
    assert edit_caption("a cat", "4k", "sks,") == "sks, a cat 4k"


def test_edit_caption_is_idempotent() -> None:
    assert edit_caption("a cat 4k", "4k", None) is None
    assert edit_caption("sks, a cat", None, "sks,") is None
    assert edit_caption("sks, a cat", "4k", "sks,") == "sks, a cat 4k"


def test_targets_map_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "in" / "sub" / "x.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "in" / "y.jpeg")
    (tmp_path / "in" / ".hidden.png").write_bytes(b"")
    beside = directory_targets(tmp_path / "in", None, recursive=True)
    assert [(t.name, t.caption) for t in beside] == [
        ("sub/x.png", tmp_path / "in" / "sub" / "x.txt"),
        ("y.jpeg", tmp_path / "in" / "y.txt"),
    ]
    elsewhere = directory_targets(tmp_path / "in", tmp_path / "out", recursive=True)
    assert [t.caption for t in elsewhere] == [
        tmp_path / "out" / "sub" / "x.txt",
        tmp_path / "out" / "y.txt",
    ]


# -- --append / --prepend -----------------------------------------------------------------------


def test_append_edits_existing_captions_and_skips_images_without_one(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "caption", "-i", str(dataset), "--append", ", high quality")
    assert code == 0, err
    assert (dataset / "one.txt").read_text() == "a cat on a sofa, high quality"
    assert (dataset / "two.txt").read_text() == "a dog in the park, high quality"
    assert not (dataset / "three.txt").exists()
    assert "skipped three.webp: no caption to edit" in out
    assert "Done: 2 processed, 1 skipped, 0 failed" in out


def test_prepend_and_append_together_and_rerun_changes_nothing(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("caption", "-i", str(dataset), "--prepend", "photo of sks,", "--append", "4k")
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    assert (dataset / "one.txt").read_text() == "photo of sks, a cat on a sofa 4k"
    code, out, _ = run_cli(capsys, *args)
    assert code == 0
    assert (dataset / "one.txt").read_text() == "photo of sks, a cat on a sofa 4k"
    assert "skipped one.png: caption already has the text" in out


def test_edit_runs_no_model_even_when_one_is_named(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "caption", "-i", str(dataset), "--prepend", "sks", "--model", "/no/such/model"
    )
    assert code == 0, err
    assert (dataset / "one.txt").read_text() == "sks a cat on a sofa"


def test_edit_dry_run_writes_nothing(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "caption", "-i", str(dataset), "--append", "4k", "--dry-run")
    assert code == 0
    assert (dataset / "one.txt").read_text() == "a cat on a sofa"
    assert "would write" in out and "a cat on a sofa 4k" in out


def test_edit_captions_in_output_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, captions = tmp_path / "images", tmp_path / "captions"
    images.mkdir()
    captions.mkdir()
    Image.new("RGB", (8, 8)).save(images / "a.png")
    (captions / "a.txt").write_text("a square")
    code, _, err = run_cli(
        capsys, "caption", "-i", str(images), "-o", str(captions), "--append", "4k"
    )
    assert code == 0, err
    assert (captions / "a.txt").read_text() == "a square 4k"
    assert not (images / "a.txt").exists()


def test_single_image_edit(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "caption", "--input-image", str(dataset / "two.jpg"), "--prepend", "sks,"
    )
    assert code == 0, err
    assert (dataset / "two.txt").read_text() == "sks, a dog in the park"


def test_two_images_sharing_a_caption_name_are_not_both_captioned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("photo.jpg", "photo.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    code, out, _ = run_cli(capsys, "caption", "-i", str(tmp_path), "--dry-run", "--llm-api")
    assert code == 0
    assert "skipped photo.png: photo.txt is the caption of photo.jpg" in out


# -- usage errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--input or --input-image is required"),
        (("-i", "/no/such/dir"), "--input '/no/such/dir' does not exist or is not a directory"),
        (("--input-image", "/no/such.png"), "--input-image '/no/such.png' does not exist"),
        (("-i", "{set}", "--input-image", "{set}/one.png"), "not both"),
        (("-i", "{set}", "--florence-2-base", "--florence-2-large"), "not both"),
        (("-i", "{set}", "--llm-api", "--florence-2-large"), "choose a local model"),
        (("-i", "{set}", "--append", "x", "--template", "y"), "not with --append"),
        (("-i", "{set}", "--device", "tpu"), "'tpu' is not one of"),
        (("-i", "{set}", "--output-caption", "x.txt"), "--output-caption goes with"),
    ],
)
def test_bad_input_is_a_one_line_error(
    dataset: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    argv = [arg.replace("{set}", str(dataset)) for arg in args]
    code, _, err = run_cli(capsys, "caption", *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert message in lines[0]
