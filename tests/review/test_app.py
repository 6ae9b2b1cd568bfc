"""The review app on a home with real parquet tables and a real tiny clip: pages, feedback writes, media, guards."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ai_assets.cli import main
from ai_assets.review.app import checked_dagster_url, create_app
from ai_assets.storage.catalog import connect
from ai_assets.storage.tables import SIGNALS, to_table
from resources.lake import lake_file

KEY = "big-talk-0123456789"
OTHER = "second-talk-abcdef0123"
BASE = "http://127.0.0.1:8765"
DAGSTER = "http://dagster.test:3000"
HOSTILE = '<script>alert("x")</script> Why & how'
KEPT = f"{KEY}:tiktok:aaaa1111"  # rendered, with copy, a safety flag
PLANNED = f"{KEY}:youtube:bbbb2222"  # not rendered
ESCAPED = f"{KEY}:linkedin:cccc3333"  # rendered, but its paths point outside the clips folder
ORPHAN = f"{KEY}:tiktok:dddd4444"  # its segment is gone (re-ranked)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A 1 s H.264/AAC clip and a JPEG thumbnail, as small as ffmpeg makes them."""
    folder = tmp_path_factory.mktemp("review-media")
    video, thumb = folder / "clip.mp4", folder / "thumb.jpg"
    ffmpeg = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error"]
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "testsrc=size=64x112:rate=10:duration=1", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-shortest", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", str(video)], check=True)
    subprocess.run([*ffmpeg, "-f", "lavfi", "-i", "testsrc=size=64x112", "-frames:v", "1", str(thumb)], check=True)
    return {"video": video, "thumbnail": thumb}


def write(layout, asset: str, key: str, rows: list[dict]) -> None:
    path = lake_file(layout.lake, asset, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_table(asset, rows), path)


def segment(platform: str, rank: int, text: str, reason: str, **extra) -> dict:
    return {"video": KEY, "platform": platform, "rank": rank, "start": 10.0, "end": 40.0, "duration": 30.0,
            "score": 0.812, **{s: 0.5 for s in SIGNALS}, "reason": reason, "text": text, "policy_version": 3, **extra}


def clip(clip_id: str, rank: int, text: str, rendered: bool, path, thumbnail) -> dict:
    return {"video": KEY, "clip_id": clip_id, "platform": clip_id.split(":")[1], "rank": rank, "start": 10.0,
            "end": 40.0, "duration": 30.0, "width": 360, "height": 640, "aspect": "9:16", "rendered": rendered,
            "layout": "face_crop", "path": path and str(path), "thumbnail_path": thumbnail and str(thumbnail),
            "score": 0.812, "text": text, "policy_version": 1}


@pytest.fixture
def home(layout, media, tmp_path):
    folder = layout.clips / KEY
    folder.mkdir(parents=True)
    video, thumb = folder / "kept.mp4", folder / "kept.jpg"
    shutil.copyfile(media["video"], video)
    shutil.copyfile(media["thumbnail"], thumb)
    secret = tmp_path / "secret.jpg"
    secret.write_text("not for the browser")
    (folder / "link.jpg").symlink_to(secret)  # inside the folder by name, outside it in fact
    write(layout, "source_video", KEY, [{"video": KEY, "name": "Big Talk.mp4", "duration": 754.0}])
    write(layout, "segments", KEY, [
        segment("tiktok", 1, "the kept text", "strong hook: opens with a question"),
        segment("youtube", 1, "the planned text", "complete thought, lively speech"),
        segment("linkedin", 1, "the escaped text", "a clear claim"),
    ])
    write(layout, "clip_copy", KEY, [
        {"video": KEY, "platform": "tiktok", "rank": 1, "title": HOSTILE, "description": "A <b>bold</b> claim.",
         "hashtags": ["#BigIdeas", "#Talks"]},
        {"video": KEY, "platform": "youtube", "rank": 1, "title": "The planned one", "hashtags": []},
    ])
    write(layout, "safety", KEY, [
        {"video": KEY, "start": 12.0, "end": 13.0, "category": "profanity", "score": 0.4, "text": "darn"},
        {"video": KEY, "start": 300.0, "end": 301.0, "category": "violence", "score": 0.9, "text": "elsewhere"},
    ])
    write(layout, "clips", KEY, [
        clip(KEPT, 1, "the kept text", True, video, thumb),
        clip(PLANNED, 1, "the planned text", False, None, None),
        clip(ESCAPED, 1, "the escaped text", True, "/etc/passwd", folder / "link.jpg"),
        clip(ORPHAN, 2, "text of no current segment", True, folder / ".." / ".." / ".." / "secret.jpg", None),
    ])
    return layout


