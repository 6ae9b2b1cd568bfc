"""The review app: list videos, show a video's clips, serve their media by clip id, and store feedback.

Served on loopback only, so the guards are against other web pages in the user's browser, not other users:
a Host header that is not a loopback name is refused (DNS rebinding), a POST from another origin is refused
(cross-site rating), pages may run only their own nonce'd script, and media files are looked up by clip id in the
clips table and must lie inside the clips folder (or the object cache); no path is taken from the URL.
"""

from __future__ import annotations

import ipaddress
import json
import mimetypes
import re
import secrets
from urllib.parse import parse_qs, quote, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ai_assets.ranking.feedback import FeedbackError, record
from ai_assets.review import data, pages
from ai_assets.storage.settings import Layout

DAGSTER_URL_ENV = "AI_ASSETS_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
MAX_BODY_BYTES = 4096  # a rating is a few bytes
ACTIONS = {"keep": True, "reject": False}


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (with or without IPv6 brackets)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def checked_dagster_url(url: str) -> str:
    """The Dagster UI's base URL without a trailing slash; ValueError unless it is http(s) (it becomes a link)."""
    if not re.fullmatch(r"https?://[^\s\"'<>]+", url or ""):
        raise ValueError(f"the Dagster URL must be an http:// or https:// URL (got {url!r})")
    return url.rstrip("/")


class LoopbackHosts:
    """Refuses requests whose Host header names anything but loopback: a page on another name that resolves to
    127.0.0.1 (DNS rebinding) would otherwise count as this server's own origin."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            try:
                name = urlsplit(f"//{host}").hostname or ""
            except ValueError:
                name = ""
            if not is_loopback(name):
                await PlainTextResponse("this review server answers loopback names only (127.0.0.1, localhost)\n",
                    status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(layout: Layout | None = None, dagster_url: str = DEFAULT_DAGSTER_URL) -> Starlette:
    layout = layout or Layout.from_env()
    dagster_url = checked_dagster_url(dagster_url)

    def index(request: Request):
        with data.lake(layout) as conn:
            videos = data.videos(conn)
        return _html(lambda nonce: pages.videos_page(videos, dagster_url, nonce))

    def video(request: Request):
        key = request.path_params["video"]
        with data.lake(layout) as conn:
            found = data.video(conn, key)
            if found is None:
                raise HTTPException(404, f"no video {_shown(key)}: pick one from the list at /")
            clips = data.clips(conn, key)
        return _html(lambda nonce: pages.video_page(found, clips, dagster_url, nonce))

    def media(request: Request):
        clip_id, kind = request.path_params["clip_id"], request.path_params["kind"]
        if kind not in ("video", "thumbnail"):
            raise HTTPException(404, "media is /media/CLIP_ID/video or /media/CLIP_ID/thumbnail")
        with data.lake(layout, ("clips",)) as conn:
            row = data.clip(conn, clip_id)
        if row is None:
            raise HTTPException(404, f"no clip {_shown(clip_id)}")
        path = data.media_file(layout, row["path"] if kind == "video" else row["thumbnail_path"])
        if path is None:
            raise HTTPException(404, f"clip {_shown(clip_id)} has no {kind} file (not rendered yet?)")
        # Only the expected kind of media type: a stray .html in the clips folder must not render as a page.
        guessed = mimetypes.guess_type(path.name)[0] or ""
        wanted = "video/" if kind == "video" else "image/"
        return FileResponse(path, media_type=guessed if guessed.startswith(wanted) else "application/octet-stream",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})

    async def feedback(request: Request):
        if not _same_origin(request):
            raise HTTPException(403, "refused: feedback may only be posted from this review page")
        clip_id = request.path_params["clip_id"]
        body = await _body(request)

        def write():
            with data.lake(layout, ("clips",)) as conn:
                row = data.clip(conn, clip_id)
            if row is None:
                raise HTTPException(404, f"no clip {_shown(clip_id)}")
            rating, selected = _checked(_fields(request, body))
            try:
                record(clip_id, rating=rating, selected=selected, home=layout.home)
            except FeedbackError as exc:
                raise HTTPException(400, str(exc)) from exc
            with data.lake(layout, ("feedback",)) as conn:
                return row, data.feedback_of(conn, clip_id)

        row, summary = await run_in_threadpool(write)
        if _wants_json(request):
            return JSONResponse({"clip_id": clip_id, "feedback": summary})
        return RedirectResponse(f"/videos/{quote(row['video'], safe='')}#clip-{quote(clip_id, safe=':')}", 303)

    async def problem(request: Request, exc: HTTPException):
        if _wants_json(request):
            return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
        # The message may echo a clip id from the URL: plain text that no browser may sniff into a page.
        headers = {**(exc.headers or {}), "X-Content-Type-Options": "nosniff"}
        return PlainTextResponse(f"{exc.detail}\n", exc.status_code, headers=headers)

    app = Starlette(routes=[
        Route("/", index),
        Route("/videos/{video}", video),
        Route("/media/{clip_id}/{kind}", media),
        Route("/clips/{clip_id}/feedback", feedback, methods=["POST"]),
        Route("/favicon.ico", lambda request: Response(status_code=204)),  # browsers ask; no 404 in their console
    ], exception_handlers={HTTPException: problem})
    app.add_middleware(LoopbackHosts)
    return app


def _html(render) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    csp = (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self'; "
           "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    return HTMLResponse(render(nonce), headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"})


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else f"{value[:77]}...")


def _same_origin(request: Request) -> bool:
    """False when the browser says the POST comes from another origin (Origin, else Referer); requests without
    either (curl, scripts on this machine) are not from a web page and pass."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own
    referer = request.headers.get("referer")
    if referer is not None:
        try:
            parts = urlsplit(referer)
        except ValueError:
            return False
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return True


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") \
        or request.headers.get("content-type", "").startswith("application/json")


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "request body too large")
    return body


def _fields(request: Request, body: bytes) -> dict:
    """The posted fields: a JSON object, or an urlencoded form (what the page's form sends without scripts)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            fields = json.loads(body or b"{}")
            if not isinstance(fields, dict):
                raise ValueError("not an object")
            return fields
        if content_type in ("", "application/x-www-form-urlencoded"):
            return {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False).items()}
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"unreadable request body: {exc}") from exc
    raise HTTPException(415, "send JSON or an urlencoded form")


def _checked(fields: dict) -> tuple[int | None, bool | None]:
    """(rating, selected) from {"rating": 1–5} and/or {"action": "keep" | "reject"}; 400 for anything else."""
    unknown = set(fields) - {"rating", "action"}
    if unknown:
        raise HTTPException(400, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}: send rating or action")
    rating, action = fields.get("rating"), fields.get("action")
    if rating is not None:
        # bool is an int in Python, and "4.0" or " 4" are not what a button sends
        if isinstance(rating, str) and re.fullmatch(r"[1-5]", rating):
            rating = int(rating)
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise HTTPException(400, "rating must be an integer from 1 to 5")
    if action is not None and (not isinstance(action, str) or action not in ACTIONS):
        raise HTTPException(400, "action must be keep or reject")
    if rating is None and action is None:
        raise HTTPException(400, "send a rating (1–5) or an action (keep or reject)")
    return rating, ACTIONS[action] if action is not None else None
