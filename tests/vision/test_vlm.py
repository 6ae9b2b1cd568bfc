"""The VLM path against an OpenAI-compatible server on loopback: batching, caching, retries, degradation."""

import cv2
import dagster as dg
import numpy as np
import pytest

from ai_assets.assets import keyframes, source_video, visual_analysis
from ai_assets.definitions import build_resources
from ai_assets.vision.vlm import describe
from resources.vlm import VlmResource
from tests.conftest import add_video


@pytest.fixture
def frames(tmp_path):
    out = []
    for i in range(5):
        path = tmp_path / f"{i}.jpg"
        cv2.imwrite(str(path), np.full((90, 160, 3), i * 50, np.uint8))
        out.append({"phash": f"{i:016x}", "path": str(path)})
    return out


def client_for(server, tmp_path, **overrides):
    resource = VlmResource(base_url=server.base_url, api_key="sk-test-secret", cache_dir=str(tmp_path / "cache"),
        **overrides)
    return resource, resource.client()


def test_batches_by_the_policy_limit_and_caches_by_phash(server, frames, tmp_path):
    resource, client = client_for(server, tmp_path)
    settings = resource.settings(max_images_per_call=2)
    result = describe(client, frames + [dict(frames[0])], settings, resource.cache())  # one duplicate frame
    assert (server.calls, server.images, result.calls, result.cached) == (3, 5, 3, 0)
    assert result.degraded is None
    assert result.by_phash[frames[4]["phash"]]["description"].startswith("frame 0 of 1")
    assert (result.input_tokens, result.output_tokens) == (1500, 200)
    assert result.cost_usd(settings) == pytest.approx(1500 / 1e6 * 0.15 + 200 / 1e6 * 0.60)
    assert server.api_keys == {"Bearer sk-test-secret"}
    again = describe(client, frames, settings, resource.cache())
    assert (server.calls, again.calls, again.cached) == (3, 0, 5)


def test_429_is_retried_with_backoff(server, frames, tmp_path):
    server.fail_status, server.fail_times = 429, 2
    resource, client = client_for(server, tmp_path, backoff_s=0.05)
    result = describe(client, frames, resource.settings(50), resource.cache())
    assert result.degraded is None and result.calls == 3 and len(result.by_phash) == 5


def test_persistent_5xx_degrades_within_the_budget(server, frames, tmp_path):
    server.fail_status, server.fail_times = 500, -1
    resource, client = client_for(server, tmp_path, backoff_s=0.05, retry_budget_s=0.5)
    result = describe(client, frames, resource.settings(50), resource.cache())
    assert result.by_phash == {}
    assert result.degraded.startswith("InternalServerError 500 after") and result.degraded.endswith(
        "retry budget spent"
    )
    assert 2 <= server.calls <= 6


def test_timeouts_and_garbage_degrade(server, frames, tmp_path):
    server.delay_s = 0.5
    resource, client = client_for(server, tmp_path, timeout_s=0.1, backoff_s=0.05, retry_budget_s=0.3)
    assert describe(client, frames, resource.settings(50), resource.cache()).degraded.startswith("APITimeoutError")
    server.delay_s, server.garbage = 0.0, True
    assert describe(client, frames, resource.settings(50),
            resource.cache()).degraded == "unusable answer: not the requested JSON object"


def test_concurrency_is_bounded(server, frames, tmp_path):
    server.delay_s = 0.2
    resource, client = client_for(server, tmp_path, max_concurrency=2)
    result = describe(client, frames, resource.settings(max_images_per_call=1), resource.cache())
    assert result.calls == 5 and server.max_in_flight == 2


def test_asset_with_and_without_an_endpoint(layout, instance, media, server):
    key = add_video(layout, instance, media["talk"])
    resources = build_resources(layout)
    local = dg.materialize([source_video, keyframes, visual_analysis], partition_key=key, instance=instance,
        resources=resources)
    meta = local.asset_materializations_for_node("visual_analysis")[0].metadata
    assert meta["degraded"].value == "no VLM endpoint configured" and meta["described"].value == 0

    resources["vlm"] = VlmResource(base_url=server.base_url, api_key="sk-test-secret",
        cache_dir=str(layout.home / "vlm_cache"))
    chain = [source_video, keyframes, visual_analysis]
    described = dg.materialize(chain, selection=[visual_analysis], partition_key=key, instance=instance,
        resources=resources)
    rows = described.output_for_node("visual_analysis").to_pylist()
    meta = described.asset_materializations_for_node("visual_analysis")[0].metadata
    assert meta["degraded"].value is False and meta["described"].value == len(rows) > 0
    assert all(r["vlm_interest"] == 0.5 and r["vlm_objects"] == ["pattern"] for r in rows)
    assert "sk-test-secret" not in str(dict(meta))
    calls = server.calls
    server.fail_status, server.fail_times = 500, -1  # a rerun is served from the cache
    assert dg.materialize(chain, selection=[visual_analysis], partition_key=key, instance=instance,
            resources=resources).success
    assert server.calls == calls
