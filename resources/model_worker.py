"""One long-lived local process that keeps the models loaded for every run on this machine.

On the daemon path every run is a new process, which would import torch and load Whisper, the speaker models
and MiniLM again: seconds per run, and about a gigabyte of memory per concurrent run. With the worker on (the
default; `ai-assets` commands run in one process and load the models there instead), the model resources send
their calls (`transcribe`, `diarize`, `encode`) to one worker per AI_ASSETS_HOME, which loads each model once
and keeps it until it has been idle for IDLE_EXIT_S.

- Transport: `multiprocessing.connection` on a Unix socket in Linux's abstract namespace (no file to go stale;
  it disappears with the process), authenticated with a random key kept in $AI_ASSETS_HOME/run/ (mode 0600).
- Start: a call that finds no worker takes a file lock, so concurrent runs start one between them, and spawns
  the worker (`main` below) in its own session (a run ending or killed does not take it along).
- Only methods a resource lists in WORKER_METHODS can be called, on resource classes from this package.
- A worker that cannot be started or reached, or dies mid-call, is not fatal: the call runs in the run's own
  process, with a warning. An exception raised by the call itself (bad input) is raised in the run as it is.

    AI_ASSETS_MODEL_WORKER=off          load models in each run's process instead
    AI_ASSETS_MODEL_WORKER_IDLE_S=900   how long an idle worker stays
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib
import json
import logging
import os
import pickle
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener, answer_challenge, deliver_challenge
from pathlib import Path

from ai_assets.storage.settings import Layout

log = logging.getLogger(__name__)

WORKER_ENV = "AI_ASSETS_MODEL_WORKER"
IDLE_ENV = "AI_ASSETS_MODEL_WORKER_IDLE_S"
IDLE_EXIT_S = 900.0
# Starting takes the interpreter, numpy and the resource modules (the models load on first use, inside a call).
START_TIMEOUT_S = 60.0
# A caller that connects and then says nothing is dropped after this long.
HANDSHAKE_S = 10.0
# The worker's log is kept to about this size: one older file beside it.
LOG_KEEP_BYTES = 5_000_000


class WorkerUnavailable(RuntimeError):
    """No worker could be started or reached, or it stopped during the call."""


def enabled() -> bool:
    return os.environ.get(WORKER_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def _run_dir(home: Path) -> Path:
    return home / "run"


# What a worker's results depend on besides each call's arguments: the code of the model paths and these settings.
# They are part of the address, so after an upgrade or a changed setting runs start a new worker (the old one
# exits when idle) instead of getting answers from old code.
_CODE = ("resources", "ai_assets/speech", "ai_assets/speakers", "ai_assets/language", "ai_assets/storage")
_SETTINGS = ("AI_ASSETS_STEP_THREADS", "AI_ASSETS_ALLOW_DOWNLOAD", "HF_HUB_OFFLINE")


@functools.cache
def _code_fingerprint() -> str:
    repo = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(sys.executable.encode())
    for folder in _CODE:
        for path in sorted((repo / folder).rglob("*.py")):
            stat = path.stat()
            digest.update(f"{path.relative_to(repo)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def address(home: Path) -> str:
    """The worker's abstract socket name for this home, this code and these settings."""
    settings = [os.environ.get(name, "") for name in _SETTINGS]
    key = json.dumps([str(home.resolve()), _code_fingerprint(), settings])
    return "\0ai-assets-model-worker-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _key(home: Path) -> bytes:
    """The shared secret, made once per home and readable by its owner only."""
    path = _run_dir(home) / "model-worker.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # private to this writer, mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(partial, path)  # the first writer wins; the others read its key
        finally:
            os.unlink(partial)
    return path.read_bytes()


def _connect(home: Path, key: bytes):
    return Client(address(home), family="AF_UNIX", authkey=key)


