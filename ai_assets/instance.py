"""The Dagster instance shared by the CLI, `dagster dev` and the tests, with the limits this machine can carry.

`ensure_instance_config` writes dagster.yaml from the machine's cores and memory: how many runs at once, one
model-heavy step per pool at a time (two heavy models never fight over two cores), run retries when a run
worker dies, and run monitoring that frees the pool slots a dead run held. Pool limits live in the instance's
storage, so they are set on the instance itself (`apply_pool_limits`). A dagster.yaml without the template's
first line is the user's own and is left alone.

    python -m ai_assets.instance [DAGSTER_HOME]   # what ./dev.sh ui runs before `dagster dev`
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from ai_assets.storage.settings import Layout, available_cores

# --- Running on a Ray cluster: the settings the instance template reads, and where a step ran ----------------
#
# Without $AI_ASSETS_RAY_ADDRESS nothing here is used and runs stay on the daemon's machine. With it, the instance
# launches every run as a Ray job (dagster-ray's RayRunLauncher): the run's steps execute in that job's process on
# whichever node has the resources the run asks for, load their models once for the whole run, and reach the lake,
# originals and clips through the shared storage root ($AI_ASSETS_STORAGE, S3 in a real cluster).
#
#     AI_ASSETS_RAY_ADDRESS        the Ray dashboard / job API, e.g. http://ray-head:8265
#     AI_ASSETS_RAY_RUN_CPUS       CPUs one run reserves on its node (default 1)
#     AI_ASSETS_RAY_RUN_GPUS       GPUs one run reserves (default 0)
#     AI_ASSETS_RAY_RUN_RESOURCES  custom resources one run needs, as JSON: {"ai_assets_worker": 1} places runs
#                                  only on nodes started with that resource
#     AI_ASSETS_RAY_MAX_RUNS       runs in flight at once across the cluster (default 16); Ray queues the rest
ADDRESS_ENV = "AI_ASSETS_RAY_ADDRESS"
RUN_CPUS_ENV, RUN_GPUS_ENV = "AI_ASSETS_RAY_RUN_CPUS", "AI_ASSETS_RAY_RUN_GPUS"
RUN_RESOURCES_ENV, MAX_RUNS_ENV = "AI_ASSETS_RAY_RUN_RESOURCES", "AI_ASSETS_RAY_MAX_RUNS"
DEFAULT_MAX_RUNS = 16
# What a run needs to find its data and settings on any node. Secrets (AWS keys, API keys, the Postgres URL) are
# not passed: a Ray job's environment is visible to anyone who can read the Ray dashboard, so each node gets them
# from its own environment (an instance role, a Kubernetes secret), as the daemon does.
FORWARDED_ENV = (
    "AI_ASSETS_HOME", "AI_ASSETS_STORAGE", "AI_ASSETS_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION", ADDRESS_ENV,
    "AI_ASSETS_MODEL_WORKER", "AI_ASSETS_ALLOW_DOWNLOAD", "AI_ASSETS_MODEL_WORKER_IDLE_S", "AI_ASSETS_CAPTION_FONT",
    "AI_ASSETS_LLM_BASE_URL", "AI_ASSETS_LLM_MODEL", "AI_ASSETS_MODERATION_MODEL", "AI_ASSETS_VLM_BASE_URL",
    "AI_ASSETS_VLM_MODEL", "AI_ASSETS_S3_BUCKET", "AI_ASSETS_S3_PREFIX",
)
# Not forwarded, because they belong to the node, not the run: AI_ASSETS_WHISPER_DEVICE (cuda on GPU nodes) and
# AI_ASSETS_STEP_THREADS (the node's cores).


@dataclass(frozen=True)
class RaySettings:
    address: str
    run_cpus: float = 1.0
    run_gpus: float = 0.0
    run_resources: dict[str, float] = field(default_factory=dict)
    max_runs: int = DEFAULT_MAX_RUNS

    @classmethod
    def from_env(cls) -> RaySettings | None:
        """None without $AI_ASSETS_RAY_ADDRESS; ValueError, in one line, for a setting that cannot work."""
        address = os.environ.get(ADDRESS_ENV, "").strip()
        if not address:
            return None
        if not address.startswith(("http://", "https://")):
            raise ValueError(f"{ADDRESS_ENV} must be the Ray dashboard's URL (http://host:8265), not {address!r}")
        resources_text = os.environ.get(RUN_RESOURCES_ENV, "").strip() or "{}"
        try:
            resources = json.loads(resources_text)
            ok = isinstance(resources, dict) and all(isinstance(v, int | float) and v > 0 for v in resources.values())
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{RUN_RESOURCES_ENV} must be a JSON object of positive numbers, e.g. "
                             f'{{"ai_assets_worker": 1}}; got {resources_text!r}')
        return cls(address.rstrip("/"), _number(RUN_CPUS_ENV, 1.0), _number(RUN_GPUS_ENV, 0.0),
                   {str(k): float(v) for k, v in resources.items()}, int(_number(MAX_RUNS_ENV, DEFAULT_MAX_RUNS)))

    def launcher_yaml(self) -> str:
        """The instance's run_launcher block for dagster-ray."""
        lines = ["run_launcher:", "  module: dagster_ray", "  class: RayRunLauncher", "  config:", "    ray:",
                 f"      address: {json.dumps(self.address)}",
                 f"      num_cpus: {_yaml_number(self.run_cpus)}"]
        if self.run_gpus:
            lines.append(f"      num_gpus: {_yaml_number(self.run_gpus)}")
        if self.run_resources:
            lines.append(f"      resources: {json.dumps(self.run_resources, sort_keys=True)}")
        lines.append(f"      env_vars: {json.dumps(list(FORWARDED_ENV))}")
        return "\n".join(lines) + "\n"


