"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for tests.

It answers strict JSON for the images it receives (clip copy when a request has no image), and can
be told to fail (429, 500), to be slow, or to answer garbage; it counts calls and the most requests
it had in flight at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent", "self-harm",
    "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic",
)

# Longer than TikTok's caption limit, so tests see copy cut to a platform's limits.
COPY_DESCRIPTION = (
    "A black hole swallows light, yet the gas falling into it glows brighter than whole galaxies. "
    "In this clip the speaker explains how friction in the disk heats matter to millions of degrees, "
    "and why that glow lets telescopes see black holes at all."
)


class FakeOpenAI:
    def __init__(self):
        self.calls = 0
        self.images = 0
        self.text_calls = 0  # answered chat completions without images: clip copy
        self.chat_bodies: list[dict] = []  # every chat completion request, as sent
        self.fail_status: int | None = None
        self.fail_times = 0  # fail this many calls, then answer; -1 fails every call
        self.delay_s = 0.0
        self.garbage = False
        self.in_flight = 0
        self.max_in_flight = 0
        self.api_keys: set[str] = set()
        # /v1/moderations: a text containing a term (case-insensitive) gets that term's OpenAI category scores.
        self.moderation_terms: dict[str, dict[str, float]] = {}
        self.moderation_calls = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.endswith("/moderations"):
                    return self._moderate(body)
                with fake._lock:
                    fake.calls += 1
                    fake.chat_bodies.append(body)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.api_keys.add(self.headers.get("Authorization", ""))
                    failing = fake.fail_status is not None and fake.fail_times != 0
                    if failing and fake.fail_times > 0:
                        fake.fail_times -= 1
                try:
                    time.sleep(fake.delay_s)
                    if failing:
                        return self._send(fake.fail_status, {"error": {"message": "try later", "type": "server_error"}})
                    if not any(isinstance(m["content"], list)
                               and any(p.get("type") == "image_url" for p in m["content"])
                               for m in body["messages"]):
                        return self._copy(body)
                    parts = body["messages"][0]["content"]
                    n = sum(p["type"] == "image_url" for p in parts)
                    with fake._lock:
                        fake.images += n
                    frames = [{"index": i, "description": f"frame {i} of {n}", "objects": ["pattern"],
                               "on_screen_text": "", "visual_interest": 0.5} for i in range(n)]
                    content = "not json at all" if fake.garbage else json.dumps({"frames": frames})
                    self._send(200, {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                        "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 300 * n, "completion_tokens": 40 * n, "total_tokens": 340 * n},
                    })
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _moderate(self, body: dict):
                with fake._lock:
                    fake.moderation_calls += 1
                    failing = fake.fail_status is not None and fake.fail_times != 0
                    if failing and fake.fail_times > 0:
                        fake.fail_times -= 1
                if failing:
                    return self._send(fake.fail_status, {"error": {"message": "try later", "type": "server_error"}})
                if fake.garbage:  # a 200 that is not a moderation answer
                    return self._send(200, {"id": "modr-test", "model": body["model"], "answer": "looks fine"})
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                results = []
                for text in texts:
                    scores = dict.fromkeys(MODERATION_CATEGORIES, 0.0)
                    for term, term_scores in fake.moderation_terms.items():
                        if term.lower() in text.lower():
                            for category, score in term_scores.items():
                                scores[category] = max(scores[category], score)
                    flags = {category: score >= 0.5 for category, score in scores.items()}
                    results.append({"flagged": any(flags.values()), "categories": flags, "category_scores": scores})
                self._send(200, {"id": "modr-test", "model": body["model"], "results": results})

            def _copy(self, body: dict):
                """Clip copy for each platform on the prompt's "PLATFORMS: a, b" line, with hashtags to normalise."""
                prompt = "\n".join(m["content"] if isinstance(m["content"], str) else
                                   "\n".join(p.get("text", "") for p in m["content"]) for m in body["messages"])
                line = re.search(r"^PLATFORMS:(.*)$", prompt, re.MULTILINE)
                names = [n.strip() for n in line.group(1).split(",") if n.strip()] if line else []
                with fake._lock:
                    fake.text_calls += 1
                copy = {"title": "Why black holes glow", "description": COPY_DESCRIPTION,
                        "hashtags": ["#space", "black holes", "#Space", "#science!"]}
                content = "not json at all" if fake.garbage else json.dumps({"platforms": {n: copy for n in names}})
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 200, "completion_tokens": 80, "total_tokens": 280},
                })

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