def connect(home: Path):
    """A connection to this home's worker, started if none is running."""
    key = _key(home)
    try:
        return _connect(home, key)
    except (ConnectionRefusedError, FileNotFoundError):
        pass
    except (OSError, EOFError, AuthenticationError) as exc:  # exiting mid-handshake, or holding another key
        raise WorkerUnavailable(f"the model worker refused the connection: {type(exc).__name__}") from None
    lock_path = _run_dir(home) / "model-worker.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter; the others wait here and then connect
        try:
            return _connect(home, key)
        except (ConnectionRefusedError, FileNotFoundError):
            pass
        process = _spawn(home)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                return _connect(home, key)
            except (ConnectionRefusedError, FileNotFoundError):
                if process.poll() is not None:
                    raise WorkerUnavailable(f"the model worker exited at start (code {process.returncode}); see "
                                            f"{_run_dir(home) / 'model-worker.log'}") from None
                if time.monotonic() > deadline:
                    raise WorkerUnavailable(f"the model worker did not start within {START_TIMEOUT_S:.0f} s") from None
                time.sleep(0.1)


def blas_threads(machine=None) -> int:
    """NumPy's BLAS threads in the worker: its share of the cores for one of the calls it serves at once (one per
    run the queue allows). OpenBLAS threads spin while they wait; beside another run's transcription in this process
    and an ffmpeg encode, two of them on two cores made a MiniLM encode of 40 windows take 0.8-3.6 s instead of
    0.7 s, and transcript_embeddings 2.2 s a video under the daemon against 0.25 s in the CLI."""
    from ai_assets.instance import Machine

    machine = machine or Machine.current()
    return max(1, machine.cores // machine.max_concurrent_runs)


def _spawn(home: Path) -> subprocess.Popen:
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "AI_ASSETS_HOME": str(home), WORKER_ENV: "off"}
    # Two runs' calls share this process while ffmpeg encodes beside it: OpenMP threads that spin while they wait
    # for work (the default) take cores the others need.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("OPENBLAS_NUM_THREADS", str(blas_threads()))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env.get("PYTHONPATH")) if p)
    log_path = _run_dir(home) / "model-worker.log"
    if log_path.exists() and log_path.stat().st_size > LOG_KEEP_BYTES:
        log_path.replace(log_path.with_suffix(".log.1"))
    code = "import sys; from resources.model_worker import main; sys.exit(main(sys.argv[1:]))"
    with open(log_path, "ab") as out:
        return subprocess.Popen([sys.executable, "-c", code, str(home)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, cwd=str(repo), start_new_session=True)


def call(resource, method: str, *args, progress=None):
    """`resource.method(*args)` run in the worker; raises WorkerUnavailable when that cannot happen. With
    `progress`, the method gets a `progress` argument whose calls the worker sends back here as they happen."""
    home = Layout.from_env().home
    cls = type(resource)
    request = (cls.__module__, cls.__qualname__, resource.model_dump(), method, args, progress is not None)
    try:
        conn = connect(home)
    except (OSError, EOFError, AuthenticationError) as exc:
        raise WorkerUnavailable(f"could not reach the model worker: {exc or type(exc).__name__}") from None
    try:
        conn.send(request)
        status, payload = conn.recv()
        while status == "progress":
            progress(payload)
            status, payload = conn.recv()
    except (EOFError, OSError) as exc:
        raise WorkerUnavailable(f"the model worker stopped during {cls.__name__}.{method}: "
                                f"{exc or type(exc).__name__}") from None
    finally:
        conn.close()
    if status == "error":
        raise payload
    return payload


def run(resource, method: str, *args, progress=None):
    """`resource.method(*args)`: in the worker when it is on and reachable, else here. `progress`, when given, is
    passed on to the method as its `progress` argument (across the socket in the worker's case)."""
    extra = {"progress": progress} if progress is not None else {}
    if enabled():
        try:
            return call(resource, method, *args, **extra)
        except WorkerUnavailable as exc:
            log.warning(f"{exc}; loading the models in this process instead")
    return getattr(resource, method)(*args, **extra)


def ping(home: Path) -> int | None:
    """The pid of this home's worker, or None when none is running (never starts one)."""
    try:
        conn = _connect(home, _key(home))
    except (OSError, EOFError, AuthenticationError):
        return None
    with conn:
        conn.send(("ping",))
        try:
            return conn.recv()[1]
        except (EOFError, OSError):
            return None


def stop(home: Path, timeout_s: float = 30.0) -> bool:
    """Ask this home's worker to exit; True if one was running. Waits until its socket is gone."""
    try:
        conn = _connect(home, _key(home))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    with conn:
        conn.send(("stop",))
        with contextlib.suppress(EOFError, OSError):
            conn.recv()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            _connect(home, _key(home)).close()
        except (OSError, EOFError, AuthenticationError):  # refused, or closed during the handshake: gone
            return True
        time.sleep(0.1)
    return True


def _limit_reads(conn, seconds: float) -> None:
    """A read on `conn` fails (OSError) after `seconds` without data, instead of waiting forever."""
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:  # the same socket; closing the copy leaves it open
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(seconds), 0))


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives a pickle round trip (the run raises it as it is), else a RuntimeError saying what it
    was: an exception whose constructor wants other arguments would fail to unpickle in the run."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class _Worker:
    def __init__(self, home: Path, idle_exit_s: float):
        self.home, self.idle_exit_s = home, idle_exit_s
        # No authkey on the listener: its accept() would run the handshake in the accept loop, where one caller
        # that connects and stalls would block every other; each handshake runs in its connection's thread.
        self.key = _key(home)
        self.listener = Listener(address(home), family="AF_UNIX")
        self.resources: dict[tuple, object] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()
        self.active, self.last = 0, time.monotonic()

    def resource(self, module: str, name: str, config: dict):
        if module.split(".")[0] != "resources":
            raise PermissionError(f"{module}.{name} is not a resource of this package")
        cls = getattr(importlib.import_module(module), name)
        key = (module, name, json.dumps(config, sort_keys=True, default=str))
        with self.guard:
            if key not in self.resources:
                self.resources[key] = cls(**config)
            return self.resources[key], self.locks.setdefault(f"{module}.{name}", threading.Lock())

    def handle(self, conn) -> None:
        """One request; `active` was counted by the accept loop, so an idle exit never cuts a call short."""
        called = False
        try:
            called = self._handle(conn)
        finally:
            with self.guard:
                self.active -= 1
                if called:  # a ping is not use: it must not keep an idle worker alive
                    self.last = time.monotonic()

    def _handle(self, conn) -> bool:
        """Authenticate the caller, then serve one request; True if it was a model call."""
        with conn:
            try:
                # The handshake and the request arrive at once from a real caller; a peer that stalls on either is
                # dropped after HANDSHAKE_S without data instead of holding this thread.
                _limit_reads(conn, HANDSHAKE_S)
                deliver_challenge(conn, self.key)
                answer_challenge(conn, self.key)
                request = conn.recv()
            except (EOFError, OSError, AuthenticationError):
                return False
            if request == ("ping",):
                conn.send(("ok", os.getpid()))
                return False
            if request == ("stop",):
                conn.send(("ok", None))
                self.exit()
            try:
                module, name, config, method, args, *wants_progress = request
                # Progress goes back on the same connection, ahead of the result.
                extra = {"progress": lambda share: conn.send(("progress", share))} if any(wants_progress) else {}
                resource, lock = self.resource(module, name, config)
                if method not in getattr(type(resource), "WORKER_METHODS", ()):
                    raise PermissionError(f"{name}.{method} is not callable in the model worker")
                # One call per resource class at a time: its model uses every core it is given.
                with lock:
                    result = getattr(resource, method)(*args, **extra)
                reply = ("ok", result)
            except Exception as exc:
                reply = ("error", _portable(exc))
            try:
                conn.send(reply)
            except Exception:  # the result could not be pickled, or the caller went away
                with contextlib.suppress(Exception):
                    conn.send(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
        return True

    def watch_idle(self) -> None:
        while True:
            time.sleep(min(5.0, max(0.2, self.idle_exit_s / 4)))
            with self.guard:
                idle = self.active == 0 and time.monotonic() - self.last >= self.idle_exit_s
            if idle:
                log.info(f"idle for {self.idle_exit_s:.0f} s; exiting")
                self.exit()

    def exit(self) -> None:
        with contextlib.suppress(Exception):
            self.listener.close()
        os._exit(0)

    def serve(self) -> None:
        threading.Thread(target=self.watch_idle, daemon=True).start()
        log.info(f"model worker for {self.home} ready (pid {os.getpid()})")
        while True:
            try:
                conn = self.listener.accept()
            except Exception:  # a failed handshake (wrong key), a caller gone mid-handshake: never fatal
                continue
            with self.guard:
                self.active += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s model-worker %(message)s")
    home = Path(argv[0]).resolve()
    try:
        worker = _Worker(home, float(os.environ.get(IDLE_ENV, IDLE_EXIT_S)))
    except OSError as exc:  # another worker holds the address
        log.info(f"not starting: {exc}")
        return 0
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
