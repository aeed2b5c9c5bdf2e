"""The log views on files written by the test: output tail, text, SSE events and offsets."""

from __future__ import annotations

import asyncio
from pathlib import Path

from datasety.core.progress import format_progress_line
from datasety.server.jobs import logs

PROGRESS = format_progress_line(1, 2, "a.png")


def collect(path: Path, offset: int, status: str | None = "done") -> list[bytes]:
    async def run() -> list[bytes]:
        return [
            chunk
            async for chunk in logs.follow(path, offset, lambda: status, lambda: True, poll=0.01)
        ]

    return asyncio.run(run())


def test_tail_output_skips_progress_and_keeps_a_last_line_without_newline(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(f"one\n{PROGRESS}\ntwo\r\n\xff bad\nlast".encode("latin-1"))
    assert logs.tail_output(log) == ["one", "two", "\ufffd bad", "last"]
    assert logs.tail_output(tmp_path / "missing.log") == []


def test_tail_output_reads_only_as_far_back_as_it_needs(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    # Long enough to span many read blocks, with progress lines between the human ones.
    lines = [f"line {i:05} " + "x" * 100 for i in range(3000)]
    log.write_text("".join(f"{line}\n{PROGRESS}\n" for line in lines))
    assert logs.tail_output(log, 1000) == lines[-1000:]
    assert logs.tail_output(log, 5) == lines[-5:]


def test_iter_text_is_the_log_without_progress_lines(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    body = "".join(f"line {i}\n{PROGRESS}\n" for i in range(20000))
    log.write_text(body + "tail")
    text = b"".join(logs.iter_text(log)).decode()
    assert text == "".join(f"line {i}\n" for i in range(20000)) + "tail"


def test_log_tail_reports_the_offset_after_each_line(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(b"ab\ncd")
    tail = logs.LogTail(log)
    assert tail.read_lines() == [(3, b"ab\n")]
    with log.open("ab") as handle:
        handle.write(b"e\nf")
    assert tail.read_lines() == [(7, b"cde\n")]
    assert tail.read_rest() == [(8, b"f")]
    assert tail.read_rest() == []


def test_sse_events_ids_resume_and_end(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(f"first\n{PROGRESS}\nsecond\rsame line\nthird\n")
    chunks = b"".join(collect(log, 0)).decode()
    first_end = len("first\n")
    second_end = first_end + len(PROGRESS) + 1 + len("second\rsame line\n")
    assert chunks == (
        f"id: {first_end}\ndata: first\n\n"
        f"id: {second_end}\ndata: second\ndata: same line\n\n"
        f"id: {second_end + 6}\ndata: third\n\n"
        "event: end\ndata: done\n\n"
    )
    resumed = b"".join(collect(log, second_end)).decode()
    assert resumed == f"id: {second_end + 6}\ndata: third\n\nevent: end\ndata: done\n\n"
    # An offset past the end (a log that was replaced) is clamped: nothing is repeated.
    assert b"".join(collect(log, 10**9)) == b"event: end\ndata: done\n\n"


def test_a_stream_stops_without_end_when_the_server_closes(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("only\n")
    assert b"".join(collect(log, 0, status=None)) == b"id: 5\ndata: only\n\n"
