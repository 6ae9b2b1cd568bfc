"""Clips moderation could not check are held for review under safety_mode "hold", rendered under "publish"."""

from types import SimpleNamespace

from ai_assets.render.review import held_reason, hold

CHECKED, UNCHECKED = {"moderation": None}, {"moderation": "unavailable"}


def jobs():
    return [SimpleNamespace(stem="rank01_tiktok-shorts", eager=True), SimpleNamespace(stem="rank02_tiktok", eager=True),
            SimpleNamespace(stem="rank03_tiktok", eager=False)]


SEGMENTS = {"rank01_tiktok-shorts": [CHECKED, UNCHECKED], "rank02_tiktok": [CHECKED], "rank03_tiktok": [UNCHECKED]}


def test_hold_keeps_unchecked_clips_from_rendering_and_says_why():
    planned = jobs()
    held = hold(planned, lambda job: SEGMENTS[job.stem], "hold")
    assert set(held) == {"rank01_tiktok-shorts", "rank03_tiktok"}  # one unchecked platform holds the shared render
    assert all(r.startswith("moderation unavailable") and "safety_mode hold" in r for r in held.values())
    assert [j.eager for j in planned] == [False, True, False]


def test_publish_renders_them_as_planned():
    planned = jobs()
    assert hold(planned, lambda job: SEGMENTS[job.stem], "publish") == {}
    assert [j.eager for j in planned] == [True, True, False]
    assert held_reason(UNCHECKED, "publish") is None and held_reason(CHECKED, "hold") is None
    assert held_reason({}, "hold") is None  # a segments table from before the column: nothing to hold


def test_a_render_from_before_the_hold_is_withdrawn_and_one_a_person_asked_for_is_kept(tmp_path):
    from ai_assets.ingest.samples import make_face_video
    from ai_assets.policy.documents import DEFAULTS, ClipPolicy
    from ai_assets.render.clips import ClipJob, SourceVideo, render_clips, render_one

    video = make_face_video(tmp_path / "face.mp4", 3.0, lambda t: 0.5, size=(640, 360))
    policy = ClipPolicy.model_validate(DEFAULTS["clip"])
    spec = policy.platforms["tiktok"].model_copy(update={"width": 360, "height": 640})
    source = SourceVideo(video, 640, 360, 25.0, 3.0, True)
    out = tmp_path / "clips"
    published = ClipJob(1, 0.0, 3.0, spec, ["tiktok"], eager=True)
    [clip], _ = render_clips([published], source, [], [], policy, out, None)  # under safety_mode publish
    assert clip.video_path.is_file()
    # Moderation goes down and the policy holds: the earlier render is not kept, its files go.
    held = ClipJob(1, 0.0, 3.0, spec, ["tiktok"], eager=False, held=True)
    rendered, deferred = render_clips([held], source, [], [], policy, out, None)
    assert rendered == [] and deferred == [held] and not clip.video_path.exists()
    # A person renders it (`ai-assets render`): that is the review, and later runs keep it.
    render_one(held, [held], source, [], [], policy, out, None)
    rendered, deferred = render_clips([held], source, [], [], policy, out, None)
    assert [c.video_path.name for c in rendered] == [clip.video_path.name] and deferred == []
