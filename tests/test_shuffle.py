"""`datasety shuffle`: one caption per image, one variant from each group."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from datasety.cli import cli
from datasety.shuffle import variants as shuffling
from tests.clirun import run_datasety

COLOURS = [f"colour{n}" for n in range(10)]
SHAPES = [f"shape{n}" for n in range(10)]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["shuffle", *args], standalone_mode=False)
    if result.exception is not None:
        raise result.exception
    return result.return_value, result.output


def make_images(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"img{n:02d}.png" for n in range(count)]
    for name in names:
        Image.new("RGB", (4, 4)).save(folder / name)
    return names


def captions(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*.txt"))
    }


def test_each_caption_is_one_pick_per_group_in_order(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 12)
    code, output = invoke(
        "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
        "-g", "|".join(COLOURS), "-g", " | ".join(SHAPES), "--separator", ", ", "--seed", "1",
    )  # fmt: skip
    assert code == 0
    assert "Done: 12 processed, 0 skipped, 0 failed" in output
    written = captions(tmp_path / "out")
    assert sorted(written) == [f"img{n:02d}.txt" for n in range(12)]
    for text in written.values():
        colour, shape = text.split(", ")
        assert colour in COLOURS
        assert shape in SHAPES
    assert len(set(written.values())) > 6


def test_seed_reproduces_captions_and_other_seeds_differ(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 20)
    groups = ("-g", "|".join(COLOURS), "-g", "|".join(SHAPES))
    results = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        invoke("-i", str(tmp_path / "in"), "-o", str(tmp_path / name), *groups, "--seed", seed)
        results[name] = captions(tmp_path / name)
    assert results["a"] == results["b"]
    assert results["a"] != results["c"]
    # An image's caption depends on the seed and its own name, not on the other images.
    (tmp_path / "in" / "img05.png").unlink()
    invoke("-i", str(tmp_path / "in"), "-o", str(tmp_path / "d"), *groups, "--seed", "5")
    without = captions(tmp_path / "d")
    assert without == {k: v for k, v in results["a"].items() if k != "img05.txt"}


def test_txt_file_groups_ignore_blank_lines(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 6)
    group_file = tmp_path / "styles.txt"
    group_file.write_text("\n  oil painting  \n\nwatercolor\n\n", encoding="utf-8")
    assert shuffling.parse_group(str(group_file)) == ["oil painting", "watercolor"]
    code, _ = invoke(
        "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-g", "a photo|a sketch",
        "-g", str(group_file), "--seed", "3",
    )  # fmt: skip
    assert code == 0
    for text in captions(tmp_path / "out").values():
        assert text in {
            f"{first} {second}"
            for first in ("a photo", "a sketch")
            for second in ("oil painting", "watercolor")
        }


@pytest.fixture
def served_text(tmp_path: Path) -> Iterator[str]:
    """A URL on a local HTTP server that answers a two-line text file."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "moods.txt").write_text("happy\n\nsad\n", encoding="utf-8")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/moods.txt"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_url_groups_are_fetched(tmp_path: Path, served_text: str) -> None:
    assert shuffling.parse_group(served_text) == ["happy", "sad"]
    with pytest.raises(shuffling.DatasetyError, match="HTTP 404"):
        shuffling.parse_group(served_text.replace("moods", "nothing"))


def test_show_distribution_counts_every_pick(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 9)
    code, output = invoke(
        "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-g", "x|y|z", "-g", "only",
        "--seed", "2", "--show-distribution",
    )  # fmt: skip
    assert code == 0
    written = list(captions(tmp_path / "out").values())
    lines = output.splitlines()
    start = lines.index("Distribution:")
    assert lines[start + 1] == "  group 1 (3 variants):"
    for offset, variant in enumerate(("x", "y", "z"), start=2):
        count = sum(text == f"{variant} only" for text in written)
        assert lines[start + offset].split() == [str(count), f"{100 * count / 9:.1f}%", variant]
    assert lines[start + 5] == "  group 2 (1 variant):"
    assert lines[start + 6].split() == ["9", "100.0%", "only"]


def test_dry_run_prints_captions_and_writes_nothing(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 3)
    code, output = invoke(
        "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-g", "one", "-g", "two",
        "--dry-run",
    )  # fmt: skip
    assert code == 0
    assert "img00.png -> one two" in output
    assert not (tmp_path / "out").exists()


def test_recursive_keeps_subfolders_and_same_names_are_skipped(tmp_path: Path) -> None:
    make_images(tmp_path / "in" / "sub", 1)
    Image.new("RGB", (4, 4)).save(tmp_path / "in" / "x.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "in" / "x.jpg")
    code, output = invoke("-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-g", "c", "-R")
    assert code == 0
    assert captions(tmp_path / "out") == {"sub/img00.txt": "c", "x.txt": "c"}
    assert "skipped x.png: x.txt is already the caption of x.jpg" in output


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_datasety("shuffle", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-g", "a|b", "-g", "http://127.0.0.1:9/"], "http://127.0.0.1:9/: cannot fetch"),
        (["-g", "a|b", "-g", " | "], "has no variants"),
        (["-g", "{tmp}/empty.txt"], "the file has no variants"),
        (["-g", "{tmp}/typo.txt"], "no such file"),
        ([], "at least one --group"),
    ],
)
def test_bad_groups_are_one_line_errors_before_any_write(
    tmp_path: Path, args: list[str], message: str
) -> None:
    make_images(tmp_path / "in", 2)
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    groups = [a.format(tmp=tmp_path) for a in args]
    result = run_cli("-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *groups)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_missing_input_and_output_are_errors(tmp_path: Path) -> None:
    result = run_cli("-i", str(tmp_path / "nope"), "-o", str(tmp_path / "out"), "-g", "a")
    assert result.returncode != 0
    assert result.stderr.startswith("Error: --input")
    result = run_cli("-i", str(tmp_path), "-g", "a")
    assert result.returncode == 2
    assert "--output" in result.stderr
