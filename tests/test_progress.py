"""The shared progress reporter: human lines, job progress lines, summary and exit code."""

from __future__ import annotations

import io

import pytest

from datasety.progress import (
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
    assert progress.finish() == 0
    out = progress.out.getvalue().splitlines()  # type: ignore[attr-defined]
    assert out == [
        "[1/3] resized a.jpg",
        "[2/3] skipped b.jpg: too small",
        "Done: 1 processed, 1 skipped, 1 failed",
    ]
    assert progress.err.getvalue() == "Failed: c.jpg: cannot identify image file\n"  # type: ignore[attr-defined]


def test_exit_code_is_one_only_when_nothing_succeeded(monkeypatch: pytest.MonkeyPatch) -> None:
    progress = make(1, monkeypatch)
    progress.failed("a.jpg", "broken")
    assert progress.finish() == 1
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
