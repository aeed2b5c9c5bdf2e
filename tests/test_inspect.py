"""`datasety inspect` on a deliberately broken dataset: every finding names exactly its files."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from datasety.cli import main
from datasety.inspect import report as inspection
from datasety.inspect.report import aspect_bucket, caption_stats, inspect_dataset
from datasety.media.perceptual import hamming, near_groups, phash


def photo(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A photo-like image: smooth random colour fields, different for every seed."""
    rng = np.random.default_rng(seed)
    cells = (rng.random((6, 6, 3)) * 255).astype("uint8")
    return Image.fromarray(cells).resize(size, Image.Resampling.BICUBIC)


def save(image: Image.Image, path: Path, **params: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **params)
    return path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def wav(path: Path, frames: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x01\x00" * frames)


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    """Every kind of problem once, next to files that are fine."""
    root = tmp_path / "ds"
    # Fine: a captioned photo with a mask of its size, and a captioned edit pair with a mask.
    save(photo(1), root / "good.jpg", quality=90)
    write(root / "good.txt", "a red house by the sea")
    save(Image.new("L", (64, 48), 255), root / "good_mask.png")
    save(photo(2), root / "edit_001_input.png")
    save(photo(3), root / "edit_001_target.png")
    write(root / "edit_001.txt", "make it night")
    # A mask of the wrong size (its image is the pair's target, 64x48).
    save(Image.new("L", (32, 32), 255), root / "edit_001_mask.png")
    # A mask with no image at all.
    save(Image.new("L", (64, 48), 0), root / "lonely_mask.png")
    # No caption.
    save(photo(4), root / "nocap.png")
    # A caption with no image, and an empty caption.
    write(root / "orphan.txt", "nobody reads this")
    save(photo(5), root / "empty.png")
    write(root / "empty.txt", "  \n")
    # A pair with only its input; a pair of different sizes.
    save(photo(6), root / "edit_002_input.png")
    write(root / "edit_002.txt", "add a hat")
    save(photo(7), root / "edit_003_input.png")
    save(photo(8, (80, 60)), root / "edit_003_target.png")
    write(root / "edit_003.txt", "remove the car")
    # Folder pairs: x is complete (caption beside the target), y has no target.
    save(photo(9), root / "control" / "x.png")
    save(photo(10), root / "target" / "x.png")
    write(root / "target" / "x.txt", "sharpen")
    save(photo(11), root / "control" / "y.png")
    write(root / "y.txt", "denoise")
    # A truncated JPEG and random bytes named .png.
    buffer = io.BytesIO()
    photo(12, (200, 150)).save(buffer, "JPEG", quality=95)
    write(root / "trunc.jpg", buffer.getvalue()[: len(buffer.getvalue()) // 2])
    write(root / "trunc.txt", "cut short")
    write(root / "noise.png", np.random.default_rng(0).bytes(3000))
    write(root / "noise.txt", "not an image")
    # Two identical files, and a near duplicate (brighter, re-encoded).
    save(photo(13), root / "dup_a.png")
    write(root / "dup_b.png", (root / "dup_a.png").read_bytes())
    write(root / "dup_a.txt", "twin")
    write(root / "dup_b.txt", "twin")
    original = photo(14, (96, 64))
    save(original, root / "near.jpg", quality=90)
    brighter = np.clip(np.asarray(original).astype(int) + 12, 0, 255).astype("uint8")
    save(Image.fromarray(brighter), root / "near_bright.jpg", quality=75)
    write(root / "near.txt", "a hill")
    write(root / "near_bright.txt", "a hill, brighter")
    # TTS: a row whose wav is missing and a wav with no row.
    write(root / "metadata.csv", "clip_1|Hello there.\nclip_2|Where is my audio?\n")
    wav(root / "wavs" / "clip_1.wav", 800)
    wav(root / "wavs" / "clip_3.wav", 1200)
    # Kinds that are counted only.
    write(root / "clip.mp4", b"\x00\x00\x00\x18ftypmp42")
    write(root / "clip.txt", "a video caption")
    write(root / "notes.md", "# notes")
    # Hidden files (another run's temporary output) are never looked at.
    write(root / ".good.1234.partial.jpg", b"half")
    return root


def run_inspect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["inspect", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_json_findings_name_exactly_the_right_files(
    broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_inspect(capsys, str(broken), "--json", "--workers", "1")
    assert code == 0, err
    report = json.loads(out)
    findings = report["findings"]
    assert findings["images_without_captions"] == ["nocap.png"]
    assert findings["captions_without_images"] == ["orphan.txt"]
    assert findings["pairs_missing_side"] == [
        {"file": "edit_002_input.png", "missing": "target"},
        {"file": "control/y.png", "missing": "target"},
    ]
    assert findings["pair_size_mismatch"] == [
        {
            "input": "edit_003_input.png",
            "target": "edit_003_target.png",
            "input_size": [64, 48],
            "target_size": [80, 60],
        }
    ]
    assert findings["mask_size_mismatch"] == [
        {
            "mask": "edit_001_mask.png",
            "image": "edit_001_target.png",
            "mask_size": [32, 32],
            "image_size": [64, 48],
        }
    ]
    assert findings["masks_without_image"] == ["lonely_mask.png"]
    unreadable = {entry["file"]: entry["error"] for entry in findings["unreadable"]}
    assert set(unreadable) == {"noise.png", "trunc.jpg"}
    assert "truncated" in unreadable["trunc.jpg"]
    assert "cannot identify" in unreadable["noise.png"]
    assert findings["exact_duplicates"] == [["dup_a.png", "dup_b.png"]]
    assert findings["near_duplicates"] == [["near.jpg", "near_bright.jpg"]]
    assert findings["metadata_rows_without_audio"] == [{"file": "metadata.csv", "id": "clip_2"}]
    assert findings["audio_without_metadata_rows"] == ["wavs/clip_3.wav"]
    assert report["finding_count"] == 13


def test_json_statistics(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_inspect(capsys, "--input", str(broken), "--json", "--workers", "1")
    report = json.loads(out)
    assert report["counts"] == {"image": 20, "caption": 15, "audio": 2, "video": 1, "other": 2}
    # 18 decodable images: 14 of 64x48 and one 80x60 (4:3), two 96x64 (3:2), a 32x32 mask.
    assert report["resolutions"] == {"64x48": 14, "96x64": 2, "32x32": 1, "80x60": 1}
    assert report["aspect_ratios"] == {"4:3": 15, "3:2": 2, "1:1": 1}
    captions = report["captions"]
    assert captions["count"] == 15
    assert captions["empty"] == 1
    assert captions["words"]["min"] == 1  # "sharpen", "denoise", "twin"
    assert captions["words"]["max"] == 6  # "a red house by the sea"
    assert captions["chars"]["max"] == len("a red house by the sea")
    total = sum(p.stat().st_size for p in broken.rglob("*") if p.is_file())
    hidden = (broken / ".good.1234.partial.jpg").stat().st_size
    assert report["total_bytes"] == total - hidden


def test_pool_gives_the_same_report(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inspection, "POOL_MIN_IMAGES", 0)
    one = inspect_dataset(broken, workers=1).to_dict()
    two = inspect_dataset(broken, workers=2).to_dict()
    assert one == two


def test_human_report_names_every_section_and_truncates(
    broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_inspect(capsys, str(broken), "--workers", "1", "--limit", "1")
    assert code == 0
    for section in (
        f"Dataset: {broken}",
        "Files: 20 images, 15 captions, 2 audio, 1 video, 2 other",
        "Resolutions:",
        "Aspect ratios:",
        "Captions: 15 (1 empty)",
        "Findings: 13",
        "Images without captions: 1\n    nocap.png",
        "Captions without images: 1\n    orphan.txt",
        "Pairs with a missing side: 2\n    edit_002_input.png (no target)\n    ... and 1 more",
        "Pairs of different sizes: 1\n    edit_003_input.png 64x48 vs edit_003_target.png 80x60",
        "Masks of a different size than their image: 1\n"
        "    edit_001_mask.png 32x32 vs edit_001_target.png 64x48",
        "Masks without an image: 1\n    lonely_mask.png",
        "Unreadable or corrupt files: 2\n    noise.png: cannot identify",
        "Exact duplicates: 1\n    dup_a.png = dup_b.png",
        "Near duplicates: 1\n    near.jpg ~ near_bright.jpg",
        "metadata.csv rows without audio: 1\n    metadata.csv: row 'clip_2'",
        "Audio without a metadata.csv row: 1\n    wavs/clip_3.wav",
        "  64x48      14",
        "  ... and 2 more",
    ):
        assert section in out, section


def test_strict_fails_on_findings_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(photo(1), tmp_path / "a.png")
    code, out, _ = run_inspect(capsys, str(tmp_path), "--strict")
    assert code == 1
    assert "Images without captions: 1" in out
    write(tmp_path / "a.txt", "a caption")
    code, out, _ = run_inspect(capsys, str(tmp_path), "--strict")
    assert code == 0
    assert "Findings: 0" in out


def test_no_recursive_stays_in_the_top_folder(
    broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run_inspect(capsys, str(broken), "--no-recursive", "--json", "--workers", "1")
    report = json.loads(out)
    assert report["recursive"] is False
    assert report["counts"]["image"] == 17  # control/x, control/y, target/x left out
    assert report["counts"]["audio"] == 0
    assert report["findings"]["metadata_rows_without_audio"] == [
        {"file": "metadata.csv", "id": "clip_1"},
        {"file": "metadata.csv", "id": "clip_2"},
    ]


def test_bad_input_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_inspect(capsys, str(tmp_path / "missing"))
    assert code == 1
    assert err.strip().startswith("Error: DIRECTORY (or --input)")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_inspect(capsys)
    assert code == 1 and err.startswith("Error: DIRECTORY (or --input) is required")
    code, _, err = run_inspect(capsys, str(tmp_path), "--input", str(tmp_path / "other"))
    assert code == 2 and "not both" in err  # a usage error, found while click parses


def test_job_progress_lines(
    broken: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATASETY_PROGRESS", "jsonl")
    _, out, _ = run_inspect(capsys, str(broken), "--workers", "1")
    lines = [line for line in out.splitlines() if line.startswith("@datasety:progress ")]
    assert len(lines) == 20
    assert json.loads(lines[-1].split(" ", 1)[1])["done"] == 20


# -- the pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "bucket"),
    [
        ((1024, 1024), "1:1"),
        ((1920, 1080), "16:9"),
        ((1080, 1920), "9:16"),
        ((800, 600), "4:3"),
        ((600, 900), "2:3"),
        ((1000, 540), "1.85:1"),
        ((540, 1000), "1:1.85"),
    ],
)
def test_aspect_buckets(size: tuple[int, int], bucket: str) -> None:
    assert aspect_bucket(*size) == bucket


def test_caption_stats() -> None:
    stats = caption_stats(["one two three", "", "four", "five six"])
    assert stats == {
        "count": 4,
        "empty": 1,
        "words": {"min": 1, "median": 2, "mean": 2.0, "max": 3},
        "chars": {"min": 4, "median": 8, "mean": 8.3, "max": 13},
    }
    assert caption_stats([]) == {"count": 0, "empty": 0, "words": None, "chars": None}


def test_phash_separates_copies_from_other_images() -> None:
    base = photo(20, (128, 96))
    smaller = base.resize((64, 48), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    base.save(buffer, "JPEG", quality=60)
    reencoded = Image.open(io.BytesIO(buffer.getvalue()))
    assert hamming(phash(base), phash(smaller)) <= 8
    assert hamming(phash(base), phash(reencoded)) <= 8
    assert hamming(phash(base), phash(photo(21, (128, 96)))) > 8


def test_near_groups_are_connected_components() -> None:
    hashes = [0b0, 0b1, 0b11, 0xFFFF_0000_0000_0000, 0b111_0000]
    assert near_groups(hashes, 1) == [[0, 1, 2]]
    assert near_groups(hashes, 3) == [[0, 1, 2, 4]]
    assert near_groups([], 5) == []
