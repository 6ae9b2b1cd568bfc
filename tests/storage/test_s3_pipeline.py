"""The whole graph for one video with its storage on S3 (moto_server on 127.0.0.1): nothing lands in a local lake,
the outputs equal a local run's, and `connect()` reads them from S3."""

from __future__ import annotations

import os

import boto3
import dagster as dg
import pytest

from ai_assets.assets import VIDEO_ASSETS
from ai_assets.definitions import build_defs
from ai_assets.policy.documents import PolicyStore
from ai_assets.storage.catalog import connect
from ai_assets.storage.settings import Layout
from resources.lake import lake_location
from tests.conftest import QUICK_CLIPS, add_video

pytestmark = pytest.mark.slow
PROCESSED = sorted(a.key.to_user_string() for a in VIDEO_ASSETS)
# Columns that name where a file is stored: they differ between roots by design.
LOCATION_COLUMNS = {"media_path", "audio_path", "path", "srt_path", "thumbnail_path"}


def process(layout: Layout, media_file, tmp_path, name: str) -> tuple[str, dg.ExecuteInProcessResult]:
    (tmp_path / name).mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / name)) as instance:
        key = add_video(layout, instance, media_file)
        result = build_defs(layout).resolve_job_def("process_video").execute_in_process(
            instance=instance, partition_key=key)
    return key, result


def comparable(table) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in LOCATION_COLUMNS} for row in table.to_pylist()]


def test_the_graph_runs_on_s3_alone_and_matches_a_local_run(layout, s3_storage, media, tmp_path):
    remote = Layout(layout.home, s3_storage)
    key, result = process(remote, media["talk"], tmp_path, "s3")
    assert result.success
    objects = remote.objects()
    assert objects.remote
    # No local lake, originals or clips: only the node cache holds copies.
    for local in (layout.home / "lake", layout.home / "media", layout.home / "clips"):
        assert not local.exists() or not [p for p in local.rglob("*") if p.is_file()], f"files under {local}"
    for asset in PROCESSED:
        assert objects.exists(lake_location(objects, asset, key)), f"{asset} is not on S3"
    [source] = objects.read_table(lake_location(objects, "source_video", key)).to_pylist()
    assert source["media_path"].startswith(s3_storage + "/media/")
    clips = objects.read_table(lake_location(objects, "clips", key)).to_pylist()
    rendered = [c for c in clips if c["rendered"]]
    assert rendered and all(c["path"].startswith(s3_storage + "/clips/") and objects.exists(c["path"])
        for c in rendered)
    keyframes = objects.read_table(lake_location(objects, "keyframes", key)).to_pylist()
    assert keyframes and all(objects.exists(k["path"]) for k in keyframes)
    bucket, _, prefix = s3_storage[len("s3://"):].partition("/")
    client = boto3.client("s3", endpoint_url=os.environ["AI_ASSETS_S3_ENDPOINT_URL"], region_name="us-east-1")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert not [k for k in keys if k.endswith(".tmp")], "temporary keys were left behind"

    # A notebook reads the same tables from S3.
    conn = connect(remote.home)
    for asset in ("transcript", "segments", "clips", "keyframes"):
        [(count,)] = conn.execute(f"SELECT count(*) FROM {asset}").fetchall()
        assert count == objects.read_table(lake_location(objects, asset, key)).num_rows
    assert conn.execute("SELECT count(*) FROM metrics WHERE video = ?", [key]).fetchone()[0] >= len(PROCESSED)

    # The same video under a local root gives the same tables, but for the columns naming where files are.
    os.environ.pop("AI_ASSETS_STORAGE")
    local = Layout(tmp_path / "local-home")
    PolicyStore(local.metrics_db).set("clip", QUICK_CLIPS, "user", "tests: as the S3 run")
    local_key, local_result = process(local, media["talk"], tmp_path, "local")
    assert local_result.success and local_key == key
    local_objects = local.objects()
    for asset in PROCESSED:
        remote_rows = comparable(objects.read_table(lake_location(objects, asset, key)))
        local_rows = comparable(local_objects.read_table(lake_location(local_objects, asset, key)))
        assert remote_rows == local_rows, f"{asset} differs between S3 and a local root"
