"""Policy history as text, for the UI's metadata and the CLI."""

from ai_assets.policy.documents import Policy, PolicyDecision


def history_markdown(history: list[Policy], limit: int = 20) -> str:
    lines = ["| version | created (UTC) | author | sha256 | reason |", "|---|---|---|---|---|"]
    for policy in reversed(history[-limit:]):
        reason = policy.reason.replace("|", "/").replace("\n", " ")
        lines.append(f"| {policy.version} | {policy.created_at:%Y-%m-%d %H:%M} | {policy.author} | "
            f"{policy.sha256[:12]} | {reason} |")
    return "\n".join(lines)


def decisions_markdown(decisions: list[PolicyDecision]) -> str:
    """The optimizer's latest decisions, newest first, each with its evidence table."""
    if not decisions:
        return "no optimizer decision yet"
    parts = []
    for d in decisions:
        outcome = f"stored v{d.version}" if d.changed else "no change"
        parts.append(f"**{d.decided_at:%Y-%m-%d %H:%M} UTC, {outcome}:** {d.summary}\n\n{d.evidence}")
    return "\n\n".join(parts)
