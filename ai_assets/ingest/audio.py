"""The audio stage's decoding: the first audio stream as 16 kHz mono WAV, and back to samples."""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ai_assets.ingest.source_video import MediaError, clock_origin, decoded_frames, error_reason
from ai_assets.storage.files import atomic_path

SAMPLE_RATE = 16_000


# A jump in the audio's timestamps beyond the resampler's own lag (under 2 ms): a damaged packet that was skipped (one
# Opus packet is 20 ms), or a gap in the recording. It is filled with silence, so every later word keeps its time on
# the video's clock.
GAP_FILL_S = 0.005
# In formats whose clock may break (AVFMT_TS_DISCONT: MPEG-TS and MPEG-PS from broadcasts and streams, Ogg, HLS: a
# splice, a reset, a wrap), and in files that state no length, a longer jump is such a break, not lost sound, and is
# not filled, as ffmpeg does (its dts_delta_threshold). Elsewhere (MP4, MOV, MKV, WebM), and before the first sound
# in any format, a jump is time the sound did not cover (a microphone that joined late or dropped out) and is filled
# however long, as far as the file's stated length.
MAX_FILL_S = 10.0
TS_DISCONT = 0x0200  # AVFMT_TS_DISCONT: the formats whose timestamps may jump
# Past this share of the track undecodable, nothing trustworthy is left to transcribe.
MAX_DAMAGED_SHARE = 0.5
# A mono mix this much quieter than the channels themselves means they cancel: one is phase-inverted. Real stereo
# (room, music, two microphones) mixes within a few dB of its channels. Measured on every BALANCE_EVERY-th frame.
CANCELLED_DB = 12.0
BALANCE_EVERY = 4
# A recording with several sound tracks (OBS keeps desktop sound and the microphone apart) is transcribed from its first
# track unless that one has almost no speech and another has some: under a quarter of the other's speech and under
# 5 % of the recording (a film's dubbed or commentary tracks both talk, and so do a host and a guest recorded on
# tracks of their own: the first stays, and the guest's is mixed in, see MIX_OWN_SHARE), and the other at least
# MIN_TRACK_SPEECH_S.
QUIET_TRACK_SHARE = 0.25
QUIET_RECORDING_SHARE = 0.05
MIN_TRACK_SPEECH_S = 2.0
# Another track is mixed in with the chosen one where, for at least MIX_OWN_SHARE of its speech and MIN_TRACK_SPEECH_S,
# it is DOMINANT_DB louder than every track taken so far: a host and a guest each on a track of their own (OBS without
# a mix track; a remote guest on the desktop sound; two microphones in one room, each hearing the other faintly) are
# both heard. Its speech where a taken track is that much louder is the other voice leaking in, and does not count. A
# track that is never much louder than the taken ones repeats them (OBS's mix track and its parts, a dubbed version)
# and is left out.
MIX_OWN_SHARE = 0.5
DOMINANT_DB = 10.0
LEVEL_HOP_S = 0.05
# Loudness is compared over this much time: within a sentence it drops between syllables by more than DOMINANT_DB,
# so two tracks talking at once would each seem louder half the time.
LEVEL_WINDOW_S = 0.5
# A track's own floor (its silence, or steady noise that VAD took for speech) is this low percentile of its loudness:
# its speech must also be DOMINANT_DB above it, so a noise track is not "louder" than a microphone gated to digital
# silence.
FLOOR_PERCENTILE = 5


@dataclass(frozen=True)
class AudioTrack:
    seconds: float  # of WAV written, silence filled in included
    filled_seconds: float = 0.0  # silence put where packets were damaged or the recording had gaps
    damaged_packets: int = 0  # packets the decoder rejected and that were skipped
    from_channel: int | None = None  # the one channel decoded where the stereo mix cancelled out (see CANCELLED_DB)

    @property
    def degraded(self) -> str | None:
        """Why the track is not all there, in words; None when it is."""
        if not self.damaged_packets:
            return None
        return (f"{self.damaged_packets} damaged audio packets skipped; {self.filled_seconds:.2f} s of silence "
                "keeps the rest in time")


