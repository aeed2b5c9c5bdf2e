"""`datasety resize`: geometry by hand, then real files through the real command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pyvips
from click.testing import CliRunner, Result
from PIL import Image, ImageOps

from datasety.cli import cli
from datasety.core.errors import DatasetyError
from datasety.media.vips import decode, probe
from datasety.resize.geometry import (
    below_minimum,
    cover_crop,
    load_shrink,
    megapixel_size,
    needs_upscale,
    parse_aspect_ratio,
)
from tests.clirun import run_datasety

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)


# -- geometry, hand-computed ------------------------------------------------------------------


def test_cover_crop_wide_image_to_square() -> None:
    # 3000x2000 -> height fits 1024, width 3000 * 1024 / 2000 = 1536; 512 spare columns.
    assert cover_crop(3000, 2000, 1024, 1024, "center").scaled == (1536, 1024)
    assert cover_crop(3000, 2000, 1024, 1024, "center").box == (256, 0, 1024, 1024)
    assert cover_crop(3000, 2000, 1024, 1024, "left").box == (0, 0, 1024, 1024)
    assert cover_crop(3000, 2000, 1024, 1024, "right").box == (512, 0, 1024, 1024)
    # top/bottom act on a vertical crop only: a horizontal crop stays centred.
    assert cover_crop(3000, 2000, 1024, 1024, "top").box == (256, 0, 1024, 1024)


def test_cover_crop_tall_image() -> None:
    # 2000x3000 -> 1024x768: width fits, height 3000 * 1024 / 2000 = 1536; 768 spare rows.
    plan = cover_crop(2000, 3000, 1024, 768, "center")
    assert plan.scaled == (1024, 1536)
    assert plan.box == (0, 384, 1024, 768)
    assert cover_crop(2000, 3000, 1024, 768, "top").box == (0, 0, 1024, 768)
    assert cover_crop(2000, 3000, 1024, 768, "bottom").box == (0, 768, 1024, 768)
    assert cover_crop(2000, 3000, 1024, 768, "left").box == (0, 384, 1024, 768)


def test_cover_crop_same_aspect_needs_no_crop() -> None:
    assert cover_crop(4000, 3000, 800, 600).box == (0, 0, 800, 600)
    assert cover_crop(4000, 3000, 800, 600).scaled == (800, 600)


def test_cover_crop_rounding_never_goes_below_the_target() -> None:
    plan = cover_crop(1001, 1000, 999, 1000)
    assert plan.scaled[0] >= 999 and plan.scaled[1] == 1000


def test_megapixel_sizes_are_multiples_of_8() -> None:
    assert megapixel_size(1.0, 1.0) == (1000, 1000)
    # 16:9 at 1 MP: height sqrt(1e6 * 9 / 16) = 750 -> 752; width 1333.3 -> 1336.
    assert megapixel_size(1.0, 16 / 9) == (1336, 752)
    # 3:2 at 0.1 MP: height 258.2 -> 256; width 387.3 -> 384.
    assert megapixel_size(0.1, 1.5) == (384, 256)


def test_aspect_ratio_parsing() -> None:
    assert parse_aspect_ratio("16:9") == pytest.approx(16 / 9)
    assert parse_aspect_ratio("1.5:1") == pytest.approx(1.5)
    for bad in ("16x9", "0:1", "a:b", ""):
        with pytest.raises(DatasetyError):
            parse_aspect_ratio(bad)


def test_skip_rules() -> None:
    assert needs_upscale(500, 400, 1024, 1024)
    assert not needs_upscale(2000, 400, 1024, 1024)  # one side covers: processed
    assert below_minimum(300, 200, (256, 256))
    assert not below_minimum(300, 300, (256, 256))
    assert not below_minimum(10, 10, None)


def test_load_shrink_leaves_a_2x_lanczos_step() -> None:
    assert load_shrink(3000, 2000, (1536, 1024)) == 1
    assert load_shrink(6000, 4000, (768, 512)) == 2  # 7.8x: shrink 2, then 3.9x Lanczos
    assert load_shrink(8000, 8000, (500, 500)) == 8  # 16x
    assert load_shrink(8000, 8000, (501, 501)) == 4


# -- helpers ----------------------------------------------------------------------------------


def bands(
    size: tuple[int, int], colours: list[tuple[int, int, int]], vertical: bool
) -> Image.Image:
    """Equal bands of colour: stacked top to bottom (vertical) or left to right."""
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(colours):
        if vertical:
            pixels[i * height // len(colours) : (i + 1) * height // len(colours)] = colour
        else:
            pixels[:, i * width // len(colours) : (i + 1) * width // len(colours)] = colour
    return Image.fromarray(pixels, "RGB")


def noisy(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def resize(*args: str) -> Result:
    return CliRunner().invoke(cli, ["resize", *args], catch_exceptions=False)


def mean_colour(path: Path) -> tuple[int, ...]:
    with Image.open(path) as image:
        return tuple(int(v) for v in np.asarray(image.convert("RGB")).reshape(-1, 3).mean(0))


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 6) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- sizes and crop positions by pixel content ---------------------------------------------------


@pytest.mark.parametrize(
    ("position", "colour"), [("top", RED), ("center", GREEN), ("bottom", BLUE), ("left", GREEN)]
)
def test_crop_position_on_a_tall_image(tmp_path: Path, position: str, colour: tuple) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    # 200x600 with red/green/blue thirds -> 100x100: scaled to 100x300, one third is kept.
    bands((200, 600), [RED, GREEN, BLUE], vertical=True).save(src / "tall.png")
    result = resize("-i", str(src), "-o", str(out), "-r", "100x100", "--crop-position", position,
                    "--output-format", "png", "--workers", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out / "tall.png") as image:
        assert image.size == (100, 100)
    assert close(mean_colour(out / "tall.png"), colour)


@pytest.mark.parametrize(
    ("position", "colour"), [("left", RED), ("center", GREEN), ("right", BLUE), ("top", GREEN)]
)
def test_crop_position_on_a_wide_image(tmp_path: Path, position: str, colour: tuple) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    bands((600, 200), [RED, GREEN, BLUE], vertical=False).save(src / "wide.png")
    result = resize("-i", str(src), "-o", str(out), "-r", "50x50", "--crop-position", position,
                    "--output-format", "png", "--workers", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out / "wide.png") as image:
        assert image.size == (50, 50)
    assert close(mean_colour(out / "wide.png"), colour)


def test_exact_size_and_default_jpeg_output(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((300, 200)).save(src / "photo.png")
    noisy((200, 300), 1).save(src / "portrait.jpg", quality=90)
    result = resize("-i", str(src), "-o", str(out), "-r", "96x64")
    assert result.exit_code == 0, result.output
    assert files_in(out) == ["photo.jpg", "portrait.jpg"]
    for name in ("photo.jpg", "portrait.jpg"):
        with Image.open(out / name) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (96, 64))
    assert "Done: 2 processed, 0 skipped, 0 failed" in result.output


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    # Stored 400x200, left half red; orientation 6 = display rotated 90 degrees clockwise,
    # so the viewer sees 200x400 with red on top.
    exif = Image.Exif()
    exif[0x0112] = 6
    bands((400, 200), [RED, BLUE], vertical=False).save(src / "phone.jpg", exif=exif, quality=95)
    for position, colour in (("top", RED), ("bottom", BLUE)):
        result = resize("-i", str(src), "-o", str(out / position), "-r", "50x50",
                        "--crop-position", position, "--output-format", "png")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert close(mean_colour(out / position / "phone.png"), colour, 12)


def test_greyscale_jpeg_with_orientation_8(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    stored = Image.new("L", (400, 200), 50)
    stored.paste(200, (200, 0, 400, 200))  # left half dark, right half light
    exif = Image.Exif()
    exif[0x0112] = 8
    stored.save(src / "grey.jpg", exif=exif, quality=95)
    with Image.open(src / "grey.jpg") as opened:
        upright = np.asarray(ImageOps.exif_transpose(opened))
    assert upright.shape == (400, 200)
    top, bottom = int(upright[:200].mean()), int(upright[200:].mean())
    for position, expected in (("top", top), ("bottom", bottom)):
        result = resize("-i", str(src), "-o", str(out / position), "-r", "50x50",
                        "--crop-position", position, "--output-format", "png")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert close(mean_colour(out / position / "grey.png"), (expected,) * 3, 8)


def test_shrink_on_load_keeps_geometry(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    colours = [RED, GREEN, BLUE, (200, 200, 20)]
    bands((1600, 1200), colours, vertical=False).save(src / "big.jpg", quality=95)
    # 16x reduction: decoded at 1/8 (200x150), then Lanczos to 100x75.
    result = resize("-i", str(src), "-o", str(out), "-r", "100x75", "--output-format", "png")
    assert result.exit_code == 0, result.output
    with Image.open(out / "big.png") as image:
        assert image.size == (100, 75)
        pixels = np.asarray(image.convert("RGB"))
    for i, colour in enumerate(colours):
        centre = pixels[30:45, i * 25 + 8 : i * 25 + 17].reshape(-1, 3).mean(0)
        assert close(tuple(int(v) for v in centre), colour, 10)


@pytest.mark.parametrize(("orientation", "shrink"), [(1, 1), (6, 1), (3, 2), (1, 4)])
def test_fast_jpeg_decode_matches_libvips(tmp_path: Path, orientation: int, shrink: int) -> None:
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    noisy((320, 240)).save(path, exif=exif, quality=90)
    source = probe(path)
    assert source.fast_jpeg
    ours = decode(source, shrink)
    options = {"shrink": shrink} if shrink > 1 else {}
    theirs = pyvips.Image.new_from_file(str(path), **options).autorot()
    assert (ours.width, ours.height) == (theirs.width, theirs.height)
    assert ours.write_to_memory() == theirs.write_to_memory()


# -- skip rules ---------------------------------------------------------------------------------


def test_small_images_are_skipped_unless_upscale(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((50, 40)).save(src / "small.png")
    noisy((50, 100)).save(src / "narrow.png")  # taller than the target: processed
    result = resize("-i", str(src), "-o", str(out), "-r", "64x64")
    assert result.exit_code == 0
    assert "skipped small.png: 50x40 is smaller than 64x64" in result.output
    assert "Done: 1 processed, 1 skipped, 0 failed" in result.output
    assert files_in(out) == ["narrow.jpg"]

    result = resize("-i", str(src), "-o", str(out), "-r", "64x64", "--upscale")
    assert "Done: 2 processed, 0 skipped, 0 failed" in result.output
    with Image.open(out / "small.jpg") as image:
        assert image.size == (64, 64)


def test_min_resolution(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((300, 200)).save(src / "landscape.png")
    noisy((300, 300)).save(src / "square.png")
    result = resize("-i", str(src), "-o", str(out), "-r", "64x64", "--min-resolution", "250x250")
    assert "skipped landscape.png: 300x200 is below the minimum 250x250" in result.output
    assert files_in(out) == ["square.jpg"]


# -- megapixel ----------------------------------------------------------------------------------


def test_megapixel_keeps_each_images_aspect(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((600, 400)).save(src / "wide.png")
    noisy((400, 600)).save(src / "tall.png")
    result = resize("-i", str(src), "-o", str(out), "--megapixel", "0.1")
    assert result.exit_code == 0, result.output
    with Image.open(out / "wide.jpg") as wide, Image.open(out / "tall.jpg") as tall:
        assert wide.size == (384, 256)
        assert tall.size == (256, 384)


def test_megapixel_with_aspect_ratio(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((600, 400)).save(src / "wide.png")
    result = resize("-i", str(src), "-o", str(out), "--megapixel", "0.1", "--aspect-ratio", "1:1")
    assert result.exit_code == 0, result.output
    with Image.open(out / "wide.jpg") as image:
        assert image.size == (320, 320)  # sqrt(1e5) = 316.2 -> 320


# -- formats ------------------------------------------------------------------------------------


def test_alpha_is_flattened_on_white_for_jpeg_and_kept_for_png(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.new("RGBA", (80, 80), (0, 0, 0, 0)).save(src / "clear.png")
    Image.new("L", (80, 80), 128).save(src / "grey.png")
    Image.new("P", (80, 80), 3).save(src / "palette.png")
    assert resize("-i", str(src), "-o", str(out / "jpg"), "-r", "40x40").exit_code == 0
    assert resize("-i", str(src), "-o", str(out / "png"), "-r", "40x40",
                  "--output-format", "png").exit_code == 0  # fmt: skip
    assert resize("-i", str(src), "-o", str(out / "webp"), "-r", "40x40",
                  "--output-format", "webp").exit_code == 0  # fmt: skip
    with Image.open(out / "jpg" / "clear.jpg") as image:
        assert image.mode == "RGB"
    assert close(mean_colour(out / "jpg" / "clear.jpg"), (255, 255, 255), 2)
    assert close(mean_colour(out / "jpg" / "grey.jpg"), (128, 128, 128), 2)
    with Image.open(out / "jpg" / "grey.jpg") as image:
        assert image.mode == "RGB"
    with Image.open(out / "png" / "clear.png") as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (40, 40))
        assert image.getpixel((20, 20))[3] == 0
    with Image.open(out / "webp" / "grey.webp") as image:
        assert (image.format, image.size) == ("WEBP", (40, 40))


def test_input_format_filter(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((80, 80)).save(src / "a.png")
    noisy((80, 80)).save(src / "b.jpg")
    noisy((80, 80)).save(src / "c.bmp")
    result = resize("-i", str(src), "-o", str(out), "-r", "32x32", "--input-format", "png,bmp")
    assert result.exit_code == 0, result.output
    assert files_in(out) == ["a.jpg", "c.jpg"], result.output + result.stderr  # BMP: via Pillow


# -- naming and layout --------------------------------------------------------------------------


def test_output_name_numbers_count_only_written_images(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.new("RGB", (20, 20), RED).save(src / "a_small.png")  # skipped: takes no number
    Image.new("RGB", (80, 80), GREEN).save(src / "b.png")
    Image.new("RGB", (80, 80), BLUE).save(src / "c.png")
    result = resize("-i", str(src), "-o", str(out), "-r", "40x40", "--output-name-numbers")
    assert result.exit_code == 0, result.output
    assert files_in(out) == ["1.jpg", "2.jpg"]
    assert close(mean_colour(out / "1.jpg"), GREEN)
    assert close(mean_colour(out / "2.jpg"), BLUE)
    assert "Done: 2 processed, 1 skipped, 0 failed" in result.output


def test_recursive_keeps_subfolders(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "people" / "close").mkdir(parents=True)
    noisy((80, 80)).save(src / "top.png")
    noisy((80, 80)).save(src / "people" / "close" / "face.png")
    assert resize("-i", str(src), "-o", str(out / "flat"), "-r", "32x32").exit_code == 0
    assert files_in(out / "flat") == ["top.jpg"]
    assert resize("-i", str(src), "-o", str(out / "deep"), "-r", "32x32", "-R").exit_code == 0
    assert files_in(out / "deep") == ["people/close/face.jpg", "top.jpg"]


def test_same_stem_twice_is_reported_not_overwritten(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.new("RGB", (80, 80), RED).save(src / "x.jpg")
    Image.new("RGB", (80, 80), BLUE).save(src / "x.png")
    result = resize("-i", str(src), "-o", str(out), "-r", "40x40")
    assert "Done: 1 processed, 0 skipped, 1 failed" in result.output
    assert close(mean_colour(out / "x.jpg"), RED)


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((80, 80)).save(src / "a.png")
    noisy((80, 80)).save(src / "b.png")
    result = resize("-i", str(src), "-o", str(out), "-r", "32x32", "--dry-run",
                    "--output-name-numbers")  # fmt: skip
    assert result.exit_code == 0
    assert "a.png 80x80 to 32x32 -> 1.jpg" in result.output
    assert not out.exists()


def test_single_image_mode(tmp_path: Path) -> None:
    noisy((300, 200)).save(tmp_path / "one.png")
    target = tmp_path / "made" / "one.webp"
    result = resize("--input-image", str(tmp_path / "one.png"), "--output-image", str(target),
                    "-r", "64x48")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(target) as image:
        assert (image.format, image.size) == ("WEBP", (64, 48))  # format from the suffix


def test_corrupt_files_fail_and_the_batch_goes_on(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    noisy((200, 200)).save(src / "a_good.jpg", quality=90)
    (src / "b_garbage.jpg").write_bytes(b"this is not an image at all")
    whole = (src / "a_good.jpg").read_bytes()
    (src / "c_truncated.jpg").write_bytes(whole[: len(whole) // 2])
    noisy((200, 200), 2).save(src / "d_good.png")
    result = CliRunner().invoke(cli, ["resize", "-i", str(src), "-o", str(out), "-r", "64x64",
                                      "--workers", "2"], standalone_mode=False)  # fmt: skip
    assert result.return_value == 3, result.output  # the exit code cli.main() gives
    assert "Done: 2 processed, 0 skipped, 2 failed" in result.output
    assert result.stderr.splitlines()[-1] == "Error: 2 of 4 files failed"
    assert "Failed: b_garbage.jpg" in result.stderr
    assert "Failed: c_truncated.jpg" in result.stderr
    assert files_in(out) == ["a_good.jpg", "d_good.jpg"]


def test_failed_files_give_exit_code_3(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    args = ["resize", "-i", str(src), "-o", str(tmp_path / "out"), "-r", "64x64"]
    result = CliRunner().invoke(cli, args, standalone_mode=False)
    assert result.return_value == 3  # the exit code cli.main() gives


# -- bad input: one line, non-zero, no traceback -------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_datasety("resize", *args)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-i", "{missing}", "-o", "{out}", "-r", "64x64"], "--input"),
        (["-i", "{src}", "-o", "{out}", "-r", "12"], "WIDTHxHEIGHT"),
        (["-i", "{src}", "-o", "{out}", "-r", "64x64", "--input-format", "xyz"], "xyz"),
        (["-i", "{src}", "-o", "{out}", "-r", "64x64", "--output-format", "gif"], "gif"),
        (["-i", "{src}", "-o", "{out}", "-r", "64x64", "--megapixel", "1"], "--megapixel"),
        (["-i", "{src}", "-r", "64x64"], "--output"),
        (["-i", "{src}", "-o", "{out}"], "--resolution"),
        (["-i", "{src}", "-o", "{out}", "--megapixel", "1", "--aspect-ratio", "wide"], "W:H"),
        (["-i", "{src}", "-o", "{out}", "--megapixel", "-1"], "--megapixel"),
        (["-i", "{src}", "-o", "{out}", "-r", "8x8", "--min-resolution", "big"], "--min-res"),
        (["--input-image", "{src}/none.png", "--output-image", "{out}/x.jpg", "-r", "8x8"], "none"),
        (["--input-image", "{src}/a.png", "--output-image", "{out}/x.gif", "-r", "8x8"], ".gif"),
        (
            [
                "--input-image",
                "{src}/a.png",
                "--output-image",
                "{out}/x.jpg",
                "-r",
                "8x8",
                "--output-format",
                "png",
            ],
            "contradicts",
        ),  # fmt: skip
        (
            [
                "-i",
                "{src}",
                "--input-image",
                "{src}/a.png",
                "--output-image",
                "{out}/x.jpg",
                "-r",
                "8x8",
            ],
            "either",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_one_line_error(tmp_path: Path, args: list[str], says: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    noisy((20, 20)).save(src / "a.png")
    paths = {"src": str(src), "out": str(tmp_path / "out"), "missing": str(tmp_path / "nope")}
    result = run_cli(*(a.format(**paths) for a in args))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and says in lines[0]
    assert not (tmp_path / "out").exists()


# -- interrupted runs leave no partial file ------------------------------------------------------


def _start_slow_batch(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    image = noisy((1200, 900))
    for i in range(30):
        image.save(src / f"img_{i:02d}.png", compress_level=0)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "datasety",
            "resize",
            "-i",
            str(src),
            "-o",
            str(out),
            "-r",
            "1000x750",
            "--output-format",
            "png",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(visible(out)) < 3:
        time.sleep(0.02)
    assert process.poll() is None, "the batch finished before it could be interrupted"
    return process, out


def visible(folder: Path) -> list[Path]:
    return [p for p in folder.glob("*") if not p.name.startswith(".")] if folder.exists() else []


def _assert_every_visible_output_is_whole(out: Path) -> None:
    for path in visible(out):
        with Image.open(path) as image:
            image.load()  # raises on a truncated file
            assert image.size == (1000, 750)


@pytest.mark.slow
def test_sigkill_leaves_only_whole_visible_files(tmp_path: Path) -> None:
    process, out = _start_slow_batch(tmp_path)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    _assert_every_visible_output_is_whole(out)


@pytest.mark.slow
@pytest.mark.parametrize("whole_group", [True, False], ids=["group", "main-process"])
def test_sigterm_leaves_no_temporary_file(tmp_path: Path, whole_group: bool) -> None:
    process, out = _start_slow_batch(tmp_path)
    if whole_group:  # what a job's cancel does
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode != 0
    time.sleep(0.2)  # let any worker that outlived the main process finish its rename
    _assert_every_visible_output_is_whole(out)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert 3 <= len(visible(out)) < 30
