"""The Dagster UI as a user meets it, in headless chromium: lineage by domain, the segments and clips pages with
what a reviewer reads, and a materialization launched by clicking."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ai_assets.instance import ensure_instance_config
from ai_assets.policy.documents import PolicyStore
from tests.conftest import REPO, child_env, dagster_graphql, free_port, wait_for
from tests.processes import stop_group
from tests.test_definitions import GROUPS

pytestmark = pytest.mark.slow

RUNS = ("{ runsOrError { ... on Runs { results { runId status creationTime assetSelection { path } "
        "tags { key value } } } } }")


@pytest.fixture
def dagster_ui(demo, tmp_path):
    """`dagster dev` on the demo's instance, on a free loopback port; stopped by its process group."""
    layout = demo["layout"]
    # The instance the demo ran in, now with the shipped template (the test instance wrote a minimal one).
    (layout.dagster_home / "dagster.yaml").unlink(missing_ok=True)
    ensure_instance_config(layout.dagster_home)
    env = child_env(layout) | {"DAGSTER_HOME": str(layout.dagster_home), "AI_ASSETS_MODEL_WORKER": "off"}
    port = free_port()
    log_path = tmp_path / "dagster-dev.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p",
             str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            def up():
                assert server.poll() is None, log_path.read_text()[-3000:]
                try:
                    return dagster_graphql(port, "{ version }")
                except OSError:
                    return None

            wait_for(up, 180, "the webserver")
            yield {"url": f"http://127.0.0.1:{port}", "port": port, "log": log_path}
        finally:
            stop_group(server)


def _open(page, url: str) -> None:
    # Dagster's first-visit community dialog covers the page whenever it appears; a user clicks it away.
    skip = page.get_by_role("button", name="Skip")
    page.add_locator_handler(skip, lambda button: button.click())
    page.goto(url)


def test_lineage_groups_and_the_pages_a_reviewer_reads(dagster_ui, demo, page):
    _open(page, f"{dagster_ui['url']}/asset-groups")
    for group in sorted(GROUPS):  # the lineage sidebar lists the domains, not a sprawl of assets
        page.get_by_text(group, exact=True).first.wait_for()

    page.goto(f"{dagster_ui['url']}/assets/segments")
    page.get_by_text("Latest materialization").first.wait_for()
    platforms = PolicyStore(demo["layout"].metrics_db).current("segment").parsed().platforms
    for platform in platforms:  # every platform's top list, with its reasons
        page.get_by_text(f"top_{platform}", exact=True).first.wait_for()
    assert page.get_by_text("completeness .").count() >= len(platforms)
    for number in ("seconds", "confidence"):
        page.get_by_text(number, exact=True).first.wait_for()

    page.goto(f"{dagster_ui['url']}/assets/clips")
    page.get_by_text("rendered", exact=True).first.wait_for()
    page.get_by_text(f"/videos/{demo['key']}").first.wait_for()  # the review page's link
    page.get_by_text("[Show Markdown]").first.click()
    thumbnails = page.locator("img[src^='data:image/jpeg']")
    thumbnails.first.wait_for()
    assert thumbnails.first.evaluate("img => img.naturalWidth") > 0  # drawn, not a broken image

    page.goto(f"{dagster_ui['url']}/assets/transcript")
    page.get_by_text("excerpt", exact=True).first.wait_for()
    page.get_by_text("realtime_factor", exact=True).first.wait_for()


def test_a_partition_materialized_by_clicking_succeeds(dagster_ui, demo, page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    key, port = demo["key"], dagster_ui["port"]
    started = time.time()
    _open(page, f"{dagster_ui['url']}/assets/source_video")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.locator("[role=dialog]").filter(has_text="Launch runs to materialize source_video")
    dialog.wait_for()

    def pick_partition(timeout_ms: float) -> None:
        search = page.get_by_placeholder("Filter partitions")
        if not search.is_visible():
            dialog.locator("[class*=TagSelector_tagSelectorContainer]").click()  # the partition picker
        search.fill(key)
        page.locator("label", has_text=key).first.click(timeout=timeout_ms)

    try:
        pick_partition(15_000)
    except PlaywrightTimeout:
        # Dagster's community dialog can open in the middle of the pick (seen once in CI); the handler clicks it
        # away, and the picker may close under it. A user would open it again.
        pick_partition(30_000)
    page.keyboard.press("Escape")  # closes the picker, not the dialog
    dialog.get_by_role("button", name="Launch 1 run").click()

    def by_hand(run) -> bool:  # not one the sensors or automation launched meanwhile
        return not any(t["key"] in ("dagster/sensor_name", "dagster/schedule_name", "dagster/backfill")
                       or t["key"].startswith("dagster/auto") for t in run["tags"])

    def finished():
        runs = sorted((r for r in dagster_graphql(port, RUNS)["runsOrError"]["results"]
                       if r["creationTime"] >= started - 1 and {"key": "dagster/partition", "value": key} in r["tags"]
                       and by_hand(r)), key=lambda r: r["creationTime"])
        return runs[0] if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    run = wait_for(finished, 240, "the launched run", dagster_ui["log"])
    assert run["status"] == "SUCCESS", run
    assert [a["path"] for a in run["assetSelection"]] == [["source_video"]]  # what was clicked, nothing more
    # The UI shows it too: the run's page says it succeeded.
    page.goto(f"{dagster_ui['url']}/runs/{run['runId']}")
    page.get_by_text("Success", exact=True).first.wait_for()
