"""`ai-assets review`: a small loopback web page to watch rendered clips and keep, reject or rate them.

`data` reads the lake (a fresh DuckDB connection per request, so new clips show without a restart), `pages`
renders escaped HTML, and `app` wires both into a Starlette app that writes feedback through
`ai_assets.ranking.feedback.record`, the same store as `ai-assets feedback`.
"""

DEFAULT_PORT = 8765
# Where the Dagster UI's `clips` metadata links to: the page as `ai-assets review` serves it by default.
REVIEW_URL_ENV = "AI_ASSETS_REVIEW_URL"
DEFAULT_REVIEW_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
