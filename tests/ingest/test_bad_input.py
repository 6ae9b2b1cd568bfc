"""Bad input fails its own partition with a specific reason; other partitions keep working."""

import re
import subprocess
import sys

import dagster as dg
import pytest

from ai_assets.assets import audio, source_video
from ai_assets.catalog import connect as metrics_view
from ai_assets.definitions import build_resources
from ai_assets.ingest.source_video import MediaError, probe
from ai_assets.partitions import videos
from ai_assets.storage.files import sha256_file
from resources.lake import lake_file
from tests.conftest import add_video, child_env, failure_description


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty", "empty file (0 bytes)"),
        ("text", "not a media file: no audio/video container recognised"),
        ("truncated", "truncated or corrupt MP4: the container index is missing"),
        ("truncated_faststart", "truncated"),
        ("silent", "no audio stream: the video has no sound track to transcribe"),
    ],
)
def test_probe_names_the_problem(media, name, reason):
    with pytest.raises(MediaError) as err:
        probe(media[name])
    assert str(err.value).startswith(reason)
    assert "\n" not in str(err.value)


def test_a_picture_that_runs_on_after_the_sound_stops_is_not_truncation(media, tmp_path):
    # 10 s of picture over the 5 s of sound cut from the talk (a title card at the end, a screen recording).
    sound, video = tmp_path / "sound.m4a", tmp_path / "longer_picture.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(media["talk"]), "-t", "5", "-vn", "-c:a", "aac",
        str(sound)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=gray:s=320x240:r=10:d=10", "-i",
        str(sound), "-c:v", "libx264", "-c:a", "copy", str(video)], check=True)
    described = probe(video)
    assert described.has_audio and 9.5 < described.duration < 10.5
    # Cut in half, the same file is still caught.
    cut = tmp_path / "cut.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(video), "-c", "copy", "-movflags", "+faststart",
        str(cut)], check=True)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated"):
        probe(cut)


def test_bad_partitions_fail_alone_and_record_why(layout, instance, media):
    good = add_video(layout, instance, media["short"])
    bad = {name: add_video(layout, instance, media[name]) for name in ("empty", "text", "truncated", "silent")}
    resources = build_resources(layout)
    for key in bad.values():
        result = dg.materialize([source_video, audio], partition_key=key, instance=instance, resources=resources,
            raise_on_error=False)
        assert not result.success
        assert failure_description(result).startswith(f"{key}: ")
        assert not lake_file(layout.lake, "source_video", key).exists()
    result = dg.materialize([source_video, audio], partition_key=good, instance=instance, resources=resources)
    assert result.success
    assert sorted(instance.get_dynamic_partitions(videos.name)) == sorted([good, *bad.values()])
    with metrics_view(layout.home) as conn:  # rows still spooled included
        failed = dict(conn.execute("select video, error from metrics where status = 'failed'").fetchall())
    assert set(failed) == set(bad.values())
    assert failed[bad["silent"]].endswith("no audio stream: the video has no sound track to transcribe")
    assert failed[bad["empty"]].endswith("empty file (0 bytes)")
    # The uploads themselves are untouched.
    assert media["empty"].stat().st_size == 0 and media["silent"].exists()


def test_a_key_added_by_hand_fails_source_video_with_why_and_touches_no_path(layout, instance):
    resources = build_resources(layout)
    root = layout.home.parent
    before = set(root.rglob("*"))
    for key in ("../x", "../../outside-0123456789", "talk-0123456789"):  # the last is well formed but unregistered
        instance.add_dynamic_partitions(videos.name, [key])
        result = dg.materialize([source_video, audio], partition_key=key, instance=instance, resources=resources,
            raise_on_error=False)
        assert not result.success
        reason = failure_description(result)
        assert reason.startswith(f"{key}: ")
        assert ("is not a video key" in reason) == (key != "talk-0123456789")
        assert "no upload is registered" in reason or key != "talk-0123456789"
    # Only the instance and the metrics changed: no output file, nothing outside the home folder.
    written = {p for p in set(root.rglob("*")) - before if p.is_file() and root / "dagster" not in p.parents}
    assert all(layout.home in p.parents for p in written)
    assert not [p for p in written if p.suffix == ".parquet" or "outside" in p.name or p.stem == "x"]


def test_odd_file_name_gets_a_safe_key_and_processes(layout, instance, media):
    key = add_video(layout, instance, media["odd_name"])
    assert key.startswith("dia-2-q-a-final-ss-") or key.startswith("dia-2-q-a-final-")
    assert not set(",/|[]") & set(key)
    result = dg.materialize([source_video, audio], partition_key=key, instance=instance,
        resources=build_resources(layout))
    assert result.success
    stored = result.output_for_node("source_video").to_pylist()[0]
    assert stored["name"] == media["odd_name"].name
    assert sha256_file(media["odd_name"]) == stored["sha256"]


@pytest.mark.slow
def test_cli_reports_one_line_per_bad_file_and_still_processes_good_ones(layout, media):
    files = [media["empty"], media["talk"], media["text"], media["silent"], layout.home / "missing.mp4"]
    proc = subprocess.run(
        [sys.executable, "-m", "ai_assets.cli", "process", *map(str, files)],
        env=child_env(layout), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "Stack Trace" not in proc.stderr and "STEP_FAILURE" not in proc.stderr  # Dagster's console log of one
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {media['empty']}: empty file (0 bytes)",
        f"error: {media['text']}: not a media file: no audio/video container recognised (Invalid data found when "
        "processing input)", f"error: {media['silent']}: no audio stream: the video has no sound track to transcribe",
        f"error: {layout.home / 'missing.mp4'}: no such file",
    ]
    assert re.search(r"talk\.mp4 \(talk-[0-9a-f]{10}\)\n  top [1-5] of \d+ segments for ", proc.stdout)
    assert re.search(r"  top [1-5] of \d+ segments for [a-z, ]*tiktok\n  #1 .*\n      \d\.\d\d = completeness",
            proc.stdout)
    assert "✓ segments" in proc.stdout and "outputs:" in proc.stdout


def test_a_step_error_reads_as_its_innermost_message_without_class_names():
    from dagster._utils.error import serializable_error_info_from_exc_info

    from ai_assets.cli.process import error_text

    class DecoderFault(Exception):
        pass

    def wrapped(exc: Exception):
        try:
            try:
                raise exc
            except Exception as inner:
                raise RuntimeError('Error occurred while executing op "transcript":') from inner
        except RuntimeError:
            return serializable_error_info_from_exc_info(sys.exc_info())

    assert error_text(wrapped(AssertionError("non-negative timestamp expected"))) == "non-negative timestamp expected"
    assert error_text(wrapped(DecoderFault("CUDA out of memory\nat layer 3"))) == "CUDA out of memory"
    assert error_text(wrapped(DecoderFault())) == "failed with an internal error"
    assert error_text(None) == "failed"


@pytest.mark.slow
def test_a_video_without_speech_goes_through_every_stage(layout, tmp_path):
    """Music or a tone under a picture: no transcript rows, no chapters, no segments, no clips, and no failure."""
    tone = tmp_path / "tone.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=12",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=12", "-shortest", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(tone)], check=True)
    proc = subprocess.run([sys.executable, "-m", "ai_assets.cli", "process", str(tone)],
                          env=child_env(layout), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no span of continuous speech fits a platform's length" in proc.stdout
    assert "clips: none rendered" in proc.stdout
