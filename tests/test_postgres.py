"""Postgres as the instance's run, event and schedule storage: a real server started by the test (Debian's
`postgresql` binaries, or those inside the `pgserver` wheel), the shipped template pointed at it through
$AI_ASSETS_DAGSTER_POSTGRES_URL, and a whole video processed into it. Skips when no server can be started."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from ai_assets.instance import POSTGRES_URL_ENV, Machine, ensure_instance_config
from tests.conftest import child_env, free_port

PASSWORD = "s3cret-not-in-files"


def _binaries() -> Path | None:
    """A folder with initdb and postgres: on PATH, Debian's, or the pgserver wheel's."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists():
            return Path(folder)
    try:
        import pgserver
    except ImportError:
        return None
    folder = Path(pgserver.__file__).parent / "pginstall" / "bin"
    return folder if (folder / "initdb").exists() else None


def _as_server_user(args: list[str]) -> tuple[list[str], int | None]:
    """Postgres refuses to run as root: under root, commands run as the `postgres` user (or `nobody`)."""
    if os.geteuid() != 0:
        return args, None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *args], user.pw_uid
    pytest.skip("running as root and no unprivileged user to run Postgres as")


@pytest.fixture
def postgres_url():
    binaries = _binaries()
    if binaries is None:
        pytest.skip("no Postgres server binaries (apt-get install postgresql, or pip install pgserver)")
    # Not under pytest's tmp folder: that is private to root, and the server may run as another user.
    root = Path(tempfile.mkdtemp(prefix="ai-assets-pg-"))
    try:
        yield from _serve(binaries, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _serve(binaries: Path, root: Path):
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    (root / "pw").write_text(PASSWORD + "\n")
    probe, uid = _as_server_user(["true"])
    if uid is not None:
        for path in (root, sockets, root / "pw"):
            os.chown(path, uid, -1)
        os.chmod(root, 0o700)
    init, _ = _as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", "dagster", "--auth=scram-sha-256",
                               f"--pwfile={root / 'pw'}", "-E", "UTF8", "--no-sync"])
    done = subprocess.run(init, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"initdb failed: {done.stderr.strip()[-300:]}")
    port = free_port()
    start, _ = _as_server_user([str(binaries / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                                "-k", str(sockets), "-c", "fsync=off"])
    log = open(root / "server.log", "w")
    server = subprocess.Popen(start, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    import psycopg2

    url = f"postgresql://dagster:{PASSWORD}@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg2.connect(url).close()
            break
        except psycopg2.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.skip(f"postgres did not start: {(root / 'server.log').read_text()[-300:]}")
            time.sleep(0.3)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute("CREATE DATABASE ai_assets_dagster")
    conn.close()
    try:
        # What Dagster reads names the driver (see ai_assets.instance.POSTGRES_SCHEME); psycopg2 takes the plain form.
        yield url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://") + "/ai_assets_dagster"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg2

    with psycopg2.connect(url.replace("+psycopg2", "")) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.mark.slow
def test_a_video_runs_with_postgres_storage_and_the_url_stays_out_of_files(postgres_url, layout, media, tmp_path,
                                                                           monkeypatch):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    dagster_home = tmp_path / "dagster_home"
    monkeypatch.setenv(POSTGRES_URL_ENV, postgres_url)
    config = ensure_instance_config(dagster_home, Machine(2, 24.0))
    text = config.read_text()
    assert yaml.safe_load(text)["storage"] == {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
    assert PASSWORD not in text

    env = {**child_env(layout), "DAGSTER_HOME": str(dagster_home), POSTGRES_URL_ENV: postgres_url}
    done = subprocess.run([str(Path(os.sys.executable).with_name("ai-assets")), "process", str(media["short"])],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert PASSWORD not in done.stdout + done.stderr

    # The run, its materializations and the pools are rows in Postgres, and SQLite files were never made.
    [(status, partition)] = _query(postgres_url, "SELECT r.status, t.value FROM runs r JOIN run_tags t "
                                   "ON t.run_id = r.run_id WHERE t.key = 'dagster/partition'")
    assert status == "SUCCESS" and partition.startswith("faststart-")
    materialized = {key for (key,) in _query(postgres_url, "SELECT DISTINCT asset_key FROM event_logs WHERE "
                                             "dagster_event_type = 'ASSET_MATERIALIZATION'")}
    assert {'["transcript"]', '["segments"]', '["clips"]'} <= materialized
    pools = dict(_query(postgres_url, "SELECT concurrency_key, count(*) FROM concurrency_slots GROUP BY 1"))
    assert pools.get("asr") == 1 and pools.get("llm") == 4
    assert not list(dagster_home.rglob("*.db"))

    # Another process on the same DAGSTER_HOME (the UI, a second machine) sees the same run.
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        [run] = instance.get_runs()
        assert run.status.value == "SUCCESS"

    # A URL without the driver is refused in one line that does not repeat it (it holds the password).
    monkeypatch.setenv(POSTGRES_URL_ENV, postgres_url.replace("+psycopg2", ""))
    with pytest.raises(ValueError, match=r"must start with postgresql\+psycopg2://.*not postgresql://$") as refused:
        ensure_instance_config(dagster_home, Machine(2, 24.0))
    assert PASSWORD not in str(refused.value)

    # A later process without the variable keeps Postgres instead of switching to empty SQLite files.
    monkeypatch.delenv(POSTGRES_URL_ENV)
    ensure_instance_config(dagster_home, Machine(2, 24.0))
    assert config.read_text() == text
