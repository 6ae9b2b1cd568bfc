"""What `ai-assets process` prints about a video's clips."""

from ai_assets.cli.process import clip_lines


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
    assert clip_lines([]) == ["  clips: none rendered (the file has no picture, or no segment fits a platform)"]
