"""Captions travel: resize and degrade copy each image's .txt sidecar beside its outputs,
renamed with them (numbered names, variants, both sides of a pair); align keeps the caption
paired through a format change; --no-captions opts out. A deliberate difference from the
reference tool, which left the captions behind (tests/test_cli_compat.py lists it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.clirun import run_main

CAPTION_A = "a red square, ünïcode ✓\nsecond line"
CAPTION_C = "a blue square"


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture
def captioned(tmp_path: Path) -> Path:
    """a.png + a.txt, b.png without a caption, sub/c.jpg + sub/c.txt, a caption-only z.txt."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(src / "a.png")
    (src / "a.txt").write_text(CAPTION_A, encoding="utf-8")
    Image.new("RGB", (64, 48), (30, 200, 30)).save(src / "b.png")
    Image.new("RGB", (64, 48), (30, 30, 200)).save(src / "sub" / "c.jpg")
    (src / "sub" / "c.txt").write_text(CAPTION_C, encoding="utf-8")
    (src / "z.txt").write_text("an orphan caption", encoding="utf-8")
    return src


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_main(capsys, *args)


def test_resize_copies_each_caption_beside_its_output(
    captioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = run(capsys, "resize", "-i", str(captioned), "-o", str(out), "-r", "32x32", "-R")
    assert code == 0, err
    assert files(out) == ["a.jpg", "a.txt", "b.jpg", "sub/c.jpg", "sub/c.txt"]
    assert (out / "a.txt").read_bytes() == (captioned / "a.txt").read_bytes()
    assert (out / "sub" / "c.txt").read_text(encoding="utf-8") == CAPTION_C


def test_resize_numbered_outputs_get_numbered_captions(
    captioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A too-small image is skipped and takes no number: the captions must follow the images.
    Image.new("RGB", (8, 8)).save(captioned / "0_tiny.png")
    (captioned / "0_tiny.txt").write_text("tiny", encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run(capsys, "resize", "-i", str(captioned), "-o", str(out), "-r", "32x32",
                       "--output-name-numbers")  # fmt: skip
    assert code == 0, err
    assert files(out) == ["1.jpg", "1.txt", "2.jpg"]  # a -> 1 (captioned), b -> 2 (none)
    assert (out / "1.txt").read_text(encoding="utf-8") == CAPTION_A


def test_resize_single_image_caption_takes_the_output_name(
    captioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "made" / "z.webp"
    code, _, err = run(capsys, "resize", "--input-image", str(captioned / "a.png"),
                       "--output-image", str(target), "-r", "32x32")  # fmt: skip
    assert code == 0, err
    assert files(target.parent) == ["z.txt", "z.webp"]
    assert (target.parent / "z.txt").read_text(encoding="utf-8") == CAPTION_A


def test_resize_beside_its_input_leaves_the_caption_alone(
    captioned: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (captioned / "a.txt").stat()
    code, _, err = run(capsys, "resize", "-i", str(captioned), "-o", str(captioned), "-r", "32x32")
    assert code == 0, err
    after = (captioned / "a.txt").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_no_captions_and_dry_run_copy_nothing(
    captioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, _ = run(capsys, "resize", "-i", str(captioned), "-o", str(out), "-r", "32x32",
                     "--no-captions")  # fmt: skip
    assert code == 0
    assert files(out) == ["a.jpg", "b.jpg"]
    code, _, _ = run(capsys, "degrade", "-i", str(captioned), "-o", str(tmp_path / "d"),
                     "-t", "blur", "--seed", "1", "--no-captions")  # fmt: skip
    assert code == 0
    assert files(tmp_path / "d") == ["a.png", "b.png"]
    code, _, _ = run(capsys, "resize", "-i", str(captioned), "-o", str(tmp_path / "dry"), "-r",
                     "32x32", "--dry-run")  # fmt: skip
    assert code == 0 and not (tmp_path / "dry").exists()


def test_a_caption_that_cannot_be_written_fails_its_image_only(
    captioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "a.txt").mkdir(parents=True)  # a folder where a's caption must go
    code, out_text, err = run(capsys, "resize", "-i", str(captioned), "-o", str(out), "-r",
                              "32x32", "-R")  # fmt: skip
    assert code == 3
    assert "Failed: a.png: " in err
    assert "Done: 2 processed, 0 skipped, 1 failed" in out_text
    assert (out / "sub" / "c.txt").read_text(encoding="utf-8") == CAPTION_C


def test_degrade_paired_variants_caption_both_sides(
    captioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pairs"
    code, _, err = run(capsys, "degrade", "-i", str(captioned), "-o", str(out), "-t", "noise",
                       "--paired", "--num-variants", "2", "--seed", "3", "-R")  # fmt: skip
    assert code == 0, err
    captions = [name for name in files(out) if name.endswith(".txt")]
    assert captions == [
        "control/a_1.txt", "control/a_2.txt", "control/sub/c_1.txt", "control/sub/c_2.txt",
        "target/a_1.txt", "target/a_2.txt", "target/sub/c_1.txt", "target/sub/c_2.txt",
    ]  # fmt: skip
    for side in ("control", "target"):
        assert (out / side / "a_2.txt").read_text(encoding="utf-8") == CAPTION_A
        assert (out / side / "sub" / "c_1.txt").read_text(encoding="utf-8") == CAPTION_C


def test_degrade_single_image_caption_takes_the_output_name(
    captioned: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "one" / "noisy.jpg"
    code, _, err = run(capsys, "degrade", "--input-image", str(captioned / "a.png"),
                       "--output-image", str(target), "-t", "noise", "--seed", "1")  # fmt: skip
    assert code == 0, err
    assert files(target.parent) == ["noisy.jpg", "noisy.txt"]


def test_align_keeps_the_caption_paired_through_a_format_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # align edits in place and keeps each stem, so the sidecar stays the image's caption.
    target, control = tmp_path / "target", tmp_path / "control"
    target.mkdir()
    control.mkdir()
    Image.new("RGB", (70, 50)).save(target / "x.png")
    Image.new("RGB", (70, 50)).save(control / "x.png")
    (target / "x.txt").write_text(CAPTION_A, encoding="utf-8")
    code, _, err = run(capsys, "align", "-t", str(target), "-c", str(control),
                       "--output-format", "jpg")  # fmt: skip
    assert code == 0, err
    assert files(target) == ["x.jpg", "x.txt"]
    assert (target / "x.txt").read_text(encoding="utf-8") == CAPTION_A
