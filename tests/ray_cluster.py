"""A real multi-node Ray cluster on 127.0.0.1 for tests and benchmarks: a head and worker nodes, each a
`ray start --block` process in its own session, stopped by process group (and whatever a node spawned into
sessions of its own, such as job entrypoints, stopped with it)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import processes

WORKER_RESOURCE = "ai_assets_worker"
HEAD_RESOURCE = "ai_assets_head"


class RayUnavailable(RuntimeError):
    """Ray cannot start here; the message says why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    log: Path
    resources: dict

    def descendants(self) -> list[int]:
        return descendants(self.proc.pid)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the node as a machine failure would: its process group and every process it spawned (job
        entrypoints run in sessions of their own, so the group alone would leave them running)."""
        children = self.descendants()
        for pid in [self.proc.pid, *children]:
            try:
                os.killpg(pid, sig) if pid == self.proc.pid else os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while [p for p in children if _alive(p)] and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (children of children included)."""
    parents: dict[int, list[int]] = {}
    for process in processes():
        parents.setdefault(process.ppid, []).append(process.pid)
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class RayCluster:
    """Start with `start()`, add workers with `add_worker()`, stop everything with `stop()`."""

    env: dict[str, str]
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp")))
    nodes: list[Node] = field(default_factory=list)
    gcs_port: int = 0
    dashboard_port: int = 0

    @property
    def address(self) -> str:
        """The job API, as AI_ASSETS_RAY_ADDRESS takes it."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _ray(self) -> str:
        return str(Path(sys.executable).with_name("ray"))

    def _start(self, name: str, args: list[str], resources: dict) -> Node:
        log = self.workdir / f"{name}.log"
        proc = subprocess.Popen(
            [self._ray(), "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
             f"--resources={json.dumps(resources)}", *args],
            env=self.env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        node = Node(name, proc, log, resources)
        self.nodes.append(node)
        return node

    def start(self, head_cpus: int = 1) -> None:
        if shutil.which("ray", path=str(Path(sys.executable).parent)) is None:
            raise RayUnavailable("the ray CLI is not installed (pip install 'ai-assets[ray]')")
        token = secrets.token_hex(16)
        # Ray 2.60 refuses to start without token authentication; every node and client shares this token.
        self.env = {**self.env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', os.defpath)}"}
        self.gcs_port, self.dashboard_port = _free_port(), _free_port()
        head = self._start("head", [
            "--head", f"--port={self.gcs_port}", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}", f"--num-cpus={head_cpus}", "--include-dashboard=true",
            f"--temp-dir={self.workdir / 'tmp'}", f"--ray-client-server-port={_free_port()}",
        ], {HEAD_RESOURCE: 1})
        self._wait(lambda: self._jobs_api_up(), 120, head, "the Ray head's job API")

    def add_worker(self, cpus: int = 2, slots: int = 4) -> Node:
        name = f"worker{sum(n.name.startswith('worker') for n in self.nodes) + 1}"
        node = self._start(name, [f"--address=127.0.0.1:{self.gcs_port}", f"--num-cpus={cpus}"],
                           {WORKER_RESOURCE: slots})
        self._wait(lambda: self.node_id(node) is not None, 120, node, f"{name} to join")
        return node

    def _jobs_api_up(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.address}/api/version", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers (401 without the token)
        except OSError:
            return False

    def _wait(self, predicate, seconds: float, node: Node, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise RayUnavailable(f"{what}: `ray start` exited with {node.proc.returncode}: "
                                     + node.log.read_text()[-1500:])
            if predicate():
                return
            time.sleep(0.5)
        raise RayUnavailable(f"timed out waiting for {what}: " + node.log.read_text()[-1500:])

    def alive_nodes(self) -> list[dict]:
        """The cluster's alive nodes, from the state API (node_id and resources_total)."""
        import urllib.request

        request = urllib.request.Request(f"{self.address}/api/v0/nodes?limit=100&detail=1",
                                         headers={"Authorization": f"Bearer {self.env['RAY_AUTH_TOKEN']}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                rows = json.load(response)["data"]["result"]["result"]
        except (OSError, ValueError, KeyError):
            return []
        return [{"node_id": r["node_id"], "resources": r.get("resources_total", {})} for r in rows
                if r.get("state") == "ALIVE"]

    def node_id(self, node: Node) -> str | None:
        """The Ray node id of a node this cluster started (matched by its distinct custom resource)."""
        marker = HEAD_RESOURCE if node.name == "head" else WORKER_RESOURCE
        alive = [n["node_id"] for n in self.alive_nodes() if marker in n["resources"]]
        known = {self._ids.get(n.name) for n in self.nodes if n is not node}
        fresh = [i for i in alive if i not in known]
        if fresh:
            self._ids[node.name] = fresh[0]
        return self._ids.get(node.name)

    def __post_init__(self) -> None:
        self._ids: dict[str, str] = {}

    def stop(self) -> None:
        for node in reversed(self.nodes):
            if node.proc.poll() is None or node.descendants():
                node.kill(signal.SIGTERM)
        shutil.rmtree(self.workdir, ignore_errors=True)
