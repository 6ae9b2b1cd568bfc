"""A host and a guest each recorded on a sound track of their own (OBS without a mix track, a remote guest on the
desktop sound): the tracks are mixed, so both are transcribed and both are heard in the clips. A track that repeats
another (a mix track, a dubbed version) is not mixed in."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_assets.assets import audio, source_video
from ai_assets.definitions import build_resources
from ai_assets.ingest.audio import LEVEL_HOP_S, load_wav, mix_wavs, tracks_to_mix
from ai_assets.ingest.samples import speak
from ai_assets.render.audiogram import audiogram_frame
from ai_assets.render.clips import SourceVideo
from ai_assets.render.encode import ClipCut, ClipOutput, Encoding, probe_clip, render_outputs
from ai_assets.speech.vad import speech_track
from tests.conftest import add_video

HOST_TEXT = "Welcome back to the show. Today we talk about rivers, bridges and the people who build them."
GUEST_TEXT = "Thank you for having me. I have spent twenty years designing bridges across wide rivers."
GUEST_AT = 8.0  # seconds: the host talks first, then silence on the host's track while the guest answers
LENGTH = 16.0


TALKING_DB, SILENT_DB = -20.0, -80.0


def levels_of(regions, seconds: float = 60.0, talking: float = TALKING_DB, leaks: list | None = None,
              silent: float = SILENT_DB) -> np.ndarray:
    """A track's loudness per hop: `talking` inside its regions, `silent` elsewhere, and `leaks` (regions, dB) of
    other voices heard faintly."""
    middles = (np.arange(round(seconds / LEVEL_HOP_S)) + 0.5) * LEVEL_HOP_S
    level = np.full(len(middles), silent)
    for spans, db in [*(leaks or []), (regions, talking)]:
        for start, end in spans:
            level[(middles >= start) & (middles < end)] = db
    return level


@pytest.mark.parametrize(("regions", "chosen", "mixed"), [
    ([[(0, 10)], [(12, 30)]], 0, [1]),  # host, then guest on their own track
    ([[(0, 30)], [(0, 10)], [(12, 30)]], 0, []),  # OBS: the mix first, then its parts
    ([[(0, 10)], [(12, 30)], [(0, 30)]], 0, [1]),  # the parts first, then the mix: the mix repeats them
    ([[(0, 10), (12, 20)], [(0.3, 10.2), (12.5, 19)]], 0, []),  # a dubbed version talks when the original does
    ([[(0, 30)], [(30, 31.5)]], 0, []),  # 1.5 s of its own: a cough on the desktop sound
    ([[(0, 10)], [(7, 25)]], 0, [1]),  # most of its speech where the first is silent: a lively conversation
    ([[(0, 10)], [(3, 15)]], 0, []),  # under half its own
    ([[(0, 10)], None, [(12, 20)]], 0, [2]),  # a track that could not be decoded is skipped
    ([[], [(0, 10)]], 1, []),  # the microphone chosen over a silent desktop track
    ([[(0, 10)], [(12, 20)], [(22, 30)]], 0, [1, 2]),  # a panel: three microphones
    ([[(0, 10)]], 0, []),
])
def test_tracks_that_talk_where_the_chosen_one_is_silent_are_mixed(regions, chosen, mixed):
    levels = [None if r is None else levels_of(r) for r in regions]
    assert tracks_to_mix(regions, levels, chosen) == mixed


def test_two_microphones_in_one_room_are_mixed_though_each_hears_the_other():
    host, guest = [(0, 10), (20, 30)], [(10.5, 19.5), (30.5, 40)]
    # VAD hears the other voice on each track too, 24 dB down.
    regions = [host + guest, guest + host]
    levels = [levels_of(host, leaks=[(guest, -44.0)]), levels_of(guest, leaks=[(host, -44.0)])]
    assert tracks_to_mix(regions, levels, 0) == [1]
    # A dubbed version at the original's level: talking at once is not a voice of its own.
    assert tracks_to_mix([host, host], [levels_of(host), levels_of(host, talking=-23.0)], 0) == []


def test_steady_noise_is_no_voice_beside_a_microphone_gated_to_digital_silence():
    host = [(0, 10), (20, 30)]
    gated = levels_of(host, silent=-100.0)  # a noise gate writes zeros between the host's words
    hum = levels_of([(0, 60)], talking=-72.0)  # VAD heard "speech" in a desktop track's steady hum
    assert tracks_to_mix([host, [(0, 60)]], [gated, hum], 0) == []
    guest = [(10.5, 19.5), (30.5, 40)]  # a real voice over the same hum still counts
    voice = levels_of(guest, silent=-72.0)
    assert tracks_to_mix([host, guest], [gated, voice], 0) == [1]


region_lists = st.lists(st.tuples(st.floats(0, 50), st.floats(0, 10)).map(lambda r: (r[0], r[0] + r[1])),
                        max_size=8)


@given(st.lists(st.one_of(st.none(), region_lists), min_size=1, max_size=4), st.data())
def test_copies_and_silent_tracks_are_never_mixed(regions, data):
    chosen = data.draw(st.integers(0, len(regions) - 1))
    levels = [None if r is None else levels_of(r, talking=data.draw(st.floats(-40, -6))) for r in regions]
    # The chosen track again (OBS's mix beside itself), and a track of room noise where VAD heard "speech".
    regions += [regions[chosen], [(0, 60)]]
    levels += [levels[chosen], levels_of([(0, 60)], talking=data.draw(st.floats(-90, -50)))]
    mixed = tracks_to_mix(regions, levels, chosen)
    assert chosen not in mixed and mixed == sorted(set(mixed))
    assert all(regions[k] and levels[k] is not None for k in mixed)
    assert len(regions) - 2 not in mixed and len(regions) - 1 not in mixed


@given(st.lists(st.floats(2.6, 8), min_size=2, max_size=10), st.integers(2, 3))
def test_speakers_taking_turns_on_their_own_tracks_are_all_mixed(turns, speakers):
    regions, at = [[] for _ in range(speakers)], 0.0
    for k, length in enumerate(turns):
        regions[k % speakers].append((at, at + length))
        at += length + 1.0
    levels = [levels_of(r, seconds=at + 1) for r in regions]
    talking = [k for k, r in enumerate(regions) if r]
    assert tracks_to_mix(regions, levels, 0) == talking[1:]


def test_a_mix_that_would_clip_is_scaled_down_not_wrapped(tmp_path):
    loud = np.full(1600, 0.9, dtype=np.float32)
    for k in (0, 1):
        with __import__("wave").open(str(tmp_path / f"{k}.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16_000)
            out.writeframes((loud[: 1600 - 800 * k] * 32767).astype("<i2").tobytes())
    assert mix_wavs([tmp_path / "0.wav", tmp_path / "1.wav"], tmp_path / "mix.wav") == pytest.approx(0.1)
    mixed = load_wav(tmp_path / "mix.wav")
    assert len(mixed) == 1600 and mixed.min() > 0.4  # no wrap to negative values
    assert mixed[:800].mean() == pytest.approx(1.0, abs=0.01)  # the peak, scaled to full scale
    assert mixed[800:].mean() == pytest.approx(0.5, abs=0.01)  # the shorter track padded with silence


def loudness(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-9))


@pytest.fixture(scope="module")
def interview(tmp_path_factory) -> dict[str, Path]:
    """The host on track 1 ("Mic"), the guest on track 2 ("Desktop") from GUEST_AT, each silent while the other
    talks; as a video (MKV) and as sound alone (MKA)."""
    folder = tmp_path_factory.mktemp("interview")
    host, guest = folder / "host.wav", folder / "guest.wav"
    speak(HOST_TEXT, host)
    speak(GUEST_TEXT, guest, voice="en-gb")
    sound = ["-i", str(host), "-i", str(guest), "-filter_complex",
             f"[{{0}}:a]apad,atrim=0:{LENGTH}[h];[{{1}}:a]adelay={GUEST_AT * 1000:.0f}:all=1,apad,atrim=0:{LENGTH}[g]"]
    made = {}
    for name, picture in [("video", ["-f", "lavfi", "-i", f"testsrc2=s=320x320:r=25:d={LENGTH}"]), ("sound", [])]:
        inputs = len(picture) // 4
        graph = sound[-1].replace("{0}", str(inputs)).replace("{1}", str(inputs + 1))
        target = folder / f"interview.{'mkv' if picture else 'mka'}"
        video = ["-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"] if picture else []
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *picture, *sound[:-1], graph, *video,
                        "-map", "[h]", "-map", "[g]", "-c:a", "aac", "-ac", "2", "-metadata:s:a:0", "title=Mic",
                        "-metadata:s:a:1", "title=Desktop", str(target)], check=True)
        made[name] = target
    return made


def window(samples: np.ndarray, start: float, end: float, rate: int = 16_000) -> np.ndarray:
    return samples[int(start * rate): int(end * rate)]


def test_both_speakers_are_transcribed_from_the_mix(interview, tmp_path):
    target = tmp_path / "audio.wav"
    sound = speech_track(interview["video"], target, 2)
    assert sound.index == 0 and sound.mixed == ((1, None),)
    assert sound.note.startswith("sound tracks 1 and 2 of 2 mixed: each carries speech the others do not")
    assert sound.speech_seconds[0] > 3 and sound.speech_seconds[1] > 3
    spoken = sum(e - s for s, e in sound.regions)
    assert spoken >= 0.9 * (sound.speech_seconds[0] + sound.speech_seconds[1])
    assert any(s < GUEST_AT for s, _ in sound.regions) and any(e > GUEST_AT + 2 for _, e in sound.regions)
    mix = load_wav(target)
    assert loudness(window(mix, 1, 4)) > -35 and loudness(window(mix, GUEST_AT + 1, GUEST_AT + 4)) > -35
    assert sound.audio.seconds == pytest.approx(LENGTH, abs=0.1)
    assert [p.name for p in tmp_path.iterdir()] == ["audio.wav"]  # the tracks' own WAVs are gone


def clip_sound(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        frames = [f for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32) / 32768


def test_clips_carry_both_speakers(interview, tmp_path):
    cut = ClipCut.snap(GUEST_AT - 5, GUEST_AT + 4, 25)  # 3-12 s: the host's last words, then the guest
    outputs = [ClipOutput(tmp_path / "tall.mp4", 180, 320, None), ClipOutput(tmp_path / "square.mp4", 160, 160, None)]
    render_outputs(interview["video"], cut, outputs, Encoding("ultrafast", 30), mixed=((1, None),))
    render_outputs(interview["video"], cut, [ClipOutput(tmp_path / "first.mp4", 160, 160, None)],
                   Encoding("ultrafast", 30))
    guest = (GUEST_AT - cut.start + 1, GUEST_AT - cut.start + 4)
    for out in outputs:
        info = probe_clip(out.target)
        assert info["frames"] == 225 and info["audio_duration"] == pytest.approx(9.0, abs=0.05)
        heard = clip_sound(out.target)
        assert loudness(window(heard, 0.5, 2.5)) > -35  # the host
        assert loudness(window(heard, *guest)) > -35  # and the guest
    assert loudness(window(clip_sound(tmp_path / "first.mp4"), *guest)) < -60  # the first track alone: silence


def test_audiograms_carry_and_draw_the_mix(interview, tmp_path):
    cut = ClipCut.snap(GUEST_AT - 5, GUEST_AT + 4, 25)
    target = tmp_path / "audiogram.mp4"
    render_outputs(interview["sound"], cut, [ClipOutput(target, 320, 320, None, audiogram=audiogram_frame(
        320, 320, 300, False))], Encoding("ultrafast", 28), mixed=((1, None),))
    info = probe_clip(target)
    assert info["frames"] == 225 and info["audio_duration"] == pytest.approx(9.0, abs=0.05)
    assert loudness(window(clip_sound(target), GUEST_AT - cut.start + 1, GUEST_AT - cut.start + 4)) > -35
    with av.open(str(target)) as container:
        assert container.streams.audio[0].channels == 2  # the waveform is drawn from one; the sound keeps both


@pytest.fixture(scope="module")
def uneven(tmp_path_factory) -> Path:
    """Three tracks of one recording: a 12 s tone, one of 8 s, and one that starts at 9 s (a guest who joined
    late), each at -1 dBFS, so that where two sound at once they add up past full scale."""
    target = tmp_path_factory.mktemp("uneven") / "uneven.mkv"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=160x160:r=25:d=12", "-f", "lavfi", "-i", "sine=f=300:d=12,volume=0.9",
                    "-f", "lavfi", "-i", "sine=f=500:d=8,volume=0.9", "-f", "lavfi", "-i", "sine=f=700:d=3,volume=0.9",
                    "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-c:v", "libx264", "-preset",
                    "ultrafast", "-c:a", "aac", str(target)],
                   check=True)
    late = target.with_name("late.mkv")
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(target), "-itsoffset", "9", "-i",
                    str(target), "-map", "0:v", "-map", "0:a:0", "-map", "0:a:1", "-map", "1:a:2", "-c", "copy",
                    str(late)], check=True)
    return late


@pytest.mark.parametrize(("start", "end"), [(6.0, 10.0), (9.5, 11.5), (1.0, 4.0)])
def test_a_mixed_track_shorter_than_the_clip_or_starting_late_keeps_the_clip_s_sound(uneven, tmp_path, start, end):
    cut = ClipCut.snap(start, end, 25)
    target = tmp_path / "clip.mp4"
    render_outputs(uneven, cut, [ClipOutput(target, 160, 160, None)], Encoding("ultrafast", 30),
                   mixed=((1, None), (2, None)))
    info = probe_clip(target)
    # Within two AAC frames: a mix ends up to 43 ms early (one track alone: 11 ms); before, 2.03 of 4 s, or none.
    assert info["audio_duration"] == pytest.approx(end - start, abs=0.06)
    heard = clip_sound(target)
    assert loudness(window(heard, 0.2, end - start - 0.2)) > -20  # the long tone throughout
    assert np.abs(heard).max() < 0.995  # two tones at -1 dB each would reach 1.8: the limiter holds them under 1


def test_the_audio_table_records_the_mix_and_clips_follow_it(layout, instance, interview):
    key = add_video(layout, instance, interview["video"])
    result = dg.materialize([source_video, audio], partition_key=key, instance=instance,
                            resources=build_resources(layout))
    [row] = result.output_for_node("audio").to_pylist()
    assert row["track"] == 0 and row["mixed_tracks"] == [{"track": 1, "channel": None}]
    assert row["speech_seconds"] > 7
    meta = result.asset_materializations_for_node("audio")[0].metadata
    assert meta["mixed_tracks"].value == [1] and meta["track_note"].value.startswith("sound tracks 1 and 2 of 2")
    video = result.output_for_node("source_video").to_pylist()[0]
    source = SourceVideo.from_row(interview["video"], video, row)
    alone = SourceVideo.from_row(interview["video"], video, {**row, "mixed_tracks": []})
    assert source.mixed == ((1, None),) and alone.mixed == ()
