"""Policy history as text, for the UI's metadata and the CLI."""

from ai_assets.policy.documents import Policy


def history_markdown(history: list[Policy], limit: int = 20) -> str:
    lines = ["| version | created (UTC) | author | sha256 | reason |", "|---|---|---|---|---|"]
    for policy in reversed(history[-limit:]):
        reason = policy.reason.replace("|", "/").replace("\n", " ")
        lines.append(f"| {policy.version} | {policy.created_at:%Y-%m-%d %H:%M} | {policy.author} | "
            f"{policy.sha256[:12]} | {reason} |")
    return "\n".join(lines)