def _driver_node(address: str, submission: str) -> str | None:
    """The node a Ray job's entrypoint runs on, from the job API (token from the node's RAY_AUTH_TOKEN)."""
    import urllib.parse
    import urllib.request

    headers = {"Authorization": f"Bearer {os.environ['RAY_AUTH_TOKEN']}"} if os.environ.get("RAY_AUTH_TOKEN") else {}
    request = urllib.request.Request(f"{address.rstrip('/')}/api/jobs/{urllib.parse.quote(submission)}",
                                      headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response).get("driver_node_id")


def _yaml_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


@functools.lru_cache(maxsize=1)
def placement() -> dict[str, str]:
    """Where this process runs: the host, and inside a Ray job its submission id and the Ray node it was placed on.

    The node comes from the job API (one request per process, cached); a failure leaves it out with the reason,
    never fails the step."""
    where = {"host": socket.gethostname()}
    job_config = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not job_config:
        return where
    try:
        submission = json.loads(job_config).get("metadata", {}).get("job_submission_id")
    except ValueError:
        submission = None
    if not submission:
        return where
    where["ray_job"] = submission
    address = os.environ.get(ADDRESS_ENV)
    if not address:
        where["ray_node_unknown"] = f"{ADDRESS_ENV} is not set in the job"
        return where
    try:
        node = _driver_node(address, submission)
        if node:
            where["ray_node"] = node
    except (OSError, ValueError, KeyError) as exc:  # where a step ran is metadata: it never fails the step
        where["ray_node_unknown"] = f"the Ray job API did not answer ({type(exc).__name__})"
    return where


