"""The review pages as HTML strings. Every value from the lake goes through `_e` (titles may hold markup)."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem; color: #222; }
a { color: #0b5cad; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
.clips { display: flex; flex-wrap: wrap; gap: 1rem; }
.clip { border: 1px solid #ccc; border-radius: 6px; padding: .8rem; width: 360px; }
.clip video, .clip img { width: 100%; max-height: 480px; background: #000; }
.clip h3 { margin: .4rem 0; font-size: 1.05rem; }
.muted { color: #666; font-size: .9em; }
.safety { background: #fff4e0; border-left: 3px solid #e08a00; padding: .3rem .5rem; }
.not-rendered { background: #f2f2f2; padding: .6rem; font-family: monospace; }
.actions button { margin: .15rem .1rem; padding: .25rem .55rem; cursor: pointer; }
.actions button[aria-pressed="true"] { background: #0b5cad; color: #fff; }
.saved { font-weight: 600; }
dl { display: grid; grid-template-columns: auto 1fr; gap: .1rem .6rem; margin: .4rem 0; }
dt { color: #666; }
"""

# Keep, reject and rate without a reload: the form posts JSON, and the saved summary replaces the old one. Without
# scripts the same form posts normally and the server redirects back.
SCRIPT = """
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-clip-id]");
  if (!form || !event.submitter) return;
  event.preventDefault();
  const clipId = form.dataset.clipId;
  const out = document.querySelector(`[data-feedback-for="${CSS.escape(clipId)}"]`);
  out.textContent = "saving…";
  try {
    // getAttribute: `form.action` would be the button named "action"
    const response = await fetch(form.getAttribute("action"), {method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify({[event.submitter.name]: event.submitter.value})});
    const data = await response.json().catch(() => ({error: response.statusText}));
    if (!response.ok) throw new Error(data.error || response.statusText);
    show(form, out, data.feedback);
  } catch (error) {
    out.textContent = "not saved: " + error.message;
  }
});
function show(form, out, feedback) {
  out.textContent = feedback.text;
  out.dataset.rating = feedback.rating ?? "";
  out.dataset.selected = feedback.selected === null ? "" : String(feedback.selected);
  for (const button of form.querySelectorAll("button")) {
    const on = button.dataset.rating ? Number(button.dataset.rating) === feedback.rating
      : (button.dataset.action === "keep") === feedback.selected && feedback.selected !== null;
    button.setAttribute("aria-pressed", String(on));
  }
}
"""


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def _q(value: str) -> str:
    """A path segment: clip ids hold ':' (kept, it is valid in a path), everything else unusual is quoted."""
    return quote(value, safe=":")


def dagster_link(dagster_url: str, video: str) -> str:
    return f"{dagster_url}/assets/clips?partition={quote(video, safe='')}"


