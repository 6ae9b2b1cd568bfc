"""Running on a Ray cluster: the settings the instance template reads, and where a step ran.

Without $AI_ASSETS_RAY_ADDRESS nothing here is used and runs stay on the daemon's machine. With it, the instance
launches every run as a Ray job (dagster-ray's RayRunLauncher): the run's steps execute in that job's process on
whichever node has the resources the run asks for, load their models once for the whole run, and reach the lake,
originals and clips through the shared storage root ($AI_ASSETS_STORAGE, S3 in a real cluster).

    AI_ASSETS_RAY_ADDRESS        the Ray dashboard / job API, e.g. http://ray-head:8265
    AI_ASSETS_RAY_RUN_CPUS       CPUs one run reserves on its node (default 1)
    AI_ASSETS_RAY_RUN_GPUS       GPUs one run reserves (default 0)
    AI_ASSETS_RAY_RUN_RESOURCES  custom resources one run needs, as JSON: {"ai_assets_worker": 1} places runs
                                 only on nodes started with that resource
    AI_ASSETS_RAY_MAX_RUNS       runs in flight at once across the cluster (default 16); Ray queues the rest
"""

from __future__ import annotations

import functools
import json
import os
import socket
from dataclasses import dataclass, field

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