def extract_audio(path: Path, target: Path, track: int = 0) -> AudioTrack:
    """Decode audio stream `track` (0: the first) to 16 kHz mono 16-bit WAV, streaming, on the file's clock: damaged
    packets are skipped and, like gaps, filled with silence (see `decoded_frames`). Raises MediaError when nothing,
    or less than half, of the track decodes.

    A stereo recording whose channels cancel when mixed to mono (one of them wired or recorded phase-inverted: it
    plays in stereo, but the mix is silence) is decoded again from its louder channel (see CANCELLED_DB)."""
    decoded, balance = _decode_to_wav(path, target, track)
    channel = balance.cancelled()
    if channel is not None:
        decoded, _ = _decode_to_wav(path, target, track, channel)
        decoded = replace(decoded, from_channel=channel)
    return decoded


def _decode_to_wav(path: Path, target: Path, track: int, channel: int | None = None) -> tuple[AudioTrack, _Balance]:
    """One pass of `extract_audio`: all channels mixed to mono, or only `channel`."""
    import av

    balance = _Balance()
    samples = filled = 0
    damaged: list[float] = []
    with av.open(str(path), metadata_errors="ignore") as container, atomic_path(target) as tmp:
        # With one `channel`, the resampler keeps two and that one is written.
        layout = "mono" if channel is None else "stereo"
        resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            stream = container.streams.audio[track]
            # The file's clock, as renders and keyframes count it: sound that starts late, or whose first packets are
            # damaged, starts after silence.
            origin, lag = clock_origin(container), 0
            breaks = bool(container.format.flags & TS_DISCONT)
            length = container.duration / 1_000_000 if container.duration else 0.0
            try:
                for k, frame in enumerate(decoded_frames(container, stream, damaged)):
                    if channel is None and k % BALANCE_EVERY == 0:
                        balance.add(frame)
                    if frame.time is not None:
                        ahead = round((frame.time - origin) * SAMPLE_RATE) - samples
                        room = MAX_FILL_S * SAMPLE_RATE
                        if length and (not samples or not breaks):
                            room = max(room, round((length + 1.0) * SAMPLE_RATE) - samples)
                        if GAP_FILL_S * SAMPLE_RATE < ahead - lag <= room:
                            gap = ahead - lag
                            out.writeframes(bytes(2 * gap))
                            samples, filled = samples + gap, filled + gap
                        else:
                            lag = ahead  # the resampler's own delay (what it holds back), steady between gaps
                    try:
                        resampled = resampler.resample(frame)
                    except (ValueError, av.error.FFmpegError):
                        # The stream changed layout or rate (a broadcast's ad break), or a damaged packet decoded to a
                        # frame no resampler takes: what the old setup holds is written, and a new one goes on.
                        samples += _write_frames(out, _flushed(resampler), channel)
                        resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
                        try:
                            resampled = resampler.resample(frame)
                        except (ValueError, av.error.FFmpegError):
                            damaged.append(float(frame.time) if frame.time is not None else float("nan"))
                            resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
                            continue  # its time is filled with silence with the next frame's gap
                    samples += _write_frames(out, resampled, channel)
            except av.error.FFmpegError as exc:
                raise MediaError(
                    f"audio could not be decoded after {samples / SAMPLE_RATE:.1f} s ({error_reason(exc)})"
                ) from None
            samples += _write_frames(out, _flushed(resampler), channel)
    if samples == 0 or samples == filled:
        raise MediaError("the audio stream decodes to no samples"
                         + (f" ({len(damaged)} damaged packets)" if damaged else ""))
    if damaged and filled > MAX_DAMAGED_SHARE * samples:
        raise MediaError(f"the audio is too damaged to use: {filled / SAMPLE_RATE:.1f} of {samples / SAMPLE_RATE:.1f} "
                         f"s could not be decoded ({len(damaged)} damaged packets)")
    return AudioTrack(samples / SAMPLE_RATE, round(filled / SAMPLE_RATE, 3), len(damaged)), balance