MARKER = "# ai-assets instance template"
# Peak memory of one run with every model loaded (measured: ~1.1 GB), with headroom.
RUN_MEMORY_GB = 1.5
# Share of the machine's memory the runs may take together.
MEMORY_SHARE = 0.6
# Pools of the steps that hold a model or an encoder (see each asset's `pool`).
HEAVY_POOLS = ("asr", "speaker", "embed", "encode")
# LLM and VLM calls wait on a server, not on this machine's cores.
LLM_SLOTS = 4
# A run that never starts or never stops cancelling is marked failed after this long.
START_TIMEOUT_S = 300
# On a cluster a run's process may die before it reports starting (its node lost); the run is retried only once
# this timeout fails it, so a cluster with nodes that come back quickly may want it shorter.
START_TIMEOUT_ENV = "AI_ASSETS_RUN_START_TIMEOUT_S"
CANCEL_TIMEOUT_S = 300
POLL_S = 20
# The run queue looks for free places this often (Dagster's default is 5 s): a one-minute video's run takes about
# 25 s of machine time, so a 5 s wait before each queued run starts was a fifth of it lost.
DEQUEUE_S = 1
# A run whose worker died (kill -9, out of memory) never gives back the pool slots its steps held, and its retry
# would wait in the queue for that very slot forever; run monitoring frees a finished run's slots after this long.
FREE_SLOTS_AFTER_S = 10
# A run whose worker died is launched again this many times; failures raised by the code itself are retried by
# the steps' own retry policies, and bad input (dg.Failure with allow_retries=False) never is.
RUN_RETRIES = 2
# Run, event and schedule storage in Postgres (dagster-postgres) instead of SQLite files in DAGSTER_HOME, for an
# instance shared by several machines or heavy use of the UI. The URL holds a password, so the template names
# the variable and Dagster reads it when the instance loads; the URL itself is never written to disk.
POSTGRES_URL_ENV = "AI_ASSETS_DAGSTER_POSTGRES_URL"
# dagster-postgres connects through SQLAlchemy, whose default PostgreSQL driver (2.1 on) is psycopg 3, which is not
# installed; dagster-postgres brings psycopg2, so the URL names it.
POSTGRES_SCHEME = "postgresql+psycopg2://"


