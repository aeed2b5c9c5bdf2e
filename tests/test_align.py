"""`datasety align`: control/target pairs end up the same size, a multiple of N, in place."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datasety.align import pairs as aligning
from datasety.cli import cli
from tests.clirun import run_datasety


def random_image(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    channels = len(mode)
    data = np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(data, mode)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["align", *args], standalone_mode=False)
    if result.exception is not None:
        raise result.exception
    return result.return_value, result.output


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    target, control = tmp_path / "target", tmp_path / "control"
    target.mkdir()
    control.mkdir()
    return target, control


# -- the size rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "control", "multiple", "common", "final"),
    [
        ((100, 70), (100, 70), 32, (100, 70), (96, 64)),
        ((200, 140), (100, 70), 32, (100, 70), (96, 64)),
        ((128, 96), (100, 100), 32, (100, 96), (96, 96)),
        ((64, 64), (64, 64), 32, (64, 64), (64, 64)),
        ((1000, 750), (999, 751), 8, (999, 750), (992, 744)),
        ((20, 40), (20, 40), 32, (20, 40), (0, 32)),
    ],
)
def test_aligned_size(
    target: tuple[int, int],
    control: tuple[int, int],
    multiple: int,
    common: tuple[int, int],
    final: tuple[int, int],
) -> None:
    assert aligning.aligned_size(target, control, multiple) == (common, final)


def test_fit_crops_the_centre_without_resampling_when_it_can() -> None:
    image = random_image(100, 70)
    out = aligning.fit(image, (100, 70), (96, 64))
    assert np.array_equal(np.asarray(out), np.asarray(image)[3:67, 2:98])


def test_fit_scales_a_larger_image_down_to_cover_then_crops() -> None:
    image = random_image(200, 140)
    out = aligning.fit(image, (100, 70), (96, 64))
    expected = image.resize((100, 70), Image.Resampling.LANCZOS).crop((2, 3, 98, 67))
    assert np.array_equal(np.asarray(out), np.asarray(expected))


def test_fit_never_scales_up() -> None:
    image = random_image(50, 50)
    out = aligning.fit(image, (50, 40), (32, 32))
    assert np.array_equal(np.asarray(out), np.asarray(image)[9:41, 9:41])


# -- the command ------------------------------------------------------------------------------


def test_pairs_become_identical_multiples_and_orphans_are_reported(
    folders: tuple[Path, Path],
) -> None:
    target, control = folders
    big = random_image(200, 140, 1)
    big.save(target / "scaled.png")
    big.resize((100, 70), Image.Resampling.LANCZOS).save(control / "scaled.png")
    random_image(100, 70, 2).save(target / "same.png")
    random_image(100, 70, 3).save(control / "same.png")
    random_image(130, 90, 4).save(target / "aspect.png")
    random_image(110, 100, 5).save(control / "aspect.png")
    random_image(64, 64, 6).save(target / "lonely_target.png")
    random_image(64, 64, 7).save(control / "lonely_control.png")
    same_target = np.asarray(Image.open(target / "same.png"))

    code, output = invoke("-t", str(target), "-c", str(control))

    assert code == 0
    assert "Done: 3 processed, 2 skipped, 0 failed" in output
    assert "skipped lonely_target.png: target has no control image" in output
    assert "skipped lonely_control.png: control has no target image" in output
    expected = {"scaled": (96, 64), "same": (96, 64), "aspect": (96, 64)}
    for stem, size in expected.items():
        assert size_of(target / f"{stem}.png") == size
        assert size_of(control / f"{stem}.png") == size
    # Same-size pair: a pure centre crop. Scaled pair: the larger side scaled to the smaller,
    # so the two line up (the small difference is the two Lanczos passes of the control).
    assert np.array_equal(pixels(target / "same.png"), same_target[3:67, 2:98])
    difference = np.abs(pixels(target / "scaled.png") - pixels(control / "scaled.png"))
    assert difference.mean() < 2.0
    # Orphans are left as they were.
    assert size_of(target / "lonely_target.png") == (64, 64)


def test_aligned_pairs_are_not_touched(folders: tuple[Path, Path]) -> None:
    target, control = folders
    random_image(64, 96, 1).save(target / "done.png")
    random_image(64, 96, 2).save(control / "done.jpg")
    before = {
        p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (*target.iterdir(), *control.iterdir())
    }
    code, output = invoke("-t", str(target), "-c", str(control))
    assert code == 0
    assert "skipped done: already aligned at 64x96" in output
    after = {
        p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (*target.iterdir(), *control.iterdir())
    }
    assert after == before


def test_output_format_converts_and_removes_the_old_file(folders: tuple[Path, Path]) -> None:
    target, control = folders
    random_image(64, 64, 1).save(target / "a.png")
    random_image(70, 70, 2, "RGBA").save(control / "a.png")
    random_image(64, 64, 3).save(target / "b.jpeg", quality=90)
    random_image(64, 64, 4).save(control / "b.webp")
    jpeg_before = (target / "b.jpeg").read_bytes()

    code, output = invoke("-t", str(target), "-c", str(control), "--output-format", "jpg")

    assert code == 0, output
    assert sorted(p.name for p in target.iterdir()) == ["a.jpg", "b.jpeg"]
    assert sorted(p.name for p in control.iterdir()) == ["a.jpg", "b.jpg"]
    for path in (target / "a.jpg", control / "a.jpg", control / "b.jpg"):
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 64))
    # .jpeg already is jpg: not re-encoded.
    assert (target / "b.jpeg").read_bytes() == jpeg_before


def test_dry_run_changes_nothing(folders: tuple[Path, Path]) -> None:
    target, control = folders
    random_image(100, 70, 1).save(target / "a.png")
    random_image(100, 70, 2).save(control / "a.jpg")
    before = {p.name: p.read_bytes() for p in (*target.iterdir(), *control.iterdir())}
    code, output = invoke(
        "-t", str(target), "-c", str(control), "--output-format", "png", "--dry-run"
    )
    assert code == 0
    assert (
        "a: target 100x70 -> 96x64, control 100x70 -> 96x64, control .jpg -> .png (dry run)"
        in output
    )
    assert {p.name: p.read_bytes() for p in (*target.iterdir(), *control.iterdir())} == before


def test_recursive_pairs_by_relative_path(folders: tuple[Path, Path]) -> None:
    target, control = folders
    for root, seed in ((target, 1), (control, 2)):
        (root / "x").mkdir()
        random_image(40, 40, seed).save(root / "x" / "p.png")
    (target / "y").mkdir()
    random_image(40, 40, 3).save(target / "y" / "p.png")
    code, output = invoke("-t", str(target), "-c", str(control), "-R", "--multiple-of", "16")
    assert code == 0
    assert "skipped y/p.png: target has no control image" in output
    assert size_of(target / "x" / "p.png") == (32, 32)
    assert size_of(control / "x" / "p.png") == (32, 32)
    assert size_of(target / "y" / "p.png") == (40, 40)
    # Without -R the subfolders are not looked at.
    code, output = invoke("-t", str(target), "-c", str(control))
    assert "Done: 0 processed, 0 skipped, 0 failed" in output


def test_bad_files_fail_alone(folders: tuple[Path, Path]) -> None:
    target, control = folders
    (target / "broken.png").write_bytes(b"junk")
    random_image(40, 40).save(control / "broken.png")
    random_image(40, 40).save(target / "twice.png")
    random_image(40, 40).save(target / "twice.jpg")
    random_image(40, 40).save(control / "twice.png")
    random_image(20, 20).save(target / "tiny.png")
    random_image(20, 20).save(control / "tiny.png")
    random_image(40, 40).save(target / "good.png")
    random_image(40, 40).save(control / "good.png")
    code, output = invoke("-t", str(target), "-c", str(control))
    assert code == 3
    assert "Done: 1 processed, 1 skipped, 2 failed" in output
    assert "Failed: broken: cannot read image" in output
    assert "Failed: twice: several target files share the name: twice.jpg, twice.png" in output
    assert "skipped tiny: 20x20 is smaller than a multiple of 32" in output
    assert size_of(target / "good.png") == (32, 32)
    assert size_of(control / "broken.png") == (40, 40)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_datasety("align", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "{tmp}/missing", "-c", "{tmp}"], "--target"),
        (["-t", "{tmp}"], "--control"),
        (["-t", "{tmp}", "-c", "{tmp}"], "different folders"),
        (["-t", "{tmp}", "-c", "{tmp}/c", "--multiple-of", "0"], "--multiple-of"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "c").mkdir()
    result = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