class _Balance:
    """Energy of a recording's first two channels and of their mono mix, over sampled frames. The frames go through a
    stereo resampler first: its output is well formed, where a frame decoded from a damaged packet can crash numpy's
    view of it (PyAV's to_ndarray)."""

    def __init__(self):
        self.left = self.right = self.mix = 0.0
        self._resampler = None

    def add(self, frame) -> None:
        import av

        if len(frame.layout.channels) < 2 or not frame.samples:
            return
        try:
            self._resampler = self._resampler or av.AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE)
            pairs = [f.to_ndarray().reshape(-1, 2).T.astype(np.float64) for f in self._resampler.resample(frame)]
        except (ValueError, av.error.FFmpegError):
            self._resampler = None  # a change of layout or rate, or a frame no resampler takes: the next one starts
            return
        for left, right in pairs:
            self.left += float(left @ left)
            self.right += float(right @ right)
            self.mix += float((left + right) @ (left + right)) / 4

    def cancelled(self) -> int | None:
        """The louder channel (0, 1) where the mix lost over CANCELLED_DB against the channels; None otherwise."""
        channels = (self.left + self.right) / 2
        if channels <= 0 or self.mix >= channels * 10 ** (-CANCELLED_DB / 10):
            return None
        return 0 if self.left >= self.right else 1


def audio_tracks(streams: str | None) -> int:
    """How many sound tracks a probe's `streams` (JSON) lists."""
    try:
        return sum(s.get("type") == "audio" for s in json.loads(streams or "[]"))
    except (TypeError, ValueError, AttributeError):
        return 1


def choose_track(speech_seconds: list[float | None], seconds: float) -> int:
    """Which track of a `seconds` long recording to transcribe, from each track's seconds of speech (None: it could
    not be decoded): the first, unless it has almost none and another has some (see QUIET_TRACK_SHARE)."""
    heard = [s if s is not None else -1.0 for s in speech_seconds]
    best = max(range(len(heard)), key=lambda k: (heard[k], -k)) if heard else 0
    first = heard[0] if heard else 0.0
    quiet = first < min(QUIET_TRACK_SHARE * heard[best], QUIET_RECORDING_SHARE * seconds)
    if best and heard[best] >= MIN_TRACK_SPEECH_S and quiet:
        return best
    return 0 if first >= 0 or not heard else best


def tracks_to_mix(regions: list[list[tuple[float, float]] | None], levels: list[np.ndarray | None],
                  chosen: int) -> list[int]:
    """The other tracks to mix in with track `chosen`, in order, from each track's speech regions and loudness per
    LEVEL_HOP_S (`wav_levels`; None for both where a track could not be decoded): each that talks DOMINANT_DB louder
    than the tracks taken so far for at least MIX_OWN_SHARE of its speech (less what leaks in from them) and
    MIN_TRACK_SPEECH_S."""
    levels = [None if level is None else _smoothed(level) for level in levels]
    loudest = levels[chosen] if levels[chosen] is not None else np.zeros(0)
    mixed = []
    for k, (mine, level) in enumerate(zip(regions, levels, strict=True)):
        if k == chosen or not mine or level is None or not len(level):
            continue
        taken = np.full(len(level), -np.inf)
        taken[: min(len(level), len(loudest))] = loudest[: len(level)]
        speaking = _inside(mine, len(level))
        own = speaking & (level >= np.maximum(taken, np.percentile(level, FLOOR_PERCENTILE)) + DOMINANT_DB)
        leaked = speaking & (taken >= level + DOMINANT_DB)
        own_s, heard_s = own.sum() * LEVEL_HOP_S, (speaking & ~leaked).sum() * LEVEL_HOP_S
        if own_s >= MIN_TRACK_SPEECH_S and own_s >= MIX_OWN_SHARE * heard_s:
            mixed.append(k)
            longer = np.full(max(len(loudest), len(level)), -np.inf)
            longer[: len(loudest)] = loudest
            longer[: len(level)] = np.maximum(longer[: len(level)], level)
            loudest = longer
    return mixed


