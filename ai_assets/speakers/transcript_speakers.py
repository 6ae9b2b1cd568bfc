"""Speaker labels for transcript segments from per-word labels. No Dagster here."""

from __future__ import annotations

from collections import defaultdict

from ai_assets.speakers.diarization import Turn, assign_speakers


def label_segments(transcript_rows: list[dict], turns: list[Turn]) -> list[dict]:
    """One row per transcript segment with `word_speakers`, `speaker` (most word time) and `speaker_share`."""
    rows = []
    for seg in sorted(transcript_rows, key=lambda r: r["start"]):
        words = seg["words"] or []
        labels = assign_speakers(words, turns) if words else []
        seconds: dict[str, float] = defaultdict(float)
        for word, label in zip(words, labels, strict=True):
            if label is not None:
                seconds[label] += max(word["end"] - word["start"], 1e-3)
        total = sum(max(w["end"] - w["start"], 1e-3) for w in words)
        speaker = max(seconds, key=seconds.get) if seconds else None
        rows.append({
            "segment": seg["segment"], "start": seg["start"], "end": seg["end"], "speaker": speaker,
            "speaker_share": round(seconds[speaker] / total, 4) if speaker else None, "word_speakers": labels,
        })
    return rows