def postgres_url_problem(url: str) -> str | None:
    """Why $AI_ASSETS_DAGSTER_POSTGRES_URL cannot work, in one line without the URL (it holds a password)."""
    if not url.startswith(POSTGRES_SCHEME):
        scheme = url.split("://", 1)[0] + "://" if "://" in url else "no scheme"
        return (f"{POSTGRES_URL_ENV} must start with {POSTGRES_SCHEME} (user:password@host:5432/database), "
                f"not {scheme}")
    return None


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_gb: float

    @classmethod
    def current(cls) -> Machine:
        cores = available_cores()
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
        return cls(cores=max(1, cores), memory_gb=memory)

    @property
    def max_concurrent_runs(self) -> int:
        """One run per core at most (each model and ffmpeg use every core they get), and no more runs than
        MEMORY_SHARE of the memory holds at RUN_MEMORY_GB each."""
        return max(1, min(self.cores, int(self.memory_gb * MEMORY_SHARE / RUN_MEMORY_GB)))

    @property
    def pool_limits(self) -> dict[str, int]:
        """One heavy step of each kind per two cores: transcription beside a render is fine, two transcriptions
        on two cores only thrash."""
        heavy = max(1, self.cores // 2)
        return {**dict.fromkeys(HEAVY_POOLS, heavy), "llm": LLM_SLOTS}


def start_timeout_s() -> int:
    text = os.environ.get(START_TIMEOUT_ENV, "").strip()
    if not text:
        return START_TIMEOUT_S
    if not text.isdigit() or int(text) < 10:
        raise ValueError(f"{START_TIMEOUT_ENV} must be a whole number of seconds, at least 10; got {text!r}")
    return int(text)


def instance_yaml(machine: Machine, postgres: bool = False, ray: RaySettings | None = None) -> str:
    """With `ray`, runs go to the Ray cluster as jobs: Ray places and queues them by the resources they ask for,
    so the cap on runs is the cluster's (`ray.max_runs`), and the pools stop at that many too (one heavy step per
    two cores is a rule for one machine; a cluster node reserves its run's CPUs itself)."""
    storage = f"""storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_ENV}
""" if postgres else ""
    sized = (f"Sized for {machine.cores} cores and {machine.memory_gb:.0f} GB; pools: {machine.pool_limits}"
             if ray is None else f"Runs on the Ray cluster at {ray.address}, at most {ray.max_runs} at once")
    if ray is not None and not postgres:
        sized += ("\n# SQLite storage works while every node shares this folder (one machine, a shared volume); "
                  f"across machines set {POSTGRES_URL_ENV}")
    runs = machine.max_concurrent_runs if ray is None else ray.max_runs
    pool_default = max(1, machine.cores // 2) if ray is None else ray.max_runs
    return f"""{MARKER} (rewritten while this line is here; delete it to keep your own edits)
# {sized}
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: {DEQUEUE_S}
concurrency:
  runs:
    max_concurrent_runs: {runs}
  pools:
    default_limit: {pool_default}
    granularity: op
run_retries:
  enabled: true
  max_retries: {RUN_RETRIES}
  retry_on_asset_or_op_failure: false
run_monitoring:
  enabled: true
  start_timeout_seconds: {start_timeout_s()}
  cancel_timeout_seconds: {CANCEL_TIMEOUT_S}
  poll_interval_seconds: {POLL_S}
  max_resume_run_attempts: 0
  free_slots_after_run_end_seconds: {FREE_SLOTS_AFTER_S}
{storage}{ray.launcher_yaml() if ray else ""}"""


def ensure_instance_config(dagster_home: Path, machine: Machine | None = None) -> Path:
    """Write the template into `dagster_home` unless a dagster.yaml of the user's own is there.

    Storage is Postgres when $AI_ASSETS_DAGSTER_POSTGRES_URL is set, and stays Postgres once chosen: a later
    process without the variable must not quietly switch the instance back to empty SQLite files (Dagster then
    says the variable is missing instead)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    old = config.read_text() if config.exists() else None
    # The first versions wrote only the telemetry switch: that file is ours to replace as well.
    if old is None or old.startswith(MARKER) or old.strip() == "telemetry:\n  enabled: false":
        url = os.environ.get(POSTGRES_URL_ENV)
        if url and (problem := postgres_url_problem(url)):
            raise ValueError(problem)
        if url and importlib.util.find_spec("dagster_postgres") is None:
            raise ValueError(f"{POSTGRES_URL_ENV} is set but dagster-postgres is not installed: "
                             "pip install 'ai-assets[postgres]'")
        postgres = bool(url) or (old is not None and f"env: {POSTGRES_URL_ENV}" in old)
        text = instance_yaml(machine or Machine.current(), postgres, RaySettings.from_env())
        if text != old:
            from ai_assets.storage.files import write_bytes_atomic

            write_bytes_atomic(config, text.encode())
    return config


def apply_pool_limits(instance: dg.DagsterInstance, machine: Machine | None = None) -> dict[str, int]:
    """Set each pool's slots unless someone set them already (in the UI or with `dagster instance concurrency`)."""
    ray = RaySettings.from_env()
    limits = (machine or Machine.current()).pool_limits
    if ray is not None:  # model pools follow the cluster; LLM calls still go to one endpoint's rate limit
        limits = {pool: slots if pool == "llm" else ray.max_runs for pool, slots in limits.items()}
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    existing = set(storage.get_concurrency_keys())
    for pool, slots in limits.items():
        if pool not in existing:
            storage.set_concurrency_slots(pool, slots)
    return {pool: storage.get_concurrency_info(pool).slot_count for pool in limits}


# Tags on CLI runs, so a later CLI can tell a run whose process died from one still going.
PID_TAG, HOST_TAG = "ai_assets/pid", "ai_assets/host"


def cli_run_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def reap_dead_cli_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the CLI runs on this host whose process is gone (killed mid-step), and free the pool slots
    they held: no daemon watches in-process runs, and a slot held forever would block every later run."""
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    reaped = []
    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING],
        tags={HOST_TAG: socket.gethostname()}))
    for run in runs:
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid <= 0 or pid == os.getpid() or _alive(pid):
            continue
        instance.report_run_failed(run, f"the ai-assets process running it (pid {pid}) is gone")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def get_instance(layout: Layout) -> dg.DagsterInstance:
    """$DAGSTER_HOME when set, else a persistent instance under $AI_ASSETS_HOME/dagster_home; configured for
    this machine either way."""
    from dagster._core.instance.ref import InstanceRef

    home = Path(os.environ["DAGSTER_HOME"]) if os.environ.get("DAGSTER_HOME") else layout.dagster_home
    ensure_instance_config(home)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    apply_pool_limits(instance)
    reap_dead_cli_runs(instance)
    return instance


def main(argv: list[str]) -> int:
    home = Path(argv[0]) if argv else Path(os.environ["DAGSTER_HOME"])
    config = ensure_instance_config(home)
    from dagster._core.instance.ref import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        pools = apply_pool_limits(instance)
    machine = Machine.current()
    storage = "Postgres" if f"env: {POSTGRES_URL_ENV}" in config.read_text() else "SQLite"
    print(f"{config}: up to {machine.max_concurrent_runs} runs at once, pools {pools}, {storage} storage")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
