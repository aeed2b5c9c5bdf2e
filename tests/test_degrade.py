"""`datasety degrade`: what each degradation does to pixels, and the batch command's files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datasety.cli import cli
from datasety.degrade import batch as degrading
from datasety.degrade import degradations
from tests.clirun import run_datasety

# -- test images ------------------------------------------------------------------------------


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def checkerboard(size: int = 64, square: int = 2) -> Image.Image:
    ys, xs = np.indices((size, size))
    board = (((xs // square) + (ys // square)) % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.stack([board] * 3, axis=-1))


def gradient(width: int = 64, height: int = 64) -> Image.Image:
    xs = np.linspace(0, 255, width)
    ys = np.linspace(0, 255, height)
    red = np.tile(xs, (height, 1))
    green = np.tile(ys[:, None], (1, width))
    blue = (red + green) / 2
    return Image.fromarray(np.stack([red, green, blue], axis=-1).astype(np.uint8))


def random_image(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def stripes(vertical: bool, size: int = 48) -> Image.Image:
    """Alternating 2-pixel stripes: vertical ones vary along x, horizontal ones along y."""
    ys, xs = np.indices((size, size))
    band = ((xs if vertical else ys) // 2 % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.stack([band] * 3, axis=-1))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def high_frequency(image: Image.Image) -> float:
    """Mean absolute difference between neighbouring pixels, both directions."""
    values = pixels(image)
    return float(np.abs(np.diff(values, axis=0)).mean() + np.abs(np.diff(values, axis=1)).mean())


# -- each degradation's pixels ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(degradations.DEGRADATIONS))
def test_every_type_keeps_size_and_mode_and_input(name: str) -> None:
    source = random_image(33, 17)
    before = pixels(source).copy()
    for intensity in (0.0, 0.5, 1.0):
        out = degradations.apply(source, name, intensity, rng())
        assert out.size == (33, 17)
        assert out.mode == "RGB"
        assert not np.array_equal(pixels(out), before), f"{name} at {intensity} is a no-op"
    assert np.array_equal(pixels(source), before)


def test_blur_removes_high_frequencies_more_with_intensity() -> None:
    board = checkerboard()
    original = high_frequency(board)
    mild = high_frequency(degradations.blur(board, 0.0, rng()))
    strong = high_frequency(degradations.blur(board, 1.0, rng()))
    assert mild < original * 0.8
    assert strong < original * 0.05
    assert strong < mild


def test_noise_has_the_documented_standard_deviation() -> None:
    grey = Image.new("RGB", (128, 128), (128, 128, 128))
    out = pixels(degradations.noise(grey, 0.5, rng(1))) - 128
    sigma = degradations.noise_sigma(0.5)
    assert sigma == pytest.approx(26.0)
    assert out.std() == pytest.approx(sigma, rel=0.05)
    assert abs(out.mean()) < 1.0
    # Independent per channel: the channels are not copies of each other.
    assert not np.array_equal(out[..., 0], out[..., 1])


def test_noise_follows_the_generator() -> None:
    grey = Image.new("RGB", (16, 16), (128, 128, 128))
    first = pixels(degradations.noise(grey, 0.5, rng(5)))
    assert np.array_equal(first, pixels(degradations.noise(grey, 0.5, rng(5))))
    assert not np.array_equal(first, pixels(degradations.noise(grey, 0.5, rng(6))))


def test_pixelate_makes_constant_blocks_of_the_block_mean() -> None:
    source = random_image(50, 37)
    block = degradations.pixelate_block(0.5)
    assert block == 9
    out = pixels(degradations.pixelate(source, 0.5, rng()))
    original = pixels(source)
    for top in range(0, 37, block):
        for left in range(0, 50, block):
            cell = out[top : top + block, left : left + block]
            assert (cell == cell[0, 0]).all(), (top, left)
            expected = original[top : top + block, left : left + block].mean(axis=(0, 1))
            assert np.abs(cell[0, 0] - expected).max() <= 0.5


def test_jpeg_is_lossy_with_8x8_blocking() -> None:
    smooth = gradient()
    out = pixels(degradations.jpeg(smooth, 0.5, rng()))
    assert degradations.jpeg_quality(0.5) == 50
    assert np.abs(out - pixels(smooth)).mean() > 0.3
    # Steps across the 8-pixel block borders are larger than steps inside blocks.
    steps = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))
    across = steps[7::8].mean()
    inside = np.delete(steps, np.s_[7::8]).mean()
    assert across > 2 * inside


def test_color_bands_reduce_distinct_colours() -> None:
    smooth = gradient(256, 64)
    before = len(np.unique(np.asarray(smooth)[..., 0]))
    bits = degradations.color_bits(1.0)
    assert bits == 2
    out = np.asarray(degradations.color_bands(smooth, 1.0, rng()))
    assert before == 256
    assert len(np.unique(out[..., 0])) <= 2**bits
    mild = np.asarray(degradations.color_bands(smooth, 0.0, rng()))
    assert 2**bits < len(np.unique(mild[..., 0])) <= 2 ** degradations.color_bits(0.0)


def test_oversharpen_overshoots_an_edge() -> None:
    edge = np.full((32, 32, 3), 64, dtype=np.uint8)
    edge[:, 16:] = 192
    out = pixels(degradations.oversharpen(Image.fromarray(edge), 0.5, rng()))
    # Halos: darker than dark beside the edge, brighter than bright on the other side.
    assert out[:, 12:16].min() < 64 - 20
    assert out[:, 16:20].max() > 192 + 20
    # Flat areas far from the edge stay as they were.
    assert (out[:, :8] == 64).all()
    assert (out[:, 24:] == 192).all()


def test_motion_blur_is_directional() -> None:
    across = stripes(vertical=True)
    along = stripes(vertical=False)
    horizontal_on_across = degradations.motion_blur(across, 0.5, rng(), angle=0.0)
    horizontal_on_along = degradations.motion_blur(along, 0.5, rng(), angle=0.0)
    # A horizontal streak smears stripes that vary along x and leaves the others exact.
    assert high_frequency(horizontal_on_across) < high_frequency(across) * 0.2
    assert np.array_equal(pixels(horizontal_on_along), pixels(along))
    vertical_on_along = degradations.motion_blur(along, 0.5, rng(), angle=90.0)
    assert high_frequency(vertical_on_along) < high_frequency(along) * 0.2
    assert np.array_equal(
        pixels(degradations.motion_blur(across, 0.5, rng(), 90.0)), pixels(across)
    )


def test_motion_blur_direction_comes_from_the_generator() -> None:
    board = checkerboard(32, 4)
    first = pixels(degradations.motion_blur(board, 0.5, rng(1)))
    assert np.array_equal(first, pixels(degradations.motion_blur(board, 0.5, rng(1))))
    assert not np.array_equal(first, pixels(degradations.motion_blur(board, 0.5, rng(2))))


@pytest.mark.parametrize("name", ["lowres", "upscale-sim"])
def test_lowres_and_upscale_sim_lose_detail_but_keep_size(name: str) -> None:
    source = random_image(64, 48)
    out = degradations.apply(source, name, 0.5, rng())
    assert out.size == source.size
    assert high_frequency(out) < high_frequency(source) * 0.5


def test_lowres_is_blocky_and_upscale_sim_is_smooth() -> None:
    source = random_image(64, 64)
    blocky = pixels(degradations.lowres(source, 0.0, rng()))  # 2x: 2x2 nearest blocks
    assert (blocky[0::2] == blocky[1::2]).all()
    smooth = pixels(degradations.upscale_sim(source, 0.0, rng()))
    assert not (smooth[0::2] == smooth[1::2]).all()


def test_random_resolves_to_concrete_types() -> None:
    seen = {degradations.resolve_type("random", rng(seed)) for seed in range(60)}
    assert seen <= set(degradations.DEGRADATIONS)
    assert len(seen) >= 6
    assert degradations.resolve_type("blur", rng()) == "blur"


# -- planning ---------------------------------------------------------------------------------


def test_output_names_one_recipe_several_types_and_variants() -> None:
    def names(**kw: object) -> list[str]:
        settings = degrading.Settings(**kw)  # type: ignore[arg-type]
        return [name for name, _, _ in degrading.output_names("photo", ".png", settings)]

    assert names(types=("blur",)) == ["photo.png"]
    assert names(types=("blur",), num_variants=2) == ["photo_1.png", "photo_2.png"]
    # Several types without --chain: still one output, of one type drawn at random.
    assert names(types=("blur", "noise")) == ["photo.png"]
    assert names(types=("blur", "noise"), chain=True) == ["photo.png"]
    assert names(types=("blur", "noise", "blur"), num_variants=2) == [
        "photo_1.png",
        "photo_2.png",
    ]


def test_several_types_without_chain_draw_one_of_them_per_output() -> None:
    settings = degrading.Settings(types=("blur", "noise"), num_variants=40)
    drawn = set()
    for stem in ("a", "b"):
        for output in degrading.plan_outputs(Path("out"), "", stem, settings, ".png"):
            job = degrading.Job(Path(f"{stem}.png"), f"{stem}.png", (output,), settings)
            steps = degrading.choose_steps(job, output)
            assert len(steps) == 1
            drawn.add(steps[0][0])
    assert drawn == {"blur", "noise"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.2,0.8", (0.2, 0.8)),
        ("0.3-0.8", (0.3, 0.8)),
        (" 0 , 1 ", (0.0, 1.0)),
        (".5,.5", (0.5, 0.5)),
    ],
)
def test_parse_intensity_range(text: str, expected: tuple[float, float]) -> None:
    assert degrading.parse_intensity_range(text) == expected


# -- the command ------------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["degrade", *args], standalone_mode=False)
    if result.exception is not None:
        raise result.exception
    return result.return_value, result.output


def make_inputs(folder: Path) -> dict[str, Image.Image]:
    images = {
        "a.png": random_image(40, 30, 1),
        "b.jpg": gradient(32, 24),
        "sub/c.png": checkerboard(24, 3),
    }
    for name, image in images.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / name)
    return images


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_batch_names_sizes_and_recursion(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    code, output = invoke(
        "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-R",
        "-t", "blur", "-t", "pixelate", "--num-variants", "2", "--seed", "1", "--workers", "1",
    )  # fmt: skip
    assert code == 0
    assert "Done: 3 processed, 0 skipped, 0 failed" in output
    written = files(tmp_path / "out")
    expected = {f"{stem}_{n}.png" for stem in ("a", "b", "sub/c") for n in (1, 2)}
    assert set(written) == expected
    with Image.open(tmp_path / "out" / "sub" / "c_1.png") as image:
        assert image.size == (24, 24)
        assert image.format == "PNG"


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    runs = {}
    for name, seed in (("one", "7"), ("two", "7"), ("three", "8")):
        code, _ = invoke(
            "-i", str(tmp_path / "in"), "-o", str(tmp_path / name), "-R",
            "-t", "noise", "-t", "random", "-t", "motion-blur",
            "--intensity-range", "0.2,0.9", "--seed", seed, "--workers", "1",
        )  # fmt: skip
        assert code == 0
        runs[name] = files(tmp_path / name)
    assert len(runs["one"]) == 3
    assert runs["one"] == runs["two"]
    assert runs["one"].keys() == runs["three"].keys()
    assert runs["one"] != runs["three"]


def test_workers_do_not_change_the_bytes(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    for workers in ("1", "2"):
        code, output = invoke(
            "-i", str(tmp_path / "in"), "-o", str(tmp_path / workers), "-R",
            "-t", "random", "--num-variants", "2", "--seed", "3", "--workers", workers,
        )  # fmt: skip
        assert code == 0, output
    assert len(files(tmp_path / "1")) == 6
    assert files(tmp_path / "1") == files(tmp_path / "2")


def test_paired_writes_control_degraded_and_target_original(tmp_path: Path) -> None:
    images = make_inputs(tmp_path / "in")
    code, _ = invoke(
        "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-R", "--paired",
        "-t", "noise", "--seed", "1",
    )  # fmt: skip
    assert code == 0
    assert set(files(tmp_path / "out")) == {
        f"{side}/{name}"
        for side in ("control", "target")
        for name in ("a.png", "b.png", "sub/c.png")
    }
    for name, source in (("a.png", images["a.png"]), ("sub/c.png", images["sub/c.png"])):
        with Image.open(tmp_path / "out" / "target" / name) as target:
            assert np.array_equal(pixels(target), pixels(source))
        with Image.open(tmp_path / "out" / "control" / name) as control:
            assert control.size == source.size
            assert not np.array_equal(pixels(control), pixels(source))


def test_skip_existing_leaves_finished_images_alone(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    args = ("-i", str(tmp_path / "in"), "-o", str(out), "-t", "blur")
    assert invoke(*args)[0] == 0
    (out / "a.png").write_bytes(b"marker")
    (out / "b.png").unlink()
    code, output = invoke(*args, "--skip-existing")
    assert code == 0
    assert "Done: 1 processed, 1 skipped, 0 failed" in output
    assert (out / "a.png").read_bytes() == b"marker"
    assert (out / "b.png").is_file()
    invoke(*args)
    assert (out / "a.png").read_bytes() != b"marker"


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    code, output = invoke(
        "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-R", "--paired", "--dry-run"
    )
    assert code == 0
    assert "would write" in output
    assert not (tmp_path / "out").exists()


def test_output_format_and_single_image_mode(tmp_path: Path) -> None:
    random_image(30, 20).save(tmp_path / "photo.png")
    code, _ = invoke(
        "--input-image", str(tmp_path / "photo.png"), "--output-image", str(tmp_path / "x.jpeg"),
        "-t", "jpeg",
    )  # fmt: skip
    assert code == 0
    with Image.open(tmp_path / "x.jpeg") as image:
        assert (image.format, image.size) == ("JPEG", (30, 20))
    code, _ = invoke(
        "--input-image", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"),
        "--output-format", "webp", "-t", "blur",
    )  # fmt: skip
    assert code == 0
    with Image.open(tmp_path / "out" / "photo.webp") as image:
        assert (image.format, image.size) == ("WEBP", (30, 20))


def test_colliding_names_and_bad_images_fail_alone(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    random_image(8, 8, 1).save(folder / "a.jpg")
    random_image(8, 8, 2).save(folder / "a.png")
    (folder / "broken.png").write_bytes(b"not a png")
    random_image(8, 8, 3).save(folder / "ok.png")
    code, output = invoke("-i", str(folder), "-o", str(tmp_path / "out"), "-t", "blur")
    assert code == 3
    assert "Done: 2 processed, 0 skipped, 2 failed" in output
    assert "a.png: output a.png would overwrite the output of a.jpg" in output
    assert "broken.png: cannot read image" in output
    assert sorted(files(tmp_path / "out")) == ["a.png", "ok.png"]
    # a.png in the output is a.jpg's degraded copy, not a.png's.
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.size == (8, 8)


def test_outputs_never_replace_inputs(tmp_path: Path) -> None:
    random_image(8, 8, 1).save(tmp_path / "a.png")
    random_image(8, 8, 2).save(tmp_path / "b.jpg")
    before = (tmp_path / "a.png").read_bytes()
    code, output = invoke("-i", str(tmp_path), "-o", str(tmp_path), "-t", "blur")
    assert "a.png: output a.png would overwrite the input a.png" in output
    assert "Done: 1 processed, 0 skipped, 1 failed" in output
    assert code == 3
    assert (tmp_path / "a.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.jpg", "b.png"]


def test_output_folder_inside_input_is_not_read_back(tmp_path: Path) -> None:
    make_inputs(tmp_path)
    args = ("-i", str(tmp_path), "-o", str(tmp_path / "degraded"), "-R", "-t", "blur")
    assert invoke(*args)[0] == 0
    code, output = invoke(*args)
    assert code == 0
    assert "Done: 3 processed" in output
    assert not (tmp_path / "degraded" / "degraded").exists()


# -- one-line errors --------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_datasety("degrade", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "{tmp}/missing", "-o", "{tmp}/out"], "--input"),
        (["-i", "{tmp}", "-o", "{tmp}/out", "--intensity-range", "0.9,0.1"], "--intensity-range"),
        (["-i", "{tmp}", "-o", "{tmp}/out", "-t", "smudge"], "'smudge' is not one of"),
        (
            ["-i", "{tmp}", "-o", "{tmp}/o", "--intensity", "0.2", "--intensity-range", "0,1"],
            "not both",
        ),
        (["-i", "{tmp}", "--input-image", "{tmp}/x.png", "-o", "{tmp}/o"], "not both"),
        (["-i", "{tmp}", "-o", "{tmp}/o", "--intensity", "1.5"], "--intensity"),
        (["--input-image", "{tmp}/x.png", "--output-image", "{tmp}/out/x.tif"], "must end in"),
        (
            [
                "--input-image",
                "{tmp}/x.png",
                "--output-image",
                "{tmp}/out/x.jpg",
                "--output-format",
                "webp",
            ],
            "contradicts",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_one_line_error(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_paired_output_in_the_input_folder_is_not_read_back(tmp_path: Path) -> None:
    make_inputs(tmp_path)
    args = ("-i", str(tmp_path), "-o", str(tmp_path), "-R", "--paired", "-t", "blur")
    assert invoke(*args)[0] == 0
    code, output = invoke(*args)
    assert code == 0
    assert "Done: 3 processed, 0 skipped, 0 failed" in output
    assert not (tmp_path / "control" / "control").exists()
