"""The notebook entry point: every output as DuckDB views, and semantic search over what was said.

    from ai_assets.catalog import connect, search
    connect().sql("from segments").df()
    search("pricing objections", k=10)

The logic lives in ai_assets.storage.catalog and ai_assets.language.search.
"""

from ai_assets.language.search import search
from ai_assets.storage.catalog import connect, metrics_snapshot

__all__ = ["connect", "metrics_snapshot", "search"]
