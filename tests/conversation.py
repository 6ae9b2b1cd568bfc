"""A two-person conversation with known truth, built from real GRID faces (../shared/media/grid-faces).

Two speakers sit side by side in one 1280x720 frame, far enough apart that a 9:16 crop holds only one.
They take turns: in each 3 s turn one speaker's clip plays (picture and voice) while the other's first
frame is held, silent. The truth is therefore exact: during a turn only its speaker makes a sound. Used
by tests/vision/test_active_speaker.py and benchmarks/vision.py.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 25
PANEL_W, PANEL_H = 576, 460  # a GRID clip (360x288) scaled by 1.6
CENTRES = (320, 960)  # face columns, left and right
TURN_SECONDS = 3.0


@dataclass(frozen=True)
class Conversation:
    path: Path
    speakers: tuple[str, str]  # GRID clip names, left then right
    turns: list[tuple[float, float, int]]  # (start, end, 0 for left / 1 for right)
    speech: list[tuple[float, float, int]]  # where the voice is audible, with its speaker

    def speaker_at(self, t: float) -> int | None:
        return next((who for start, end, who in self.speech if start <= t < end), None)


def _turn(clips: tuple[Path, Path], active: int, target: Path, idle: str = "hold") -> None:
    """One turn: the active side plays with its voice; the other holds its first frame (`idle` "hold") or, harder,
    keeps moving as a listener does: its silent first 0.4 s played forwards and backwards (`idle` "fidget")."""
    args = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error"]
    for clip in clips:
        args += ["-i", str(clip)]
    frames = round(TURN_SECONDS * FPS)
    chains = []
    for side in (0, 1):
        base = f"[{side}:v]fps={FPS},scale={PANEL_W}:{PANEL_H},setsar=1"
        if side != active and idle == "hold":
            base += f",trim=end_frame=1,loop=loop={frames - 1}:size=1,setpts=N/{FPS}/TB"
        elif side != active:
            chains.append(f"{base},trim=end_frame=10,setpts=N/{FPS}/TB,split[f{side}][b{side}];[b{side}]reverse[r{side}]")
            base = (f"[f{side}][r{side}]concat=n=2,loop=loop={frames // 20 + 1}:size=20,setpts=N/{FPS}/TB")
        x = CENTRES[side] - PANEL_W // 2 - side * WIDTH // 2
        top = (HEIGHT - PANEL_H) // 2
        chains.append(f"{base},trim=end_frame={frames},pad={WIDTH // 2}:{HEIGHT}:{x}:{top}[p{side}]")
    graph = ";".join(chains) + f";[p0][p1]hstack=inputs=2[v];[{active}:a]aresample=16000,pan=mono|c0=c0," \
        f"apad,atrim=end={TURN_SECONDS}[a]"
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
             "-pix_fmt", "yuv420p", "-r", str(FPS), "-c:a", "pcm_s16le", "-ar", "16000", "-t", str(TURN_SECONDS),
             str(target)]
    subprocess.run(args, check=True)


def speech_regions(samples: np.ndarray, rate: int, min_gap: float = 0.3) -> list[tuple[float, float]]:
    """Where the signal is within 20 dB of its loudest 20 ms frame: the spoken part of a GRID sentence (the
    recordings' room noise and breaths sit 25-35 dB below it)."""
    hop = rate // 50
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop).astype(np.float64)
    level = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    voiced = level > level.max() - 20
    regions: list[list[float]] = []
    for k in np.flatnonzero(voiced):
        t = k * hop / rate
        if regions and t - regions[-1][1] <= min_gap:
            regions[-1][1] = t + hop / rate
        else:
            regions.append([t, t + hop / rate])
    return [(round(a, 3), round(b, 3)) for a, b in regions if b - a >= 0.1]


def build_conversation(grid: Path, left: str, right: str, rounds: int, target: Path,
                       idle: str = "hold") -> Conversation:
    """`rounds` of left-then-right turns, written to `target` (H.264 + AAC MP4); `idle`: see `_turn`."""
    import wave

    clips = (grid / left, grid / right)
    work = target.parent / f".{target.stem}-turns"
    work.mkdir(parents=True, exist_ok=True)
    parts, turns, speech = [], [], []
    for k in range(2 * rounds):
        active = k % 2
        part = work / f"turn{k:02d}.mkv"
        _turn(clips, active, part, idle)
        parts.append(part)
        start = k * TURN_SECONDS
        turns.append((start, start + TURN_SECONDS, active))
        wav = work / f"turn{k:02d}.wav"
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(part), "-map", "0:a",
                        str(wav)], check=True)
        with wave.open(str(wav)) as f:
            audio = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
            rate = f.getframerate()
        speech += [(start + a, start + b, active) for a, b in speech_regions(audio, rate)]
    listing = work / "parts.txt"
    listing.write_text("".join(f"file '{p.name}'\n" for p in parts))
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(FPS),
                    "-c:a", "aac", "-b:a", "96k", str(target)], check=True)
    return Conversation(target, (left, right), turns, speech)


def crop_on_speaker(conversation: Conversation, crop_left: np.ndarray, crop_width: int, fps: float,
                    offset: float = 0.0) -> dict:
    """How well a crop path (left edge per output frame, clip starting at `offset` s) follows the speaker:
    the share of speech time the crop holds the true speaker's face centre, and for each change of speaker
    how long after the new voice began the crop first held the new speaker (negative: it was already there)."""
    times = offset + np.arange(len(crop_left)) / fps
    on = total = 0
    holds = []
    for t, left in zip(times, crop_left, strict=True):
        # A 9:16 crop of this frame is 405 pixels wide: it holds the face on whichever half its centre is on.
        holding = 0 if left + crop_width / 2 < WIDTH / 2 else 1
        holds.append(holding)
        who = conversation.speaker_at(t)
        if who is not None:
            total += 1
            on += holding == who
    latencies = []
    previous = None
    for start, _end, who in conversation.speech:
        if previous is not None and who != previous and start >= offset:
            k0 = int(np.searchsorted(times, start))
            # Already on the new speaker at the onset: how long before it did the crop get there?
            if k0 < len(times) and holds[k0] == who:
                k = k0
                while k > 0 and holds[k - 1] == who:
                    k -= 1
                latencies.append(round(float(times[k] - start), 3))
            else:
                k = next((i for i in range(k0, len(times)) if holds[i] == who), None)
                latencies.append(round(float(times[k] - start), 3) if k is not None else None)
        previous = who
    return {"on_speaker": round(on / total, 4) if total else None, "switch_latencies": latencies}