def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = round(float(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def page(title: str, body: str, nonce: str) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<style nonce="{_e(nonce)}">{STYLE}</style></head><body>{body}'
            f'<script nonce="{_e(nonce)}">{SCRIPT}</script></body></html>')


def videos_page(videos: list[dict], dagster_url: str, nonce: str) -> str:
    if not videos:
        rows = '<tr><td colspan="5">No videos yet: process one with <code>ai-assets process FILE</code>.</td></tr>'
    else:
        rows = "".join(
            f'<tr data-video="{_e(v["video"])}"><td><a href="/videos/{_q(v["video"])}">{_e(v["name"] or v["video"])}'
            f'</a><div class="muted">{_e(v["video"])}</div></td><td>{_duration(v["duration"])}</td>'
            f'<td>{v["clips"]} ({v["rendered"]} rendered)</td><td>{_feedback_totals(v)}</td>'
            f'<td><a href="{_e(dagster_link(dagster_url, v["video"]))}">clips in Dagster</a></td></tr>'
            for v in videos)
    body = ("<h1>Clips to review</h1><table><thead><tr><th>Video</th><th>Duration</th><th>Clips</th>"
            f"<th>Feedback so far</th><th></th></tr></thead><tbody>{rows}</tbody></table>")
    return page("Clips to review", body, nonce)


def _feedback_totals(v: dict) -> str:
    if not v["feedback"]:
        return "none"
    rating = f", average rating {v['rating']:.1f}" if v["rating"] is not None else ""
    return f"{v['feedback']} entries: {v['kept']} kept, {v['rejected']} rejected{rating}"


def video_page(v: dict, clips: list[dict], dagster_url: str, nonce: str) -> str:
    by_platform: dict[str, list[dict]] = {}
    for clip in clips:
        by_platform.setdefault(clip["platform"], []).append(clip)
    sections = "".join(
        f'<section data-platform="{_e(platform)}"><h2>{_e(platform)}</h2><div class="clips">'
        + "".join(_clip_card(c, dagster_url) for c in group) + "</div></section>"
        for platform, group in by_platform.items()) or "<p>No clips planned for this video yet.</p>"
    body = (f'<p><a href="/">← all videos</a></p><h1>{_e(v["name"] or v["video"])}</h1>'
            f'<p class="muted">{_e(v["video"])} · {_duration(v["duration"])} · {v["clips"]} clips · '
            f'feedback: {_feedback_totals(v)} · '
            f'<a data-dagster-link href="{_e(dagster_link(dagster_url, v["video"]))}">'
            f"open the clips asset in Dagster</a></p>{sections}")
    return page(v["name"] or v["video"], body, nonce)


def _clip_card(c: dict, dagster_url: str) -> str:
    cid = _e(c["clip_id"])
    if c["rendered"]:
        media = (f'<video controls preload="metadata" data-clip-id="{cid}" src="/media/{_q(c["clip_id"])}/video"'
                 + (f' poster="/media/{_q(c["clip_id"])}/thumbnail"' if c["thumbnail_path"] else "") + "></video>")
    else:
        media = f'<p class="not-rendered">not rendered yet: ai-assets render {cid}</p>'
    hashtags = " ".join(c["hashtags"] or [])
    safety = _safety(c)
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in (
        ("rank", f'{c["rank"]} on {_e(c["platform"])}'),
        ("score", f'<span data-score>{c["score"]:.3f}</span>' if c["score"] is not None else "–"),
        ("why", f'<span data-reason>{_e(c["reason"] or "–")}</span>'),
        ("span", f'{c["start"]:.1f}–{c["end"]:.1f} s ({c["duration"]:.1f} s)'),
        ("layout", f'{_e(c["layout"] or "–")}, {_e(c["aspect"])} {_e(c["width"])}×{_e(c["height"])}'),
    ))
    fb = c["feedback"]
    selected = "" if fb["selected"] is None else str(fb["selected"]).lower()
    buttons = (_button("action", "keep", "Keep", fb["selected"] is True)
               + _button("action", "reject", "Reject", fb["selected"] is False)
               + "".join(_button("rating", str(n), f"{n}★", fb["rating"] == n, f"rate {n} of 5") for n in range(1, 6)))
    return (f'<article class="clip" id="clip-{cid}" data-clip-id="{cid}">{media}'
            f'<h3 data-title>{_e(c["title"] or c["text"] or c["clip_id"])}</h3>'
            + (f'<p data-description>{_e(c["description"])}</p>' if c["description"] else "")
            + (f'<p class="muted" data-hashtags>{_e(hashtags)}</p>' if hashtags else "")
            + f"<dl>{details}</dl>{safety}"
            f'<form class="actions" method="post" action="/clips/{_q(c["clip_id"])}/feedback" data-clip-id="{cid}">'
            f"{buttons}</form>"
            f'<p>Saved: <span class="saved" data-feedback-for="{cid}" data-rating="{_e(fb["rating"])}" '
            f'data-selected="{selected}">{_e(fb["text"])}</span></p>'
            f'<p class="muted">{cid} · <a href="{_e(dagster_link(dagster_url, c["video"]))}">in Dagster</a></p>'
            "</article>")


def _button(name: str, value: str, label: str, pressed: bool, title: str | None = None) -> str:
    attribute = "data-action" if name == "action" else "data-rating"
    return (f'<button type="submit" name="{name}" value="{value}" {attribute}="{value}" '
            f'aria-pressed="{str(pressed).lower()}" title="{_e(title or label)}">{label}</button>')


def _safety(c: dict) -> str:
    notes = []
    if c["held_reason"]:
        notes.append(c["held_reason"])
    elif c["moderation"]:
        notes.append(f"moderation {c['moderation']}: only the local lexicon checked this clip")
    if c["blocked_reason"]:
        notes.append(c["blocked_reason"])
    notes += [f'{f["category"]}' + (f' ({f["score"]:.2f})' if f["score"] is not None else "")
              + f' at {f["start"]:.1f} s: “{f["text"] or ""}”' for f in c["flags"]]
    if not notes:
        return ""
    return '<div class="safety" data-safety>' + "<br>".join(f"⚠ {_e(n)}" for n in notes) + "</div>"
