"""Processes as tests and benchmarks see them: the /proc table, and stopping a server's process group."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    name: str
    state: str  # "Z" for a zombie


def processes() -> list[Process]:
    """Every process in /proc (one that ends while being read is left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The name sits in parentheses and may itself hold spaces or parentheses: split at the last ")".
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        found.append(Process(int(entry.name), int(ppid), stat[stat.index("(") + 1 : stat.rindex(")")], state))
    return found


def stop_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM to the process group `proc` leads (started with start_new_session), SIGKILL if it outlives
    `timeout`: how `dagster dev` started from Python is stopped."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
