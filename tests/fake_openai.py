"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for tests.

It answers strict JSON for the images it receives, and can be told to fail (429, 500), to be slow,
or to answer garbage; it counts calls and the most requests it had in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self):
        self.calls = 0
        self.images = 0
        self.fail_status: int | None = None
        self.fail_times = 0  # fail this many calls, then answer; -1 fails every call
        self.delay_s = 0.0
        self.garbage = False
        self.in_flight = 0
        self.max_in_flight = 0
        self.api_keys: set[str] = set()
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
                with fake._lock:
                    fake.calls += 1
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
                    parts = body["messages"][0]["content"]
                    n = sum(p["type"] == "image_url" for p in parts)
                    with fake._lock:
                        fake.images += n
                    frames = [{"index": i, "description": f"frame {i} of {n}", "objects": ["pattern"],
                               "on_screen_text": "", "visual_interest": 0.5} for i in range(n)]
                    content = "not json at all" if fake.garbage else json.dumps({"frames": frames})
                    self._send(200, {
                        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 300 * n, "completion_tokens": 40 * n, "total_tokens": 340 * n},
                    })
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
