"""What `ai-assets process` prints about a video's clips and its failures."""

import re

import dagster as dg
import pytest

from ai_assets.cli.process import clip_lines, run_partition


def row(platform, rank, path=None, held=None, width=1080, height=1920, layout="crop"):
    return {"platform": platform, "rank": rank, "path": path, "held_reason": held, "width": width, "height": height,
            "duration": 17.6, "layout": layout if path else "not rendered", "clip_id": f"v:{platform}:{rank:08d}"}


def test_unrendered_clips_are_one_line_with_the_command_not_a_file_of_their_own():
    """Seen on a real run: the not-rendered rows (no path) were grouped as one "file", listing every platform twice."""
    rows = [row("linkedin", 1, "clips/v/rank01_linkedin.mp4", width=1080, height=1080),
            *(row(p, 1, "clips/v/rank01_reels-shorts-tiktok.mp4") for p in ("reels", "shorts", "tiktok")),
            *(row(p, rank) for rank in (2, 3) for p in ("linkedin", "reels", "shorts", "tiktok"))]
    lines = clip_lines(rows)
    assert lines[0] == "  clips: 2 files for 4 platforms"
    assert lines[1].startswith("  #1 1080x1080 17.6 s") and lines[1].endswith("linkedin")
    assert lines[3].endswith("reels, shorts, tiktok")
    assert lines[-1] == ("  planned, not rendered: 8 more clips (rank 2, 3); `ai-assets render v:linkedin:00000002` "
                         "renders one")
    assert len(lines) == 6
    assert not any("None" in line for line in lines)


def test_held_clips_are_reported_apart_from_those_beyond_the_render_budget():
    rows = [row("tiktok", 1, held="moderation unavailable"), row("tiktok", 2)]
    assert clip_lines(rows) == [
        "  clips: 0 files for 1 platform",
        "  held for review: 1 clip, moderation unavailable; after a look, `ai-assets render v:tiktok:00000001` "
        "renders one",
        "  planned, not rendered: 1 more clip (rank 2); `ai-assets render v:tiktok:00000002` renders one",
    ]
    assert clip_lines([]) == ["  clips: none rendered (no segment fits a platform)"]


def test_clips_that_failed_to_render_say_why_and_how_to_try_again():
    rows = [row("linkedin", 1, "clips/v/rank01_linkedin.mp4", width=1080, height=1080),
            {**row("tiktok", 1), "render_error": "crop@reframe0: Invalid too big"}, row("tiktok", 2)]
    assert clip_lines(rows)[3:] == [
        "  failed to render: 1 clip, crop@reframe0: Invalid too big; `ai-assets render v:tiktok:00000001` tries again",
        "  planned, not rendered: 1 more clip (rank 2); `ai-assets render v:tiktok:00000002` renders one",
    ]


toy_videos = dg.DynamicPartitionsDefinition(name="toy_cli_videos")


@dg.asset(partitions_def=toy_videos)
def toy_stage(context: dg.AssetExecutionContext) -> None:
    if context.partition_key == "bad-input":
        raise dg.Failure(description="bad-input: not a media file", allow_retries=False)
    raise RuntimeError("the disk went away\nsecond line")


@pytest.mark.parametrize("key", ["bad-input", "internal"])
def test_a_failed_stage_prints_one_reason_and_no_stack_trace(key, capfd):
    job = dg.define_asset_job("toy_job", selection=[toy_stage], partitions_def=toy_videos,
                              executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=[toy_stage], jobs=[job])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("toy_cli_videos", [key])
        reason = run_partition(defs.resolve_job_def("toy_job"), instance, key, "toy.mp4")
        printed = capfd.readouterr()
        run_id = instance.get_runs(limit=1)[0].run_id
    assert "Stack Trace" not in printed.err + printed.out and "Traceback" not in printed.err + printed.out
    assert "[toy.mp4] ✗ toy_stage" in printed.out
    if key == "bad-input":  # the input's fault: the reason alone
        assert reason == "not a media file"
    else:  # ours or the machine's: where the trace is kept
        assert reason == f"toy_stage: the disk went away (trace: run {run_id[:8]} in `./dev.sh ui`)"
        assert re.fullmatch(r"[0-9a-f]{8}", run_id[:8])
