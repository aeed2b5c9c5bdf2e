"""The shared progress reporter: human lines, job progress lines, summary and exit code."""

from __future__ import annotations

import io

import pytest

from datasety.core.progress import (
    ITEMS_FAILED,
    PROGRESS_ENV,
    Progress,
    format_progress_line,
    parse_progress_line,
)


def make(total: int, monkeypatch: pytest.MonkeyPatch, jsonl: bool = False) -> Progress:
    if jsonl:
        monkeypatch.setenv(PROGRESS_ENV, "jsonl")
    else:
        monkeypatch.delenv(PROGRESS_ENV, raising=False)
    return Progress(total=total, out=io.StringIO(), err=io.StringIO())


def test_human_lines_and_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    progress = make(3, monkeypatch)
    progress.processed("a.jpg", "resized a.jpg")
    progress.skipped("b.jpg", "too small")
    progress.failed("c.jpg", "cannot identify image file")
    assert progress.finish() == ITEMS_FAILED == 3
    out = progress.out.getvalue().splitlines()  # type: ignore[attr-defined]
    assert out == [
        "[1/3] resized a.jpg",
        "[2/3] skipped b.jpg: too small",
        "Done: 1 processed, 1 skipped, 1 failed",
    ]
    assert progress.err.getvalue().splitlines() == [  # type: ignore[attr-defined]
        "Failed: c.jpg: cannot identify image file",
        "Error: 1 of 3 files failed",
    ]


def test_any_failed_item_gives_its_own_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    progress = make(1, monkeypatch)
    progress.failed("a.jpg", "broken")
    assert progress.finish() == ITEMS_FAILED
    assert progress.err.getvalue().splitlines()[-1] == "Error: 1 of 1 files failed"  # type: ignore[attr-defined]
    clean = make(2, monkeypatch)
    clean.processed("a.jpg")
    clean.skipped("b.jpg", "too small")
    assert clean.finish() == 0
    assert clean.err.getvalue() == ""  # type: ignore[attr-defined]
    assert make(0, monkeypatch).finish() == 0


def test_jsonl_lines_under_a_job(monkeypatch: pytest.MonkeyPatch) -> None:
    progress = make(2, monkeypatch, jsonl=True)
    progress.processed("a.jpg")
    progress.failed("b.jpg", "broken")
    lines = progress.out.getvalue().splitlines()  # type: ignore[attr-defined]
    events = [parse_progress_line(line) for line in lines]
    assert events == [
        {"done": 0, "total": 2, "item": None},
        None,  # the human line for a.jpg
        {"done": 1, "total": 2, "item": "a.jpg"},
        {"done": 2, "total": 2, "item": "b.jpg"},
    ]


def test_bar_is_off_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    progress = Progress(total=1, bar=True, out=io.StringIO(), err=io.StringIO())
    assert progress.bar is False


def test_parse_progress_line_rejects_other_lines() -> None:
    assert parse_progress_line("resized a.jpg") is None
    assert parse_progress_line("@datasety:progress not json") is None
    assert parse_progress_line('@datasety:progress {"total": 3}') is None
    line = format_progress_line(1, None, "é.jpg")
    assert parse_progress_line(line) == {"done": 1, "total": None, "item": "é.jpg"}
