"""Transcription progress: each tenth of the speech reported once, in order, whatever the segments' order."""

from hypothesis import given
from hypothesis import strategies as st

from ai_assets.speech.transcript import ProgressSteps


def heard(shares: list[float]) -> list[float]:
    out: list[float] = []
    steps = ProgressSteps(out.append)
    for share in shares:
        steps(share)
    return out


def test_a_steady_decode_reports_every_tenth_once():
    assert heard([i / 100 for i in range(101)]) == [round(i / 10, 2) for i in range(1, 11)]


def test_a_jump_reports_once_and_a_step_back_or_a_small_step_is_silent():
    assert heard([0.05, 0.37, 0.2, 0.38, 0.41, 1.0, 1.0]) == [0.37, 0.41, 1.0]


def test_shares_outside_zero_to_one_are_clamped():
    assert heard([-0.5, 1.7]) == [1.0]


@given(st.lists(st.floats(min_value=-1, max_value=2, allow_nan=False), max_size=200))
def test_reports_rise_by_at_least_a_tenth_and_number_at_most_ten(shares):
    out = heard(shares)
    assert len(out) <= 10
    assert all(0.1 - 1e-9 <= s <= 1.0 for s in out)
    # Each report lies in a later tenth than the one before.
    assert all(int(b * 10 + 1e-9) > int(a * 10 + 1e-9) for a, b in zip(out, out[1:], strict=False))
    if shares and max(shares) >= 1.0:
        assert out[-1] == 1.0


def test_a_report_that_fails_turns_reporting_off_and_never_raises():
    calls = []

    def report(share):
        calls.append(share)
        raise BrokenPipeError("the caller went away")

    steps = ProgressSteps(report)
    for share in (0.15, 0.5, 1.0):
        steps(share)  # would make the decoder take it for a decoding error and decode again
    assert calls == [0.15]


def test_a_failing_progress_callback_costs_the_transcript_nothing(media, tmp_path):
    """The real model, with a callback that always fails: the same words as without one."""
    from ai_assets.ingest.audio import SAMPLE_RATE, extract_audio, load_wav
    from resources import WhisperResource

    extract_audio(media["short"], tmp_path / "short.wav")
    samples = load_wav(tmp_path / "short.wav")
    regions = [(0.0, len(samples) / SAMPLE_RATE)]
    whisper = WhisperResource()
    plain, _, _ = whisper.transcribe_here(samples, regions)

    def broken(share):
        raise RuntimeError("log handler down")

    noisy, _, _ = whisper.transcribe_here(samples, regions, progress=broken)
    assert [s["text"] for s in noisy.segments] == [s["text"] for s in plain.segments] != []
    assert noisy.untranscribed == [] and not noisy.degraded
