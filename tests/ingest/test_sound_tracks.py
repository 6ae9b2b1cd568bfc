"""Recordings with several sound tracks (OBS keeps desktop sound and the microphone apart): the track with the speech
is transcribed and carried by the clips; a film's dubbed or commentary tracks leave the first one in place."""

from __future__ import annotations

import json
import subprocess

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_assets.ingest.audio import (
    MIN_TRACK_SPEECH_S,
    QUIET_RECORDING_SHARE,
    QUIET_TRACK_SHARE,
    audio_tracks,
    choose_track,
    extract_audio,
    load_wav,
)
from ai_assets.ingest.samples import SAMPLE_TEXT, speak
from ai_assets.render.encode import ClipCut, ClipOutput, Encoding, render_outputs
from ai_assets.speech.vad import speech_track


@pytest.mark.parametrize(("speech", "chosen"), [
    ([0.0, 40.0], 1),  # desktop sound, then the microphone
    ([30.0, 40.0], 0),  # two languages of one talk: the first stays
    ([9.9, 40.0], 1),  # music that VAD hears a little speech in
    ([10.0, 40.0], 0),  # a quarter of the other's speech is a track that talks
    ([0.0, 1.9], 0),  # nobody talks on either: the first, as before
    ([0.0, 3.0, 45.0, 45.0], 2),  # of equals, the earlier
    ([None, 1.0], 1),  # the first cannot be decoded: any that can
    ([None, None], 0),
    ([12.0], 0),
])
def test_the_track_with_the_speech_is_chosen(speech, chosen):
    assert choose_track(speech, 600.0) == chosen  # a 10-minute recording: 5 % is 30 s


def test_a_host_recorded_on_a_track_of_their_own_stays():
    # An hour-long interview, host and guest each on a track: the host's 4 minutes are too much to drop.
    assert choose_track([240.0, 2400.0], 3600.0) == 0
    assert choose_track([170.0, 2400.0], 3600.0) == 1  # under 5 % of the hour: a desktop track's stray speech


@given(st.lists(st.one_of(st.none(), st.floats(0, 3600)), min_size=1, max_size=6), st.floats(1, 7200))
def test_another_track_only_when_the_first_has_almost_no_speech(speech, seconds):
    chosen = choose_track(speech, seconds)
    assert 0 <= chosen < len(speech)
    heard = [s for s in speech if s is not None] or [0.0]
    if speech[0] is not None and (speech[0] >= QUIET_TRACK_SHARE * max(heard) or max(heard) < MIN_TRACK_SPEECH_S
                                  or speech[0] >= QUIET_RECORDING_SHARE * seconds):
        assert chosen == 0
    if chosen:
        assert speech[chosen] is not None and speech[chosen] == max(heard)


