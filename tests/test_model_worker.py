"""The shared model worker (resources/model_worker.py): a real worker process per test home, real models."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path

import numpy as np
import pytest

from ai_assets.ingest.audio import SAMPLE_RATE, extract_audio, load_wav
from ai_assets.speakers.diarization import DiarizeParams
from ai_assets.storage.models import ModelUnavailable
from resources import TextEmbedder, WhisperResource, model_worker
from resources.speakers import SpeakerEncoderResource

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AI_ASSETS_HOME", str(home))
    monkeypatch.setenv(model_worker.WORKER_ENV, "on")
    monkeypatch.setenv(model_worker.IDLE_ENV, "120")
    yield home
    model_worker.stop(home)


@pytest.fixture(scope="module")
def speech(tmp_path_factory, media):
    wav = tmp_path_factory.mktemp("wav") / "talk.wav"
    extract_audio(media["talk"], wav)
    samples = load_wav(wav)
    return samples, [(0.0, len(samples) / SAMPLE_RATE)]


def test_calls_run_in_one_shared_worker_with_the_same_results_as_in_process(worker_home, speech):
    samples, regions = speech
    whisper, speakers, embedder = WhisperResource(), SpeakerEncoderResource(), TextEmbedder()
    # Two runs asking at once start one worker between them.
    results, heard = {}, {"a": [], "b": []}

    def ask(name):
        # Progress crosses the socket as the worker decodes, ahead of the result.
        results[name] = whisper.transcribe(samples, regions, progress=heard[name].append)

    threads = [threading.Thread(target=ask, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pid = model_worker.ping(worker_home)
    assert pid is not None and pid != os.getpid()
    assert (worker_home / "run" / "model-worker.log").read_text().count("ready (pid") == 1
    # Its BLAS gets its share of the cores for one call, not all of them (see blas_threads).
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    assert environ["OPENBLAS_NUM_THREADS"] == os.environ.get("OPENBLAS_NUM_THREADS", str(model_worker.blas_threads()))

    for shares in heard.values():
        assert shares == sorted(shares) and shares[-1] == 1.0 and 1 <= len(shares) <= 10, shares
    here, model, _ = whisper.transcribe_here(samples, regions)
    for remote, remote_model, _ in results.values():
        assert remote_model == model == "tiny.en"
        assert [s["text"] for s in remote.segments] == [s["text"] for s in here.segments]
        assert remote.segments[0]["words"] == here.segments[0]["words"]
    turns, missing = speakers.diarize(samples, regions, DiarizeParams())
    assert (turns, missing) == speakers.diarize_here(samples, regions, DiarizeParams())
    vectors = embedder.encode(["the same text", "another one"], "all-MiniLM-L6-v2")
    np.testing.assert_allclose(vectors, embedder.encode_here(["the same text", "another one"], "all-MiniLM-L6-v2"),
                               atol=1e-6)
    assert model_worker.ping(worker_home) == pid  # every call went to the same process


@pytest.mark.parametrize(("cores", "memory_gb", "threads"), [(2, 24, 1), (16, 128, 1), (8, 6, 4), (1, 2, 1)])
def test_blas_threads_are_the_cores_of_one_run(cores, memory_gb, threads):
    from ai_assets.instance import Machine

    assert model_worker.blas_threads(Machine(cores, memory_gb)) == threads


def test_an_error_of_the_call_itself_comes_back_as_it_is(worker_home):
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        TextEmbedder().encode(["x"], "no-such-model")
    assert model_worker.ping(worker_home) is not None  # the worker is still there for the next call


def test_only_listed_methods_of_our_resources_can_be_called(worker_home):
    with pytest.raises(PermissionError, match="not callable in the model worker"):
        model_worker.call(WhisperResource(), "load", "tiny.en")
    with pytest.raises(PermissionError, match="not a resource of this package"):
        conn = model_worker.connect(worker_home)
        conn.send(("os", "system", {}, "x", ("true",)))
        status, payload = conn.recv()
        conn.close()
        raise payload
    # Without the key from the home folder, nobody gets as far as a request.
    with pytest.raises(AuthenticationError):
        Client(model_worker.address(worker_home), family="AF_UNIX", authkey=b"guessed")


def test_a_worker_killed_mid_call_falls_back_to_this_process(worker_home, speech, caplog):
    samples, regions = speech
    long_audio = np.tile(samples, 6)  # long enough to be killed in the middle of it
    model_worker.connect(worker_home).close()
    pid = model_worker.ping(worker_home)
    threading.Timer(1.5, os.kill, args=(pid, signal.SIGKILL)).start()
    with caplog.at_level(logging.WARNING, logger="resources.model_worker"):
        result, model, _ = WhisperResource().transcribe(long_audio, [(0.0, len(long_audio) / SAMPLE_RATE)])
    assert model == "tiny.en" and len(result.segments) >= 6
    assert "stopped during WhisperResource.transcribe_here" in caplog.text
    assert "loading the models in this process instead" in caplog.text
    # The next call starts a new worker.
    TextEmbedder().encode(["again"], "all-MiniLM-L6-v2")
    assert model_worker.ping(worker_home) not in (None, pid)


def test_an_idle_worker_exits_by_itself(worker_home, monkeypatch):
    monkeypatch.setenv(model_worker.IDLE_ENV, "1")
    TextEmbedder().encode(["hello"], "all-MiniLM-L6-v2")
    assert model_worker.ping(worker_home) is not None
    deadline = time.monotonic() + 30
    while model_worker.ping(worker_home) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert model_worker.ping(worker_home) is None


def test_off_means_in_process(worker_home, monkeypatch):
    monkeypatch.setenv(model_worker.WORKER_ENV, "off")
    TextEmbedder().encode(["hello"], "all-MiniLM-L6-v2")
    assert model_worker.ping(worker_home) is None
    assert not Path(worker_home / "run" / "model-worker.log").exists()


class NeedsTwo(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")


def test_exceptions_that_would_not_unpickle_come_back_as_a_runtime_error():
    assert isinstance(model_worker._portable(ValueError("plain")), ValueError)
    converted = model_worker._portable(NeedsTwo(1, 2))
    assert type(converted) is RuntimeError and str(converted) == "NeedsTwo: 1 and 2"


def test_the_address_changes_with_the_settings_the_results_depend_on(tmp_path, monkeypatch):
    monkeypatch.delenv("AI_ASSETS_STEP_THREADS", raising=False)
    before = model_worker.address(tmp_path)
    assert model_worker.address(tmp_path) == before and model_worker.address(tmp_path / "other") != before
    monkeypatch.setenv("AI_ASSETS_STEP_THREADS", "1")
    assert model_worker.address(tmp_path) != before  # a worker started with other settings is not reused


def test_a_caller_that_connects_and_says_nothing_blocks_no_one_and_is_dropped(worker_home):
    import socket

    TextEmbedder().encode(["start it"], "all-MiniLM-L6-v2")
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(model_worker.address(worker_home))
    try:
        answered = []
        thread = threading.Thread(target=lambda: answered.append(model_worker.ping(worker_home)), daemon=True)
        thread.start()
        thread.join(timeout=model_worker.HANDSHAKE_S - 2)  # served while the silent caller still holds on
        assert answered and answered[0] is not None
        silent.settimeout(model_worker.HANDSHAKE_S + 20)
        received = b""
        while chunk := silent.recv(4096):  # the challenge, then the worker hangs up on it
            received += chunk
        assert received  # it was challenged, never served
    finally:
        silent.close()
