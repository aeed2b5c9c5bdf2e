"""`datasety video`: clips of a synthetic spoken video (H.264 + AAC), a transcript beside each."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasety.media.video import stream_seconds
from tests.clirun import run_main
from tests.speech.conftest import Talk

WHISPER = ["--whisper-model", "tiny", "--language", "en", "--min-confidence", "0",
           "--merge-gap", "0.5", "--min-duration", "0.5", "--vad"]  # fmt: skip


def clip_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_copy_cuts_start_on_a_keyframe_and_keep_the_container(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clips"
    code, stdout, stderr = run_main(
        capsys, "video", "-i", str(talk.video), "-o", str(out), *WHISPER
    )
    assert code == 0, stderr
    assert "Kept 2 clips" in stdout
    names = clip_names(out)
    assert len(names) == 4 and [n.rsplit(".", 1)[1] for n in names] == ["mp4", "txt"] * 2
    for name in names[::2]:
        clip = out / name
        assert (out / name.replace(".mp4", ".txt")).read_text().startswith("hello hello")
        lengths = stream_seconds(clip)
        assert set(lengths) == {"video", "audio"}
        # Keyframes every second: a copied clip starts on the one at or before the cut, so
        # it is at most a second longer than the speech it holds.
        assert 0.5 <= lengths["video"] <= 5.0


def test_re_encode_cuts_at_the_frame(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    copied, encoded = tmp_path / "copied", tmp_path / "encoded"
    assert run_main(capsys, "video", "-i", str(talk.video), "-o", str(copied), *WHISPER)[0] == 0
    code, _, stderr = run_main(capsys, "video", "-i", str(talk.video), "-o", str(encoded),
                               "--re-encode", *WHISPER)  # fmt: skip
    assert code == 0, stderr
    assert clip_names(copied) == clip_names(encoded)
    for name in clip_names(encoded)[::2]:
        exact = stream_seconds(encoded / name)["video"]
        keyframed = stream_seconds(copied / name)["video"]
        assert exact <= keyframed + 0.05
        assert exact >= 0.5 - 0.05


def test_resume_skips_a_finished_video(
    capsys: pytest.CaptureFixture[str], talk: Talk, whisper_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clips"
    args = ["video", "-i", str(talk.video), "-o", str(out), *WHISPER]
    assert run_main(capsys, *args)[0] == 0
    before = {name: (out / name).read_bytes() for name in clip_names(out)}
    code, stdout, _ = run_main(capsys, *args, "--resume")
    assert code == 0 and "finished by an earlier run" in stdout
    assert {name: (out / name).read_bytes() for name in clip_names(out)} == before
    code, _, stderr = run_main(capsys, *args)
    assert code == 1 and "use --resume to continue or --overwrite" in stderr


def test_dry_run_lists_videos_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], talk: Talk, tmp_path: Path
) -> None:
    out = tmp_path / "never"
    code, stdout, _ = run_main(capsys, "video", "-i", str(talk.video), "-o", str(out), "--dry-run")
    assert code == 0
    assert f"talk: {talk.video} (" in stdout and stdout.strip().endswith("1 sources")
    assert not out.exists()
