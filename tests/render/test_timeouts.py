"""Time limits on ffmpeg and ffprobe: real commands that hang are killed, reaped, and reported in one line."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from ai_assets.render import encode
from ai_assets.render.encode import (
    ClipCut,
    RenderError,
    RenderTimeout,
    media_timeout,
    probe_clip,
    render_clip,
    run_media_tool,
)
from tests.processes import processes


def _processes_with(marker: str) -> list[int]:
    """Pids of live (or zombie) processes whose command line or name holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes().decode("utf-8", "replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _our_children() -> list[tuple[int, str, str]]:
    """(pid, name, state) of this process's children, zombies included."""
    return [(p.pid, p.name, p.state) for p in processes() if p.ppid == os.getpid()]


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()  # a zombie keeps its /proc entry until it is reaped


class _Watcher(threading.Thread):
    """Records the pid of the process whose command line holds `marker`, while it runs."""

    def __init__(self, marker: str):
        super().__init__(daemon=True)
        self.marker, self.pid, self.stop = marker, None, threading.Event()

    def run(self) -> None:
        while self.pid is None and not self.stop.is_set():
            pids = _processes_with(self.marker)
            self.pid = pids[0] if pids else None
            time.sleep(0.05)


def test_timeout_grows_with_media_seconds():
    assert media_timeout(0.0, 60.0, 10.0) == 60.0
    assert media_timeout(45.0, 60.0, 10.0) == 510.0
    assert media_timeout(-3.0, 60.0, 10.0) == 60.0  # never below the base
    limits = [media_timeout(s, encode.ENCODE_BASE_SECONDS, encode.ENCODE_SECONDS_PER_MEDIA_SECOND)
              for s in (0.0, 1.0, 15.0, 60.0, 180.0)]
    assert limits == sorted(limits) and len(set(limits)) == len(limits)
    # Counting frames is cheaper than encoding them, so a probe gets the shorter limit.
    for seconds in (0.0, 30.0, 600.0):
        probe = media_timeout(seconds, encode.PROBE_BASE_SECONDS, encode.PROBE_SECONDS_PER_MEDIA_SECOND)
        assert probe < media_timeout(seconds, encode.ENCODE_BASE_SECONDS, encode.ENCODE_SECONDS_PER_MEDIA_SECOND)


def test_hung_ffmpeg_is_killed_and_reported_in_one_line():
    marker = f"timeout-test-{uuid.uuid4().hex}"
    # An endless real-time source: without a limit this never ends.
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
            "anullsrc=r=8000:cl=mono", "-metadata", f"title={marker}", "-f", "null", "-"]
    watcher = _Watcher(marker)
    watcher.start()
    started = time.monotonic()
    with pytest.raises(RenderTimeout) as raised:
        run_media_tool(args, 45.0, "rendering clip 3", base=1.0, per_second=0.0)
    took = time.monotonic() - started
    watcher.stop.set()
    watcher.join()

    assert 1.0 <= took < 6.0
    message = str(raised.value)
    assert message == "ffmpeg timed out after 1 s rendering clip 3 (45.0 s of video)"
    assert "\n" not in message and marker not in message and "lavfi" not in message
    assert isinstance(raised.value, RenderError)  # callers that catch RenderError catch this too

    assert watcher.pid is not None, "the ffmpeg process was never seen running"
    assert _gone(watcher.pid), f"ffmpeg {watcher.pid} is still there (running or a zombie)"
    assert _processes_with(marker) == []
    assert not [c for c in _our_children() if c[1] == "ffmpeg"]


def test_failing_ffmpeg_keeps_its_last_output():
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "no_such_source_xyz",
            "-f", "null", "-"]
    with pytest.raises(RenderError) as raised:
        run_media_tool(args, 5.0, "rendering clip 1")
    assert not isinstance(raised.value, RenderTimeout)
    message = str(raised.value)
    assert message.startswith("ffmpeg failed rendering clip 1: ")
    assert len(message) > len("ffmpeg failed rendering clip 1: ")  # ffmpeg's own words follow


def test_render_clip_times_out_on_a_source_that_never_delivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Opening a FIFO with no writer blocks forever: a real hang in the product's own render call.
    source = tmp_path / "stalled.mp4"
    os.mkfifo(source)
    target = tmp_path / "rank01_tiktok.mp4"
    monkeypatch.setattr(encode, "ENCODE_BASE_SECONDS", 1.0)
    monkeypatch.setattr(encode, "ENCODE_SECONDS_PER_MEDIA_SECOND", 0.0)
    started = time.monotonic()
    with pytest.raises(RenderTimeout) as raised:
        render_clip(source, target, ClipCut(0.0, 50, 25.0), 360, 640, None, has_audio=False)
    assert time.monotonic() - started < 6.0
    assert str(raised.value) == "ffmpeg timed out after 1 s rendering clip rank01_tiktok.mp4 (2.0 s of video)"
    assert not target.exists()
    assert not [c for c in _our_children() if c[1] == "ffmpeg"]


def test_probe_times_out_on_a_file_that_never_delivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source = tmp_path / "stalled.mp4"
    os.mkfifo(source)
    monkeypatch.setattr(encode, "PROBE_BASE_SECONDS", 1.0)
    monkeypatch.setattr(encode, "PROBE_SECONDS_PER_MEDIA_SECOND", 0.0)
    # Duration unknown: the header read comes first and is what hangs.
    with pytest.raises(RenderTimeout) as raised:
        probe_clip(source)
    assert str(raised.value) == "ffprobe timed out after 1 s reading stalled.mp4"
    # Duration known: straight to counting frames, with the media's length in the message.
    with pytest.raises(RenderTimeout) as raised:
        probe_clip(source, media_seconds=10.0)
    assert str(raised.value) == "ffprobe timed out after 1 s counting the frames of stalled.mp4 (10.0 s of video)"
    assert not [c for c in _our_children() if c[1] == "ffprobe"]
