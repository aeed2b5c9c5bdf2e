"""`datasety filter`: a tiny random CLIP in a temporary HF cache, and NudeNet's real model."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.clirun import run_main as run_cli
from tests.tinymodels import save_clip

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf")
    save_clip(torch, transformers, home)
    return home


@pytest.fixture(autouse=True)
def offline(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DATASETY_PROGRESS", raising=False)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "red.jpg")
    (folder / "red.txt").write_text("a red square")
    Image.new("RGB", (30, 40), (30, 200, 30)).save(folder / "green.png")
    Image.new("RGB", (20, 20), (0, 0, 200)).save(folder / "sub" / "blue.png")
    (folder / "sub" / "blue.txt").write_text("a blue square")
    return folder


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def clip(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "filter", "--device", "cpu", "-q", "a square, a hat", *args)


def test_move_takes_captions_along_and_logs_each_decision(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, log = tmp_path / "out", tmp_path / "decisions.csv"
    code, stdout, err = clip(
        capsys, "-i", str(dataset), "-o", str(out), "--threshold", "0", "--log", str(log)
    )
    assert code == 0, err
    assert "Loading model openai/clip-vit-base-patch32 from the local cache" in stdout
    assert "Matched: 2, not matched: 0" in stdout
    assert files(out) == ["green.png", "red.jpg", "red.txt"]
    assert files(dataset) == ["sub/blue.png", "sub/blue.txt"]  # not --recursive
    rows = read_csv(log)
    assert rows[0] == ["file", "score:a square", "score:a hat", "match", "action"]
    assert {row[0] for row in rows[1:]} == {str(dataset / "red.jpg"), str(dataset / "green.png")}
    for row in rows[1:]:
        assert 0 <= float(row[1]) <= 1 and 0 <= float(row[2]) <= 1
        assert row[3] == "true" and row[4].startswith(f"moved to {out}")


def test_copy_preserving_structure(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = clip(
        capsys, "-i", str(dataset), "-o", str(out), "--action", "copy", "--threshold", "0",
        "-R", "--preserve-structure",
    )  # fmt: skip
    assert code == 0, err
    assert files(out) == ["green.png", "red.jpg", "red.txt", "sub/blue.png", "sub/blue.txt"]
    assert files(dataset) == files(out)


def test_delete_without_confirm_is_a_plan_that_fails(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files(dataset)
    code, stdout, err = clip(capsys, "-i", str(dataset), "--action", "delete", "--threshold", "0")
    assert code == 1
    assert "would delete" in stdout
    assert err.strip().splitlines()[-1] == (
        "Error: --action delete would delete 2 image(s) (listed above); nothing was deleted: "
        "add --confirm to delete them"
    )
    assert files(dataset) == before
    code, _, err = clip(
        capsys, "-i", str(dataset), "--action", "delete", "--threshold", "0", "--confirm"
    )
    assert code == 0, err
    assert files(dataset) == ["sub/blue.png", "sub/blue.txt"]  # captions went too


def test_keep_moves_the_rest_or_needs_confirm_to_delete_it(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files(dataset)
    code, _, _ = clip(capsys, "-i", str(dataset), "--action", "keep", "--threshold", "1")
    assert code == 1 and files(dataset) == before
    # --invert: every image matches a threshold of 1 inverted, so all are kept.
    code, _, err = clip(
        capsys, "-i", str(dataset), "--action", "keep", "--threshold", "1", "--invert",
        "--confirm",
    )  # fmt: skip
    assert code == 0, err
    assert files(dataset) == before
    rejects = tmp_path / "rejects"
    code, _, err = clip(
        capsys, "-i", str(dataset), "-o", str(rejects), "--action", "keep", "--threshold", "1"
    )
    assert code == 0, err
    assert files(rejects) == ["green.png", "red.jpg", "red.txt"]


def test_dry_run_changes_nothing(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, log = files(dataset), tmp_path / "log.csv"
    code, stdout, err = clip(
        capsys, "-i", str(dataset), "--action", "delete", "--threshold", "0", "--dry-run",
        "--log", str(log),
    )  # fmt: skip
    assert code == 0, err
    assert files(dataset) == before and "would delete" in stdout
    assert all(row[-1] == "would delete" for row in read_csv(log)[1:])


def test_a_taken_name_in_output_fails_that_image_only(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "red.txt").write_text("someone else's caption")
    code, stdout, err = clip(capsys, "-i", str(dataset), "-o", str(out), "--threshold", "0")
    assert "Failed: red.jpg: cannot move" in err and "exists" in err
    assert (dataset / "red.jpg").exists() and (dataset / "red.txt").read_text() == "a red square"
    assert (out / "red.txt").read_text() == "someone else's caption"
    assert (out / "green.png").exists()
    assert "Done: 1 processed, 0 skipped, 1 failed" in stdout
    del code  # the code for "some items failed" is the exit-code rule, tested elsewhere


def test_nudenet_scores_with_its_shipped_model(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("nudenet")
    out, log = tmp_path / "out", tmp_path / "log.csv"
    code, stdout, err = run_cli(
        capsys, "filter", "-i", str(dataset), "-o", str(out), "--model", "nudenet",
        "-l", "FACE_FEMALE,feet_exposed", "--action", "copy", "--log", str(log),
    )  # fmt: skip
    assert code == 0, err
    # Flat colour squares have no faces or feet: nothing scores, nothing is copied.
    assert "Matched: 0, not matched: 2" in stdout
    assert not out.exists() or files(out) == []
    rows = read_csv(log)
    assert rows[0] == ["file", "score:FACE_FEMALE", "score:feet_exposed", "match", "action"]
    assert all(row[1:4] == ["0.0000", "0.0000", "false"] for row in rows[1:])


def test_usage_errors(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "filter", "-i", str(dataset), "-l", "FACE_FEMALE")
    assert code == 2 and "--labels goes with --model nudenet" in err
    code, _, err = run_cli(capsys, "filter", "-i", str(dataset), "-q", "x")
    assert code == 2 and "--action move needs --output" in err
    code, _, err = run_cli(
        capsys,
        "filter",
        "-i",
        str(dataset),
        "--model",
        "nudenet",
        "-l",
        "NOSE",
        "--action",
        "delete",
    )
    assert code == 1 and "unknown NudeNet label 'NOSE'" in err


def test_missing_extras_name_the_pip_install(
    dataset: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nudenet", None)  # `import nudenet` now fails as if absent
    code, _, err = run_cli(
        capsys, "filter", "-i", str(dataset), "--model", "nudenet", "-l", "FACE_MALE",
        "--dry-run", "--action", "delete",
    )  # fmt: skip
    assert code == 1
    assert err.strip() == (
        "Error: filter --model nudenet needs nudenet, which is not installed: "
        "pip install 'datasety[filter]'"
    )
    monkeypatch.setitem(sys.modules, "torch", None)
    code, _, err = clip(capsys, "-i", str(dataset), "--dry-run", "--action", "delete")
    assert code == 1
    assert err.strip() == (
        "Error: filter needs torch, which is not installed: pip install 'datasety[filter]'"
    )