@pytest.fixture
def client(home):
    with TestClient(create_app(home, dagster_url=DAGSTER + "/"), base_url=BASE) as c:
        yield c


def feedback(layout) -> list[dict]:
    conn = connect(layout.home)
    try:
        return conn.sql("SELECT clip_id, rating, selected FROM feedback ORDER BY created_at").df().to_dict("records")
    finally:
        conn.close()


def test_the_list_shows_each_video_with_its_clips_and_a_dagster_link(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Big Talk.mp4" in page.text and f'href="/videos/{KEY}"' in page.text
    assert "12:34" in page.text and "4 (3 rendered)" in page.text
    assert f'href="{DAGSTER}/assets/clips?partition={KEY}"' in page.text  # trailing slash of the URL dropped


def test_the_video_page_shows_copy_score_reason_and_safety_per_platform(client):
    page = client.get(f"/videos/{KEY}")
    assert page.status_code == 200
    text = page.text
    for platform in ("tiktok", "youtube", "linkedin"):
        assert f'data-platform="{platform}"' in text
    assert "#BigIdeas #Talks" in text and "A &lt;b&gt;bold&lt;/b&gt; claim." in text
    assert "0.812" in text and "strong hook: opens with a question" in text
    assert "profanity (0.40)" in text and "elsewhere" not in text  # only flags inside the clip's span
    assert f'<video controls preload="metadata" data-clip-id="{KEPT}" src="/media/{KEPT}/video" ' \
           f'poster="/media/{KEPT}/thumbnail">' in text
    assert f"not rendered yet: ai-assets render {PLANNED}" in text
    assert f'data-clip-id="{KEPT}"' in text and 'data-action="keep"' in text and 'data-rating="4"' in text
    assert f'href="{DAGSTER}/assets/clips?partition={KEY}"' in text


def test_a_hostile_title_is_escaped_and_only_the_nonced_script_runs(client):
    page = client.get(f"/videos/{KEY}")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Why &amp; how" in page.text
    assert '<script>alert("x")' not in page.text
    assert page.text.count("<script") == 1
    nonce = page.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page.text and "frame-ancestors 'none'" in page.headers[
        "content-security-policy"]


def test_rating_four_stores_exactly_one_row_and_the_page_shows_it(client, home):
    answer = client.post(f"/clips/{KEPT}/feedback", json={"rating": 4})
    assert answer.status_code == 200, answer.text
    assert answer.json()["feedback"] == {"entries": 1, "rating": 4, "selected": None, "text": "rated 4/5 · 1 entry"}
    rows = feedback(home)
    assert len(rows) == 1 and rows[0]["clip_id"] == KEPT and rows[0]["rating"] == 4
    page = client.get(f"/videos/{KEY}").text
    assert f'data-feedback-for="{KEPT}" data-rating="4"' in page and "rated 4/5" in page
    assert 'data-rating="4" aria-pressed="true"' in page
    assert "1 entries: 0 kept, 0 rejected, average rating 4.0" in client.get("/").text


def test_keep_and_reject_store_selected_true_and_false(client, home):
    assert client.post(f"/clips/{KEPT}/feedback", json={"action": "keep"}).json()["feedback"]["selected"] is True
    # the page's form without scripts: an urlencoded post, answered with a redirect back to the clip
    answer = client.post(f"/clips/{PLANNED}/feedback", data={"action": "reject"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/videos/{KEY}#clip-{PLANNED}"
    rows = sorted(feedback(home), key=lambda r: r["clip_id"])  # written within the same microsecond, maybe
    assert [(r["clip_id"], r["selected"]) for r in rows] == [(KEPT, True), (PLANNED, False)]
    assert all(r["rating"] != r["rating"] or r["rating"] is None for r in rows)  # no rating given: null (NaN in pandas)


def test_the_list_counts_each_clip_by_its_latest_feedback(client, home):
    for body in ({"action": "keep"}, {"rating": 2}, {"action": "reject"}, {"rating": 5}):
        assert client.post(f"/clips/{KEPT}/feedback", json=body).status_code == 200
    # Four clicks on one clip: it was kept, then rejected, and is now rated 5, as its card says.
    assert "4 entries: 0 kept, 1 rejected, average rating 5.0" in client.get("/").text


@pytest.mark.parametrize("body", [{"rating": 0}, {"rating": 6}, {"rating": "x"}, {"rating": "4.0"}, {"rating": 4.0},
    {"rating": True}, {"rating": [4]}, {"action": "publish"}, {"action": "KEEP"}, {}, {"rating": 4, "note": "x"}])
def test_invalid_feedback_is_a_400_and_writes_nothing(client, home, body):
    answer = client.post(f"/clips/{KEPT}/feedback", json=body)
    assert answer.status_code == 400 and "Traceback" not in answer.text and answer.json()["error"]
    assert feedback(home) == []


@pytest.mark.parametrize("form", [{"rating": "0"}, {"rating": "6"}, {"rating": "x"}, {"rating": " 4"}])
def test_invalid_form_ratings_are_a_400_in_plain_text(client, home, form):
    answer = client.post(f"/clips/{KEPT}/feedback", data=form)
    assert answer.status_code == 400 and answer.text.startswith("rating must be an integer from 1 to 5")
    assert feedback(home) == []


@SETTINGS
@given(rating=st.one_of(st.integers(), st.text(max_size=6), st.floats(allow_nan=False, allow_infinity=False),
                        st.booleans()))
def test_any_rating_but_one_to_five_is_refused(client, home, rating):
    before = len(feedback(home))
    answer = client.post(f"/clips/{KEPT}/feedback", json={"rating": rating})
    valid = not isinstance(rating, bool | float) and str(rating) in {"1", "2", "3", "4", "5"}
    assert answer.status_code == (200 if valid else 400)
    assert len(feedback(home)) == before + valid


@SETTINGS
@given(clip_id=st.text(min_size=1, max_size=40).filter(lambda s: s not in (KEPT, PLANNED, ESCAPED, ORPHAN)))
def test_unknown_clip_ids_are_404_everywhere(client, home, clip_id):
    path = quote(clip_id, safe="")
    for kind in ("video", "thumbnail"):
        assert client.get(f"/media/{path}/{kind}").status_code == 404
    assert client.post(f"/clips/{path}/feedback", json={"rating": 4}).status_code == 404
    assert feedback(home) == []


def test_unknown_or_malformed_videos_and_clips_are_404(client, home):
    assert client.get(f"/videos/{OTHER}").status_code == 404
    assert client.get("/videos/..%2F..%2Fetc").status_code == 404
    answer = client.post(f"/clips/{KEY}:tiktok:ffffffff/feedback", json={"rating": 4})
    assert answer.status_code == 404 and "no clip" in answer.json()["error"]
    assert feedback(home) == []


def test_media_outside_the_clips_folder_is_never_served(client):
    for url in ("/media/..%2F..%2Fetc%2Fpasswd/video", "/media/%2Fetc%2Fpasswd/video", f"/media/{KEPT}/..%2F..%2Fx",
                f"/media/{ESCAPED}/video", f"/media/{ESCAPED}/thumbnail", f"/media/{ORPHAN}/video",
                f"/media/{PLANNED}/video", f"/media/{KEPT}/srt"):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert "root:" not in answer.text and "not for the browser" not in answer.text


def test_media_is_served_by_clip_id_with_ranges(client, home, media):
    data = media["video"].read_bytes()
    full = client.get(f"/media/{KEPT}/video")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"
    part = client.get(f"/media/{KEPT}/video", headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes 100-299/{len(data)}"
    assert part.content == data[100:300]
    tail = client.get(f"/media/{KEPT}/video", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    thumb = client.get(f"/media/{KEPT}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:9999"},
    {"Origin": "null"}, {"Referer": "http://evil.example/rate.html"}])
def test_cross_site_posts_are_refused(client, home, headers):
    answer = client.post(f"/clips/{KEPT}/feedback", json={"rating": 5}, headers=headers)
    assert answer.status_code == 403
    assert feedback(home) == []


def test_posts_from_the_page_itself_are_accepted(client, home):
    for headers in ({"Origin": BASE}, {"Referer": f"{BASE}/videos/{KEY}"}):
        assert client.post(f"/clips/{KEPT}/feedback", json={"rating": 5}, headers=headers).status_code == 200
    assert [r["rating"] for r in feedback(home)] == [5, 5]


def test_a_host_header_that_is_not_loopback_is_refused(client):
    # DNS rebinding: evil.example resolving to 127.0.0.1 would make the page its own origin
    assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200


def test_a_clip_whose_segment_is_gone_gets_a_readable_400(client, home):
    answer = client.post(f"/clips/{ORPHAN}/feedback", json={"action": "keep"})
    assert answer.status_code == 400 and "no segment any more" in answer.json()["error"]
    assert feedback(home) == []


def test_new_videos_show_without_a_restart(client, home):
    assert "Second Talk" not in client.get("/").text
    write(home, "source_video", OTHER, [{"video": OTHER, "name": "Second Talk.mp4", "duration": 60.0}])
    assert "Second Talk.mp4" in client.get("/").text
    assert client.get(f"/videos/{OTHER}").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_the_cli_refuses_a_host_that_is_not_loopback(host, capsys):
    assert main(["review", "--host", host]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "loopback" in err


def test_the_dagster_url_must_be_http():
    assert checked_dagster_url("http://127.0.0.1:3000/") == "http://127.0.0.1:3000"
    for bad in ("javascript:alert(1)", "ftp://x", 'http://x" onclick="y'):
        with pytest.raises(ValueError):
            checked_dagster_url(bad)


def test_under_s3_storage_only_objects_under_clips_are_fetched_into_the_cache(s3_storage, layout, media):
    import boto3

    from ai_assets.review.data import media_file
    from ai_assets.storage.settings import Layout

    layout = Layout.from_env()
    bucket = s3_storage[len("s3://"):].split("/")[0]
    s3 = boto3.client("s3", endpoint_url=os.environ["AI_ASSETS_S3_ENDPOINT_URL"], region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key=f"ai-assets/clips/{KEY}/kept.mp4", Body=media["video"].read_bytes())
    s3.put_object(Bucket=bucket, Key="ai-assets/lake/secret.mp4", Body=b"not a clip")
    path = media_file(layout, f"{s3_storage}/clips/{KEY}/kept.mp4")
    assert path is not None and path.is_relative_to(layout.object_cache.resolve())
    assert path.read_bytes() == media["video"].read_bytes()
    for location in (f"{s3_storage}/lake/secret.mp4", f"{s3_storage}/clips/../lake/secret.mp4",
                     f"{s3_storage}/clips/{KEY}/missing.mp4", f"s3://other-bucket/ai-assets/clips/{KEY}/kept.mp4",
                     str(layout.clips / KEY / "kept.mp4")):
        assert media_file(layout, location) is None, location
