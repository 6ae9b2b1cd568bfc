"""Upload sensor ticks under a thousand uploads: local folder and S3 (moto_server on 127.0.0.1).

    .venv/bin/python benchmarks/sensor.py [--files 1000] [--mb 1]

Drops N files of MB megabytes into an uploads folder, and N objects into a moto bucket, then evaluates
`upload_sensor` tick after tick against a real instance, as the daemon would (partitions added, intake runs
carried out in between, outside the tick's time), until every upload is a partition. Per source it reports
the slowest and the mean tick, the ticks needed, the largest cursor, and the baseline: what one tick cost
before this design, listing everything and hashing every new upload inside the tick (measured here on the
same files as a plain listing plus sha256 of each). The last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import start_moto  # noqa: E402


def run_ticks(instance, layout, resources, max_ticks: int = 100) -> dict:
    """Ticks until a tick asks for nothing and every upload is a partition; the tick alone is timed."""
    import dagster as dg

    from ai_assets.jobs import intake_uploads
    from ai_assets.partitions import videos
    from sensors.uploads import upload_sensor

    cursor, seconds, cursor_sizes, ticks = None, [], [], 0
    idle = 0
    while ticks < max_ticks and idle < 2:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        began = time.perf_counter()
        result = upload_sensor(context)
        seconds.append(time.perf_counter() - began)
        ticks += 1
        cursor = result.cursor
        cursor_sizes.append(len(cursor or ""))
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        for request in result.run_requests:
            if request.job_name == intake_uploads.name:
                intake_uploads.execute_in_process(instance=instance, resources=resources, tags=request.tags)
        idle = idle + 1 if not result.run_requests else 0
    return {"ticks": ticks, "max_tick_s": round(max(seconds), 3), "mean_tick_s": round(sum(seconds) / len(seconds), 3),
            "max_cursor_bytes": max(cursor_sizes), "partitions": len(instance.get_dynamic_partitions(videos.name))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--mb", type=float, default=1.0)
    args = parser.parse_args(argv)

    import boto3
    import dagster as dg

    from ai_assets.ingest.intake import scan_local
    from ai_assets.storage.files import sha256_file
    from ai_assets.storage.settings import Layout
    from resources import UploadSource
    from resources.s3 import LazyS3Resource

    size = int(args.mb * 1_000_000)
    out = {"files": args.files, "mb_each": args.mb}
    moto, endpoint = start_moto()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            uploads = root / "uploads"
            uploads.mkdir()
            for i in range(args.files):
                (uploads / f"talk {i:04d}.mp4").write_bytes(i.to_bytes(4, "big") + os.urandom(size - 4))
            print(f"wrote {args.files} files", file=sys.stderr)
            began = time.perf_counter()
            found = scan_local(uploads)
            for path in found:
                sha256_file(Path(path))
            out["local_baseline_tick_s"] = round(time.perf_counter() - began, 3)

            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            client.create_bucket(Bucket="bench")
            for i in range(args.files):
                client.put_object(Bucket="bench", Key=f"incoming/talk-{i:04d}.mp4",
                                  Body=i.to_bytes(4, "big") + os.urandom(size - 4))
            print(f"put {args.files} objects", file=sys.stderr)
            began = time.perf_counter()
            import hashlib

            for page in client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="incoming/"):
                for obj in page.get("Contents", []):
                    hashlib.sha256(client.get_object(Bucket="bench", Key=obj["Key"])["Body"].read()).hexdigest()
            out["s3_baseline_tick_s"] = round(time.perf_counter() - began, 3)

            for source in ("local", "s3"):
                layout = Layout(root / f"home-{source}")
                resources = {
                    "uploads": UploadSource(local_dir=str(uploads if source == "local" else root / "none"),
                        intake_dir=str(layout.intake), s3_bucket="bench" if source == "s3" else None,
                        s3_prefix="incoming/", settle_seconds=0.0),
                    "s3": LazyS3Resource(endpoint_url=endpoint, region_name="us-east-1"),
                }
                (root / f"dagster-{source}").mkdir()
                with dg.instance_for_test(temp_dir=str(root / f"dagster-{source}")) as instance:
                    out[source] = run_ticks(instance, layout, resources)
                baseline = out[f"{source}_baseline_tick_s"]
                out[source]["max_tick_vs_baseline"] = round(out[source]["max_tick_s"] / baseline, 4)
                print(f"{source}: {out[source]}", file=sys.stderr)
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
