"""`ai-assets review` in a real chromium on the demo's output: open the list, play a clip, rate it 4."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ai_assets.storage.catalog import connect
from tests.conftest import child_env, free_port, wait_for_port
from tests.processes import stop_group

pytestmark = pytest.mark.slow


@pytest.fixture
def review_url(demo, tmp_path):
    port = free_port()
    log = tmp_path / "review.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("ai-assets")), "review", "--port", str(port)],
            env=child_env(demo["layout"]), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, proc, f"ai-assets review:\n{log.read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc, timeout=10)
        print(log.read_text()[-3000:])


def test_a_clip_plays_and_its_rating_is_stored(page, review_url, demo):
    from playwright.sync_api import expect

    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)  # CSP violations show here
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(review_url + "/")
    page.click(f'a[href="/videos/{demo["key"]}"]')
    page.wait_for_url(f"**/videos/{demo['key']}")

    video = page.locator("video[data-clip-id]").first
    clip_id = video.get_attribute("data-clip-id")
    assert clip_id and clip_id.startswith(demo["key"] + ":")
    selector = f'video[data-clip-id="{clip_id}"]'
    video.evaluate("v => { v.muted = true; return v.play(); }")
    # functions, not expression strings: the page's CSP forbids eval, which Playwright uses for strings
    page.wait_for_function("s => document.querySelector(s).currentTime > 0.2", arg=selector)
    # seeking asks for a byte range in the middle of the file
    video.evaluate("v => { v.pause(); v.currentTime = v.duration / 2; }")
    page.wait_for_function("s => (v => !v.seeking && v.readyState >= 2)(document.querySelector(s))", arg=selector)

    page.evaluate("window.notReloaded = true")
    page.click(f'form[data-clip-id="{clip_id}"] button[data-rating="4"]')
    saved = page.locator(f'[data-feedback-for="{clip_id}"]')
    expect(saved).to_have_text(re.compile(r"rated 4/5"))
    expect(saved).to_have_attribute("data-rating", "4")
    expect(page.locator(f'form[data-clip-id="{clip_id}"] button[data-rating="4"]')).to_have_attribute(
        "aria-pressed", "true")
    assert page.evaluate("window.notReloaded") is True  # updated in place, not by a reload

    conn = connect(demo["home"])
    try:
        rows = conn.sql("SELECT clip_id, rating FROM feedback").fetchall()
    finally:
        conn.close()
    assert (clip_id, 4) in rows
    assert problems == []