def test_tracks_are_counted_from_the_probe():
    streams = json.dumps([{"index": 0, "type": "video"}, {"index": 1, "type": "audio"}, {"index": 2, "type": "audio"},
                          {"index": 3, "type": "subtitle"}])
    assert audio_tracks(streams) == 2
    assert audio_tracks("[]") == 0
    assert audio_tracks("not json") == 1


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A 1:1 picture with two sound tracks: soft pink noise ("Desktop") then speech ("Mic"), as OBS writes them; and
    the same speech on both tracks, as a film with a second language has it."""
    folder = tmp_path_factory.mktemp("tracks")
    wav = folder / "speech.wav"
    speak(SAMPLE_TEXT, wav)
    made = {}
    for name, first in [("obs", ["-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.003:d=30"]), ("dubbed", ["-i", str(wav)])]:
        target = folder / f"{name}.mkv"
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc2=s=320x320:r=25:d=30", *first, "-i", str(wav), "-map", "0:v", "-map", "1:a",
                        "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a",
                        "aac", "-t", "20", "-metadata:s:a:0", "title=Desktop", "-metadata:s:a:1", "title=Mic",
                        str(target)], check=True)
        made[name] = target
    return made


def loudness(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) + 1e-9))


def test_the_microphone_track_is_transcribed_when_the_first_is_desktop_noise(recordings, tmp_path):
    target = tmp_path / "audio.wav"
    chosen = speech_track(recordings["obs"], target, 2)
    assert chosen.index == 1
    assert chosen.speech_seconds[0] < 1.0 < 8.0 < chosen.speech_seconds[1]
    assert chosen.note.startswith("sound track 2 of 2 transcribed")
    assert sum(b - a for a, b in chosen.regions) == pytest.approx(chosen.speech_seconds[1], abs=0.01)
    assert loudness(load_wav(target)) > -35  # the speech, not the noise (about -55 dB)
    assert [p.name for p in tmp_path.iterdir()] == ["audio.wav"]  # the other track's WAV is gone


def test_a_second_language_track_leaves_the_first(recordings, tmp_path):
    chosen = speech_track(recordings["dubbed"], tmp_path / "audio.wav", 2)
    assert chosen.index == 0 and chosen.note is None
    assert chosen.speech_seconds[0] == pytest.approx(chosen.speech_seconds[1], abs=0.5)


def test_clips_carry_the_chosen_track(recordings, tmp_path):
    cut = ClipCut.snap(2.0, 6.0, 25)
    levels = {}
    for track in (0, 1):
        out = tmp_path / f"track{track}.mp4"
        render_outputs(recordings["obs"], cut, [ClipOutput(out, 160, 160, None)], Encoding("ultrafast", 30),
                       track=track)
        with av.open(str(out)) as container:
            levels[track] = loudness(np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]))
    assert levels[1] > levels[0] + 15


@pytest.fixture(scope="module")
def stereo(tmp_path_factory):
    """Speech in stereo: with the right channel phase-inverted (a miswired microphone: it plays, but mixed to mono it
    is silence); as two microphones (the right one 30 ms later and quieter); and beside music-like noise."""
    folder = tmp_path_factory.mktemp("stereo")
    wav = folder / "speech.wav"
    speak(SAMPLE_TEXT, wav)
    made = {}
    for name, graph in [("inverted", "[0:a]pan=stereo|c0=c0|c1=-1*c0[a]"),
                        ("two_mics", "[0:a]asplit[l][r];[r]adelay=30,volume=0.7[rd];[l][rd]join=inputs=2[a]"),
                        ("wide", "[0:a]pan=stereo|c0=c0|c1=0.1*c0[s];anoisesrc=c=pink:a=0.05:d=20[n];"
                                 "[s][n]amix=inputs=2:duration=first[a]")]:
        target = folder / f"{name}.m4a"
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(wav), "-filter_complex", graph,
                        "-map", "[a]", "-c:a", "aac", "-b:a", "160k", str(target)], check=True)
        made[name] = target
    return made


def test_channels_that_cancel_in_mono_are_transcribed_from_one_of_them(stereo, tmp_path):
    track = extract_audio(stereo["inverted"], tmp_path / "a.wav")
    assert track.from_channel in (0, 1)
    assert loudness(load_wav(tmp_path / "a.wav")) > -35  # the speech, not the -90 dB the mix leaves
    assert speech_track(stereo["inverted"], tmp_path / "b.wav", 1).speech_seconds[0] > 8.0


@pytest.mark.parametrize("name", ["two_mics", "wide"])
def test_real_stereo_is_mixed_as_before(stereo, tmp_path, name):
    assert extract_audio(stereo[name], tmp_path / "a.wav").from_channel is None


def test_clips_carry_the_channel_that_does_not_cancel(stereo, tmp_path):
    source = tmp_path / "talk.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "color=gray:s=160x160:d=6",
                    "-i", str(stereo["inverted"]), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset",
                    "ultrafast", "-c:a", "copy", "-shortest", str(source)], check=True)
    cut = ClipCut.snap(1.0, 5.0, 25)
    levels = {}
    for channel in (None, 0):
        out = tmp_path / f"channel{channel}.mp4"
        render_outputs(source, cut, [ClipOutput(out, 160, 160, None)], Encoding("ultrafast", 30), channel=channel)
        with av.open(str(out)) as container:
            both = np.concatenate([f.to_ndarray().reshape(2, -1) for f in container.decode(audio=0)], axis=1)
        levels[channel] = loudness(both.mean(axis=0))  # as a phone's one speaker plays it
    assert levels[0] > levels[None] + 30


@pytest.fixture(scope="module")
def surround(tmp_path_factory):
    """A film's 5.1 sound: the dialogue in the centre channel, soft noise in the others (AC-3 in MP4); and a mono
    recording."""
    folder = tmp_path_factory.mktemp("surround")
    wav = folder / "speech.wav"
    speak(SAMPLE_TEXT, wav)
    made = {}
    for name, graph, codec in [
        ("film", "anoisesrc=c=pink:a=0.003:d=12,asplit=5[n1][n2][n3][n4][n5];[1:a]atrim=0:12[d];"
                 "[n1][n2][d][n3][n4][n5]join=inputs=6:channel_layout=5.1:"
                 "map=0.0-FL|1.0-FR|2.0-FC|3.0-LFE|4.0-BL|5.0-BR[a]", "ac3"),
        ("mono", "[1:a]atrim=0:12[a]", "aac"),
    ]:
        target = folder / f"{name}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc2=s=160x160:r=25:d=12", "-i", str(wav), "-filter_complex", graph, "-map", "0:v",
                        "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", codec, "-shortest",
                        str(target)], check=True)
        made[name] = target
    return made


def test_surround_sound_is_mixed_down_to_stereo_in_clips_and_mono_stays_mono(surround, tmp_path):
    cut = ClipCut.snap(1.0, 5.0, 25)
    heard = {}
    for name, channels in [("film", 2), ("mono", 1)]:
        out = tmp_path / f"{name}.mp4"
        render_outputs(surround[name], cut, [ClipOutput(out, 160, 160, None)], Encoding("ultrafast", 30))
        with av.open(str(out)) as container:
            assert container.streams.audio[0].channels == channels  # Instagram takes one or two, not six
            heard[name] = np.concatenate([f.to_ndarray().reshape(channels, -1) for f in container.decode(audio=0)],
                                         axis=1)
    left, right = heard["film"]
    assert loudness(left) > -35 and loudness(right) > -35  # the centre's dialogue on both sides
    # And the audio stage hears the dialogue in the 5.1 mix.
    assert speech_track(surround["film"], tmp_path / "film.wav", 1).speech_seconds[0] > 6.0
