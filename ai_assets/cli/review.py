"""`ai-assets review`: serve the clip review page on loopback."""

from __future__ import annotations

import os
import sys


def review_command(port: int, host: str, dagster_url: str | None) -> int:
    from ai_assets.review.app import DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL, create_app, is_loopback
    from ai_assets.storage.settings import Layout

    # The page writes feedback without a login: anyone who can reach it could rate clips, so it stays on this machine.
    if not is_loopback(host):
        print(f"error: --host {host} is not a loopback address; the review page serves 127.0.0.1 (or localhost) only",
              file=sys.stderr)
        return 2
    if not 1 <= port <= 65535:
        print(f"error: --port {port} is not a TCP port (1–65535)", file=sys.stderr)
        return 2
    try:
        app = create_app(Layout.from_env(), dagster_url=dagster_url or os.environ.get(DAGSTER_URL_ENV)
                         or DEFAULT_DAGSTER_URL)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    print(f"review page: http://{shown}:{port}/ (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning")
    return 0
