"""The transcript engine never crashes: what reaches faster-whisper is always a valid layout, a chunk that fails is
contained, and times stay inside the audio."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ai_assets.ingest.audio import SAMPLE_RATE, extract_audio, load_wav
from ai_assets.speech.chunks import MIN_SPAN_S, Compacted, clean_regions, pack_chunks
from ai_assets.speech.transcript import (
    COMPACT_GAP_S,
    DecodeParams,
    NothingDecoded,
    clamp_times,
    first_pass_chunks,
    transcribe_batched,
)
from ai_assets.speech.vad import CHUNK_SECONDS, speech_regions
from resources import WhisperResource

# Region layouts as real VAD output, user code or rounding can produce them: adjacent, overlapping, touching 0 or
# the end, zero-length or reversed, NaN, far past the end, thousands of tiny ones, one covering everything.
times = st.one_of(
    st.floats(-5.0, 700.0, allow_nan=False),
    st.sampled_from([0.0, 600.0, -0.0, math.nan, math.inf, 1e12]),
)
region = st.tuples(times, times)
layouts = st.one_of(
    st.lists(region, max_size=60),
    st.lists(st.tuples(st.floats(0, 600), st.floats(0.0, 0.05)), min_size=500, max_size=3000).map(
        lambda rows: [(s, s + d) for s, d in rows]
    ),
    st.just([(0.0, 600.0)]),
    st.just([(-1.0, 1e9)]),
)


def in_samples(span: tuple[float, float]) -> int:
    """As faster-whisper cuts a clip: int(seconds * rate) at both ends."""
    return int(span[1] * SAMPLE_RATE) - int(span[0] * SAMPLE_RATE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts, st.floats(0.5, 600.0))
def test_chunks_lie_within_the_audio_never_overlap_and_are_never_empty(regions, duration):
    clean = clean_regions(regions, duration)
    chunks = pack_chunks(clean)
    for start, end in chunks:
        assert 0.0 <= start < end <= duration
        assert MIN_SPAN_S <= end - start <= CHUNK_SECONDS + 1e-9
    assert all(a[1] <= b[0] for a, b in zip(chunks, chunks[1:], strict=False))
    # What faster-whisper subtracts from the duration can never exceed it (its "non-negative timestamp" assert).
    assert sum(in_samples(c) for c in chunks) <= int(duration * SAMPLE_RATE) + 1
    # No speech is dropped: every clean region lies inside the chunks.
    for start, end in clean:
        covered = sum(max(0.0, min(end, e) - max(start, s)) for s, e in chunks)
        assert covered == pytest.approx(end - start, abs=1e-6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts, st.floats(0.5, 600.0), st.floats(0.0, 2.0))
def test_compacted_speech_keeps_every_region_and_maps_times_back(regions, duration, gap):
    clean = clean_regions(regions, duration)
    layout = Compacted(clean, gap, SAMPLE_RATE)
    audio = layout.audio(np.arange(int(duration * SAMPLE_RATE) + 1, dtype=np.float64))
    compact = [(layout.to_compact(s), layout.to_compact(e)) for s, e in clean]
    chunks = pack_chunks(compact)
    length = len(audio) / SAMPLE_RATE
    assert len(audio) <= round(duration * SAMPLE_RATE)
    for start, end in chunks:
        assert 0.0 <= start < end <= length + 1e-9 and end - start <= CHUNK_SECONDS + 1e-9
    assert sum(in_samples(c) for c in chunks) <= len(audio) + 1
    for (s, e), (cs, ce) in zip(clean, compact, strict=True):
        assert ce - cs == pytest.approx(e - s, abs=2 / SAMPLE_RATE)  # speech is never shortened
        assert layout.to_source(cs) == pytest.approx(s, abs=1 / SAMPLE_RATE)
        assert layout.to_source(ce, end=True) == pytest.approx(e, abs=1 / SAMPLE_RATE)
        # The samples themselves are the region's: the test audio counts samples.
        i = min(int(round(cs * SAMPLE_RATE)), len(audio) - 1)
        assert audio[i] == pytest.approx(round(s * SAMPLE_RATE), abs=1)
    back = [layout.to_source(t) for t in np.linspace(0, length, 50)]
    assert back == sorted(back)


def test_compacting_shortens_long_pauses_only():
    layout = Compacted([(1.0, 3.0), (3.1, 5.0), (20.0, 22.0)], 0.3, SAMPLE_RATE)
    # 1–3 s, its 0.1 s pause whole, 3.1–5 s plus 0.3 s of the 15 s pause, then 20–22 s.
    assert [(a / SAMPLE_RATE, b / SAMPLE_RATE, c / SAMPLE_RATE) for a, b, c in layout.pieces] == [
        (1.0, 3.1, 0.0), (3.1, 5.3, 2.1), (20.0, 22.0, 4.3)]
    assert layout.to_source(4.3) == 20.0 and layout.to_source(4.3, end=True) == 5.3
    assert layout.to_source(5.0) == pytest.approx(20.7)


def test_a_word_never_spans_the_silence_cut_out_between_two_pieces():
    # Speech 1–3 s and 10–12 s: the compact clock keeps 0.3 s of the 7 s pause, so the seam is at 2.3 s.
    layout = Compacted([(1.0, 3.0), (10.0, 12.0)], 0.3, SAMPLE_RATE)
    # The first word after the pause, aligned from the kept silence (and rounded to a hair before the seam): it is
    # spoken at 10 s, not 0.7 s into the pause as point-by-point mapping puts it.
    assert layout.to_source(2.28) == pytest.approx(3.28)
    assert layout.word_to_source(2.28, 2.7) == pytest.approx((10.0, 10.4))
    assert layout.word_to_source(2.04, 2.7) == pytest.approx((10.0, 10.4))  # only kept silence before the seam
    # A last word whose end the alignment let run past the seam keeps to its own piece.
    assert layout.word_to_source(1.5, 2.45) == pytest.approx((2.5, 3.3))
    # A word inside one piece maps point by point; one of no length stays one, even on the seam.
    assert layout.word_to_source(0.5, 0.9) == pytest.approx((1.5, 1.9))
    assert layout.word_to_source(2.3, 2.3) == pytest.approx((10.0, 10.0))
    assert layout.word_to_source(2.4, 2.8) == pytest.approx((10.1, 10.5))


@settings(max_examples=200, deadline=None)
@given(layouts, st.floats(0.5, 600.0), st.floats(0.0, 2.0), st.lists(st.floats(0.0, 1.0), min_size=2, max_size=40))
def test_words_mapped_back_stay_in_order_inside_one_piece_of_speech(regions, duration, gap, cuts):
    layout = Compacted(clean_regions(regions, duration), gap, SAMPLE_RATE)
    assume(layout.pieces)
    length = sum(b - a for a, b, _ in layout.pieces) / SAMPLE_RATE
    # Words as the aligner gives them: in order, touching or apart, anywhere on the compact clock.
    bounds = sorted(round(c * length, 2) for c in cuts)
    words = [layout.word_to_source(s, e) for s, e in zip(bounds, bounds[1:], strict=False)]
    for start, end in words:
        assert start <= end + 1e-9
        assert any(a / SAMPLE_RATE - 1e-6 <= start and end <= b / SAMPLE_RATE + 1e-6 for a, b, _ in layout.pieces)
    assert all(x[0] <= y[0] + 1e-6 and x[1] <= y[1] + 1e-6 for x, y in zip(words, words[1:], strict=False))


def test_clean_regions_merges_clips_and_drops_what_cannot_be_decoded():
    regions = [(3.0, 5.0), (-1.0, 0.5), (4.5, 7.0), (7.0, 8.0), (9.0, 9.0), (9.5, 9.51), (math.nan, 2.0), (11.0, 99.0)]
    assert clean_regions(regions, duration=12.0) == [(0.0, 0.5), (3.0, 7.0), (7.0, 8.0), (11.0, 12.0)]


def test_a_region_longer_than_whisper_sees_is_cut_not_truncated():
    regions = [(0.0, 5.0), (6.0, 20.0), (21.0, 29.5), (31.0, 40.0), (45.0, 80.0)]
    assert pack_chunks(regions) == [(0.0, 29.5), (31.0, 40.0), (45.0, 62.5), (62.5, 80.0)]


def test_times_past_the_end_of_the_audio_are_clamped():
    row = {"start": 58.9, "end": 60.5, "text": "Thank you.",
           "words": [{"start": 58.9, "end": 59.6, "word": "Thank"}, {"start": 60.2, "end": 60.5, "word": "you."}]}
    clamped = clamp_times(row, duration=60.0)
    assert (clamped["start"], clamped["end"]) == (58.9, 60.0)
    assert [(w["start"], w["end"]) for w in clamped["words"]] == [(58.9, 59.6), (60.0, 60.0)]


@pytest.fixture(scope="module")
def talk(media, tmp_path_factory):
    wav = tmp_path_factory.mktemp("engine") / "talk.wav"
    extract_audio(media["talk"], wav)
    return load_wav(wav)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from faster_whisper import BatchedInferencePipeline

    whisper = WhisperResource(cache_dir=str(tmp_path_factory.mktemp("models")))
    return BatchedInferencePipeline(whisper.load("tiny.en"))


class FailingChunks:
    """The real pipeline, except that decoding any batch that includes a chunk starting in `bad` raises, as a
    decoder fault would. Fault injection: the real decoder cannot be made to fail on demand."""

    def __init__(self, pipeline, bad: tuple[float, float], message: str = "non-negative timestamp expected"):
        self.pipeline, self.bad, self.message, self.calls = pipeline, bad, message, 0

    def transcribe(self, audio, clip_timestamps, **kwargs):
        self.calls += 1
        if any(self.bad[0] <= c["start"] < self.bad[1] for c in clip_timestamps):
            raise AssertionError(self.message)
        return self.pipeline.transcribe(audio, clip_timestamps=clip_timestamps, **kwargs)


@pytest.mark.slow
def test_a_layout_that_overlaps_and_runs_past_the_end_is_transcribed(talk, pipeline):
    duration = len(talk) / SAMPLE_RATE
    regions = speech_regions(talk)
    messy = [(s - 0.4, e + 0.4) for s, e in regions] + [(duration - 1.0, duration + 5.0), (2.0, 2.0), (-3.0, 0.1)]
    decoded = transcribe_batched(pipeline, talk, [messy], "en", DecodeParams())
    assert decoded.untranscribed == [] and decoded.failures == []
    words = [w for r in decoded.rows for w in r["words"]]
    assert len(words) > 50
    assert all(0.0 <= w["start"] <= w["end"] <= duration for w in words)


@pytest.mark.slow
def test_no_word_is_timed_across_a_pause_that_was_cut_out(talk, pipeline):
    # The talk twice with pauses of 0.8–2 s between: the first pass decodes the speech with those pauses cut to
    # COMPACT_GAP_S, and words must come back on the file's clock inside the speech, not stretched over a pause.
    pause = [np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32) for seconds in (0.8, 2.0)]
    audio = np.concatenate([talk, pause[0], talk[: len(talk) // 2], pause[1], talk])
    regions = clean_regions(speech_regions(audio), len(audio) / SAMPLE_RATE)
    cut = [(end + COMPACT_GAP_S, start) for (_, end), (start, _) in zip(regions, regions[1:], strict=False)
        if start - end > COMPACT_GAP_S + 0.1]
    assert len(cut) >= 2
    decoded = transcribe_batched(pipeline, audio, [regions], "en", DecodeParams())
    words = [w for r in decoded.rows for w in r["words"]]
    assert len(words) > 100
    for w in words:
        assert not any(w["start"] < gap_start and w["end"] > gap_end for gap_start, gap_end in cut), w
    for r in decoded.rows:
        assert (r["start"], r["end"]) == (r["words"][0]["start"], max(x["end"] for x in r["words"]))


@pytest.mark.slow
def test_a_failing_chunk_is_contained_and_named_and_the_rest_is_transcribed(talk, pipeline):
    regions = speech_regions(talk)
    layout, chunks = first_pass_chunks([clean_regions(regions, len(talk) / SAMPLE_RATE)])
    assert len(chunks) >= 3
    bad = layout.span_to_source(chunks[1])  # the decoder sees the compacted clock; people see the file's
    decoded = transcribe_batched(FailingChunks(pipeline, chunks[1]), talk, [regions], "en", DecodeParams())
    assert decoded.untranscribed == [bad]
    assert decoded.failures == [f"{bad[0]:.1f}–{bad[1]:.1f} s: decoding failed (non-negative timestamp expected)"]
    # Rows keep to their own chunks (times are rounded to 10 ms).
    assert decoded.rows and all(not (bad[0] + 0.05 < r["start"] < bad[1] - 0.05) for r in decoded.rows)
    assert any(r["start"] < bad[0] for r in decoded.rows) and any(r["start"] >= bad[1] - 0.05 for r in decoded.rows)


@pytest.mark.slow
def test_nothing_decodable_fails_with_the_cause_in_one_line(talk, pipeline):
    failing = FailingChunks(pipeline, (0.0, math.inf), message="CUDA out of memory\nat layer 3")
    with pytest.raises(NothingDecoded) as err:
        transcribe_batched(failing, talk, [speech_regions(talk)], "en", DecodeParams())
    assert str(err.value) == "no speech could be decoded: decoding failed (CUDA out of memory)"


def test_silence_and_empty_layouts_decode_to_nothing_without_calling_the_decoder():
    class Untouchable:
        def transcribe(self, *args, **kwargs):
            raise AssertionError("must not be called")

    silence = np.zeros(SAMPLE_RATE * 3, dtype=np.float32)
    for regions in ([], [(5.0, 9.0)], [(1.0, 1.0)], [(-2.0, -1.0)]):
        decoded = transcribe_batched(Untouchable(), silence, [regions], "en", DecodeParams())
        assert (decoded.rows, decoded.untranscribed, decoded.failures) == ([], [], [])


class LoopingChunk:
    """The real pipeline, except that its batched reading of the chunk starting at `start` is a decoding loop:
    the first word repeated over the chunk, as faster-whisper #506 shows. Healing goes through the real
    sequential model (`.model`), as it does in production."""

    def __init__(self, pipeline, start: float):
        self.pipeline, self.model, self.start = pipeline, pipeline.model, start

    def transcribe(self, audio, clip_timestamps, **kwargs):
        from dataclasses import replace

        from faster_whisper.transcribe import Word

        segments, info = self.pipeline.transcribe(audio, clip_timestamps=clip_timestamps, **kwargs)
        out = []
        for seg in segments:
            if abs(seg.start - self.start) < 1.0 and seg.words:
                word = seg.words[0].word
                step = (seg.end - seg.start) / 12
                words = [Word(seg.start + i * step, seg.start + (i + 1) * step, word, 0.9) for i in range(12)]
                seg = replace(seg, text=" ".join([word.strip()] * 12), words=words, compression_ratio=4.1)
            out.append(seg)
        return out, info


@pytest.mark.slow
def test_a_looping_chunk_is_healed_before_the_checks_see_it(talk, pipeline):
    from ai_assets.speech.transcript_checks import no_repetition_loop

    regions = speech_regions(talk)
    layout, chunks = first_pass_chunks([clean_regions(regions, len(talk) / SAMPLE_RATE)])
    looping = LoopingChunk(pipeline, chunks[0][0])
    unhealed = transcribe_batched(looping, talk, [regions], "en", DecodeParams(), heal=None)
    assert not no_repetition_loop([{**r, "segment": i} for i, r in enumerate(unhealed.rows)])[0]

    healed = transcribe_batched(looping, talk, [regions], "en", DecodeParams())
    assert (healed.suspect_chunks, healed.healed_chunks) == (1, 1)
    assert no_repetition_loop([{**r, "segment": i} for i, r in enumerate(healed.rows)])[0]
    text = " ".join(r["text"] for r in healed.rows).lower()
    assert "first three seconds" in text  # the sample's opening sentence is back


def test_suspect_reasons_and_the_order_of_two_readings():
    from ai_assets.speech.transcript import HealParams, reading_score, suspect_reason

    def row(text, ratio=1.5, logprob=-0.3):
        return {"words": [{"word": w} for w in text.split()], "compression_ratio": ratio, "avg_logprob": logprob}

    heal = HealParams()
    assert suspect_reason([row("we will we will we will we will rock you")], heal) == "'we will' repeats 4 times"
    assert suspect_reason([row("a fine sentence", ratio=2.6)], heal) == "compression ratio"
    assert suspect_reason([row("a fine sentence", logprob=-1.4)], heal) == "low confidence"
    assert suspect_reason([row("a fine sentence")], heal) is None
    looped, unsure = [row("no no no no no no no")], [row("a real sentence", logprob=-1.2)]
    assert reading_score(unsure, heal) > reading_score(looped, heal)
    assert reading_score([row("sure")], heal) > reading_score(unsure, heal)


def test_a_row_near_the_end_of_its_chunk_stays_with_it():
    from ai_assets.speech.transcript import chunk_owner

    chunks = [(0.0, 29.8), (29.8, 50.0)]
    rows = [{"start": 0.5}, {"start": 29.5}, {"start": 29.799}, {"start": 31.0}]
    assert chunk_owner(rows, chunks) == [0, 0, 1, 1]


def _decoded(whisper, audio, rule, policy) -> list:
    result, _, _ = whisper.transcribe(audio, speech_regions(audio, rule.vad.params()), rule, policy.multilingual_model)
    return [(s["start"], s["end"], s["text"], [(w["start"], w["end"], w["word"]) for w in s["words"]])
            for s in result.segments]


def test_batch_size_is_output_neutral(talk, tmp_path_factory):
    """The asr views leave batch_size out (ai_assets/policy/views.py): a batch size edit must rerun nothing, so it
    must change nothing. Whisper pads every chunk to 30 s, so batching does not change what each chunk sees."""
    from ai_assets.policy.documents import default_policy
    from benchmarks.common import SHARED_MEDIA, real_clips

    policy = default_policy("asr").parsed()
    whisper = WhisperResource(cache_dir=str(tmp_path_factory.mktemp("models")), language="en")
    audio = [talk]
    if (SHARED_MEDIA / "pocketsphinx-librivox").exists():  # real recorded speech, where the shared media are
        audio.append(np.concatenate([c.audio for c in real_clips()[:4]]))
    for samples in audio:
        for complexity in ("clean_single", "noisy"):
            rule = policy.classes[complexity]
            decoded = {size: _decoded(whisper, samples, rule.model_copy(update={"batch_size": size}), policy)
                       for size in (1, 3, 8)}
            assert decoded[1] and decoded[1] == decoded[3] == decoded[8]