def _smoothed(level: np.ndarray) -> np.ndarray:
    """Loudness in dB per hop, as the mean power over LEVEL_WINDOW_S around each."""
    width = max(1, round(LEVEL_WINDOW_S / LEVEL_HOP_S))
    if len(level) < width:
        return level
    power = np.convolve(10 ** (level / 10), np.ones(width) / width, mode="same")
    return 10 * np.log10(power + 1e-10)


def _inside(regions: list[tuple[float, float]], frames: int) -> np.ndarray:
    """Which of `frames` hops of LEVEL_HOP_S have their middle inside one of `regions`."""
    middles = (np.arange(frames) + 0.5) * LEVEL_HOP_S
    mask = np.zeros(frames, dtype=bool)
    for start, end in regions:
        mask |= (middles >= start) & (middles < end)
    return mask


def wav_levels(path: Path) -> np.ndarray:
    """Loudness in dB of each LEVEL_HOP_S of a 16 kHz mono WAV, read a block at a time."""
    hop = round(LEVEL_HOP_S * SAMPLE_RATE)
    levels = []
    with wave.open(str(path), "rb") as wav:
        while block := wav.readframes(hop * 1200):
            pcm = np.frombuffer(block, dtype="<i2").astype(np.float64) / 32768.0
            whole = len(pcm) // hop * hop
            levels.append(10 * np.log10(np.mean(pcm[:whole].reshape(-1, hop) ** 2, axis=1) + 1e-10))
    return np.concatenate(levels) if levels else np.zeros(0)


def mix_wavs(sources: list[Path], target: Path) -> float:
    """Sum 16 kHz mono WAVs (the shorter ones padded with silence) into `target`, a block at a time, all of it scaled
    down by as much as its loudest sample would clip; the mix's length in seconds."""
    block = SAMPLE_RATE * 60

    def blocks():
        readers = [wave.open(str(path), "rb") for path in sources]
        try:
            while parts := [np.frombuffer(r.readframes(block), dtype="<i2").astype(np.int32) for r in readers]:
                if not max(len(p) for p in parts):
                    return
                mix = np.zeros(max(len(p) for p in parts), dtype=np.int32)
                for part in parts:
                    mix[: len(part)] += part
                yield mix
        finally:
            for reader in readers:
                reader.close()

    peak = max((int(np.abs(mix).max()) for mix in blocks() if len(mix)), default=0)
    scale = min(1.0, 32767 / peak) if peak else 1.0
    samples = 0
    with atomic_path(target) as tmp, wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        for mix in blocks():
            out.writeframes(np.round(mix * scale).astype("<i2").tobytes())
            samples += len(mix)
    return samples / SAMPLE_RATE


def _flushed(resampler) -> list:
    """What a resampler still holds; nothing from one that never took a frame or failed to."""
    import av

    try:
        return resampler.resample(None)
    except (ValueError, av.error.FFmpegError):
        return []


def _write_frames(out: wave.Wave_write, frames, channel: int | None = None) -> int:
    """Resampled frames (mono, or stereo of which `channel` is written) as 16-bit samples; how many."""
    written = 0
    for frame in frames:
        pcm = frame.to_ndarray().reshape(-1) if channel is None else frame.to_ndarray().reshape(-1, 2)[:, channel]
        out.writeframes(pcm.astype("<i2").tobytes())
        written += pcm.shape[0]
    return written


def load_wav(path: Path) -> np.ndarray:
    """16 kHz mono WAV to float32 in [-1, 1]."""
    with wave.open(str(path), "rb") as wav:
        if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1:
            raise MediaError(f"{path.name}: expected 16 kHz mono audio")
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0
