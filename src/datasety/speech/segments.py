"""Clips from Whisper's words: each clip is a run of whole words, so no clip cuts a word.

Whisper's segments are the first cut (a segment is a phrase between pauses). Neighbouring
segments closer than ``--merge-gap`` join, as long as the result stays within
``--max-duration``; a segment longer than that splits between words, at its longest pause
(a sentence end first). Clips shorter than ``--min-duration`` are dropped and counted.

A clip's edges sit a little outside its first and last word (Whisper's word times run early
or late by tens of milliseconds) but never past the middle of the pause to the next word.
"""

from __future__ import annotations

from dataclasses import dataclass

from datasety.speech.transcribe import Segment, Word

EDGE_PAD = 0.15  # seconds of room kept around a clip's first and last word
SENTENCE_END = (".", "!", "?")


@dataclass
class Clip:
    start: float
    end: float
    words: list[Word]
    no_speech_prob: float = 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()

    @property
    def confidence(self) -> float:
        """The mean probability Whisper gave the clip's words."""
        if not self.words:
            return 0.0
        return sum(w.probability for w in self.words) / len(self.words)


def _spoken(words: list[Word]) -> list[Word]:
    return [w for w in words if w.text.strip() and w.end >= w.start]


def plan_clips(
    segments: list[Segment], min_duration: float, max_duration: float, merge_gap: float
) -> tuple[list[Clip], list[Clip]]:
    """``(clips, too_short)``: clips within the limits, in time order, and those shorter
    than ``min_duration`` (for the summary and the log)."""
    units = [
        Clip(words[0].start, words[-1].end, words, s.no_speech_prob)
        for s in segments
        if (words := _spoken(s.words))
    ]
    merged: list[Clip] = []
    for unit in units:
        last = merged[-1] if merged else None
        if (
            last is not None
            and merge_gap > 0
            and unit.start - last.end <= merge_gap
            and unit.end - last.start <= max_duration
        ):
            merged[-1] = Clip(
                last.start,
                unit.end,
                last.words + unit.words,
                max(last.no_speech_prob, unit.no_speech_prob),
            )
        else:
            merged.append(unit)
    pieces = [piece for clip in merged for piece in _split(clip, max_duration)]
    _pad_edges(pieces)
    kept = [c for c in pieces if c.duration >= min_duration]
    short = [c for c in pieces if c.duration < min_duration]
    return kept, short


def _split(clip: Clip, max_duration: float) -> list[Clip]:
    """``clip`` cut between words until every piece fits ``max_duration`` (a single word
    longer than that stays whole: cutting it would cut the word)."""
    words = clip.words
    if clip.duration <= max_duration or len(words) < 2:
        return [clip]
    best, best_score = 1, -1.0
    for index in range(1, len(words)):
        left = words[index - 1]
        gap = words[index].start - left.end
        sentence = left.text.strip().endswith(SENTENCE_END)
        # Prefer a sentence end, then the longest pause; keep both halves worth having.
        balance = min(left.end - clip.start, clip.end - words[index].start)
        score = gap + (1.0 if sentence else 0.0) + 0.01 * balance
        if score > best_score:
            best, best_score = index, score
    head = Clip(clip.start, words[best - 1].end, words[:best], clip.no_speech_prob)
    tail = Clip(words[best].start, clip.end, words[best:], clip.no_speech_prob)
    return _split(head, max_duration) + _split(tail, max_duration)


def _pad_edges(clips: list[Clip]) -> None:
    """Widen each clip by up to :data:`EDGE_PAD` on either side, never past the middle of
    the pause to the neighbouring clip (nor before 0)."""
    edges = [(clip.start, clip.end) for clip in clips]
    for index, clip in enumerate(clips):
        start, end = edges[index]
        padded_start = start - EDGE_PAD
        if index:
            padded_start = max(padded_start, (edges[index - 1][1] + start) / 2)
        padded_end = end + EDGE_PAD
        if index + 1 < len(clips):
            padded_end = min(padded_end, (end + edges[index + 1][0]) / 2)
        clip.start, clip.end = max(0.0, padded_start), padded_end


def within_regions(segments: list[Segment], regions: list[tuple[float, float]]) -> list[Segment]:
    """``segments`` split where VAD heard silence: a segment's words go to the speech region
    nearest each word's middle, clamped inside it, one segment per region touched.

    Whisper transcribes a packed window holding several regions and may stretch a word over
    the pause between them; VAD knows where the pause is, so no clip spans it (unless
    ``--merge-gap`` joins the clips afterwards).
    """
    if not regions:
        return segments
    out: list[Segment] = []
    for segment in segments:
        groups: dict[int, list[Word]] = {}
        for word in segment.words:
            middle = (word.start + word.end) / 2
            index = min(range(len(regions)), key=lambda i: _distance(middle, regions[i]))
            low, high = regions[index]
            start = min(max(word.start, low), high)
            groups.setdefault(index, []).append(
                Word(start, min(max(word.end, start), high), word.text, word.probability)
            )
        for words in groups.values():
            out.append(
                Segment(
                    words[0].start,
                    words[-1].end,
                    "".join(w.text for w in words),
                    words,
                    segment.avg_logprob,
                    segment.no_speech_prob,
                )
            )
    return out


def _distance(moment: float, region: tuple[float, float]) -> float:
    start, end = region
    return 0.0 if start <= moment <= end else min(abs(moment - start), abs(moment - end))
