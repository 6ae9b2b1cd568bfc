"""What the surfaces are tried on: the demo's output (every stage for one talk), and a headless Debian chromium."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from ai_assets.definitions import build_defs
from ai_assets.policy.documents import PolicyStore
from ai_assets.storage.settings import HOME_ENV, Layout
from tests.conftest import QUICK_CLIPS, add_video

CHROMIUM = Path(os.environ.get("AI_ASSETS_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags chromium keeps calling Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="session")
def demo(tmp_path_factory, media):
    """Every stage materialized for the sample talk, once per session: what `./dev.sh demo` leaves behind.

    Returns the layout and the partition key; the instance lies in `layout.dagster_home`, so `dagster dev` can be
    started on it."""
    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(home))
        mp.delenv("DAGSTER_HOME", raising=False)
        layout = Layout(home)
        PolicyStore(layout.metrics_db).set("clip", QUICK_CLIPS, "user", "tests: one small render per video")
        layout.dagster_home.mkdir(parents=True)
        with dg.instance_for_test(temp_dir=str(layout.dagster_home)) as instance:
            key = add_video(layout, instance, media["talk"])
            result = build_defs(layout).resolve_job_def("process_video").execute_in_process(
                instance=instance, partition_key=key)
            assert result.success
    return {"layout": layout, "key": key, "home": home}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: ./dev.sh test installs Debian's chromium")
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, request, tmp_path):
    """A fresh page; on failure its screenshot goes to the test's temp folder, and the path into the report."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shot = tmp_path / f"{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    context.close()
