"""A killed run never stalls the queue (issue 12, finding 1), and a slow domain never delays
technicals: a real Dagster daemon on the dagster.yaml `intel-assets` writes, real run workers,
real `kill -9`.

Without run monitoring a `kill -9` of `intel-assets materialize` left its run STARTED forever and
(with one run at a time) no run ever launched again ("1 runs are currently in progress. Maximum
is 1"). Now Dagster's run monitoring asks LocalRunLauncher whether the worker lives, fails the run
at its next poll, and the queued refresh starts. The ClickHouse pool admits one run touching chdb
at a time; news, fundamentals and parity runs run beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from intel_assets.devtools.alpaca_server import SAMPLE_NEWS_FILE, start_alpaca_server
from intel_assets.run_launcher import LocalRunLauncher, process_alive
from intel_assets.run_limits import MAX_RUNTIME_TAG, monitoring_yaml, run_limits

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2024-03-05T15:59:00-05:00"  # a replay clock: the freshness sensors stay stopped
KEY, SECRET = "PKMONITORKEY01", "monitor-secret"
RANGE = {"dagster/asset_partition_range_start": "SYN000",
         "dagster/asset_partition_range_end": "SYN007"}
LAUNCH_MARGIN = 45.0  # dequeue + a fresh code server + worker start, on a loaded 2-core machine


# ---- the limits and the yaml ---------------------------------------------------------------

def test_limits_follow_the_freshness_budgets():
    limits = run_limits(60, 300)
    assert (limits.poll_interval_seconds, limits.start_timeout_seconds) == (15, 120)
    assert limits.max_runtime_seconds(["technicals", "regime"]) == 300
    assert limits.max_runtime_seconds(["news"]) == 360
    assert limits.max_runtime_seconds(["fundamentals"]) == 1200
    assert limits.max_runtime_seconds(["technicals", "regime", "news", "fundamentals"]) == 1260
    slow = run_limits(300, 600)  # budgets an operator might set
    assert (slow.poll_interval_seconds, slow.start_timeout_seconds) == (75, 600)
    assert slow.max_runtime_seconds(["technicals"]) == 600
    with pytest.raises(ValueError, match="technicals budget must be a finite number"):
        run_limits(float("inf"), 300)


def test_every_dagster_yaml_enables_run_monitoring_with_those_limits(tmp_path, monkeypatch):
    from intel_assets.cli.dagster_home import DAGSTER_YAML_MARKER, prepare_dagster_home
    from intel_assets.settings import load_settings

    expected = yaml.safe_load(monitoring_yaml(run_limits(60, 300)))["run_monitoring"]
    deploy = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert deploy["run_monitoring"] == expected  # the shipped file matches the derivation

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("INTEL_HOME", str(tmp_path / "home"))
    home = tmp_path / "home" / "dagster"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(  # what earlier versions wrote: brought up to date
        f"{DAGSTER_YAML_MARKER}: embedded Dagster storage (SQLite in this folder).\n"
        "run_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n  config:\n    max_concurrent_runs: 1\n")
    prepare_dagster_home(load_settings())
    written = yaml.safe_load((home / "dagster.yaml").read_text())
    assert written["run_monitoring"] == expected
    assert written["concurrency"]["pools"] == {"granularity": "run", "default_limit": 1}
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_poll_interval_seconds == 15
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert isinstance(instance.run_launcher, LocalRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health
        assert [(p.name, p.limit) for p in instance.event_log_storage.get_pool_limits()] == \
            [("clickhouse", 1)]  # stored up front (see cli/dagster_home.py)

    own = "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
    (home / "dagster.yaml").write_text(own)  # an operator's own file is never rewritten
    prepare_dagster_home(load_settings())
    assert (home / "dagster.yaml").read_text() == own


def test_refresh_jobs_carry_their_max_runtime(tmp_path, monkeypatch):
    from intel_assets.definitions import build_definitions
    from intel_assets.settings import load_settings

    monkeypatch.setenv("INTEL_HOME", str(tmp_path))
    defs = build_definitions(load_settings())
    runtimes = {job: defs.resolve_job_def(job).tags[MAX_RUNTIME_TAG] for job in (
        "refresh_technicals", "refresh_news", "refresh_fundamentals", "refresh_market_context")}
    assert runtimes == {"refresh_technicals": "300", "refresh_news": "360",
                        "refresh_fundamentals": "1200", "refresh_market_context": "1260"}


# ---- processes ---------------------------------------------------------------------------

def _python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, **kwargs)


def test_a_recycled_pid_is_not_mistaken_for_the_worker():
    child = _python("import time; print('up', flush=True); time.sleep(30)")
    try:
        assert child.stdout.readline().strip() == "up"
        assert process_alive(child.pid, time.time())[0]
        alive, why = process_alive(child.pid, time.time() - 60)  # "recorded" before it started
        assert not alive and "belongs to a process started" in why
    finally:
        child.kill()
        child.wait()
    alive, why = process_alive(child.pid, time.time())
    assert not alive and "no longer exists" in why


def test_the_chdb_lock_is_released_with_a_killed_process(tmp_path):
    path = tmp_path / "clickhouse"
    holder = _python(f"""
        import time
        from intel_assets.stores.warehouse import open_warehouse
        with open_warehouse("chdb://{path}", "torghut") as wh:
            wh.ensure_schema()
            print("held", flush=True)
            time.sleep(60)
    """, env={**os.environ, "TZ": "UTC"})
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    opener = _python(f"""
        import time
        from intel_assets.stores.warehouse import open_warehouse
        started = time.monotonic()
        with open_warehouse("chdb://{path}", "torghut", lock_timeout_seconds=5) as wh:
            wh.ensure_schema()
        print(f"opened {{time.monotonic() - started:.2f}}", flush=True)
    """, env={**os.environ, "TZ": "UTC"})
    out, _ = opener.communicate(timeout=120)
    assert opener.returncode == 0 and out.startswith("opened"), out
    assert float(out.split()[1]) < 5  # no wait for a lock: the dead holder's flock went with it


# ---- a real daemon -------------------------------------------------------------------------

class Stack:
    """A synthetic market seeded in chdb, the local Alpaca server, a Dagster home written by
    intel-assets and a running dagster-daemon over it."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.dagster_home = self.home / "dagster"
        self.alpaca = start_alpaca_server([SAMPLE_NEWS_FILE], api_key_id=KEY, api_secret_key=SECRET)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("INTEL_", "DAGSTER_"))}
        self.env.update({"INTEL_HOME": str(self.home), "INTEL_MARKET_SOURCE": "synthetic",
                         "INTEL_AS_OF": AS_OF, "TZ": "UTC", "DAGSTER_HOME": str(self.dagster_home),
                         "ALPACA_API_KEY_ID": KEY, "ALPACA_API_SECRET_KEY": SECRET,
                         "INTEL_ALPACA_DATA_URL": self.alpaca.url})
        seeded = self.cli(["seed", "--synthetic"])
        assert seeded.returncode == 0, seeded.stderr
        prepare = subprocess.run([sys.executable, "-c", "from intel_assets.cli.dagster_home import "
                                  "prepare_dagster_home; from intel_assets.settings import "
                                  "load_settings; prepare_dagster_home(load_settings())"],
                                 cwd=ROOT, env=self.env, capture_output=True, text=True)
        assert prepare.returncode == 0, prepare.stderr
        self.instance = DagsterInstance.from_config(str(self.dagster_home))
        self.poll = self.instance.run_monitoring_poll_interval_seconds
        self.daemon_log = open(root / "daemon.log", "w")
        self.daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run",  # Dagster's console script
             "-w", str(ROOT / "workspace.yaml")],
            cwd=ROOT, env=self.env, stdout=self.daemon_log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its code servers share the session: stopped together
        self._wait(lambda: "MONITORING" in {h.daemon_type for h in
                                             self.instance.get_daemon_heartbeats().values()},
                   60, "the daemon's monitoring heartbeat")

    def cli(self, args: list[str], **popen) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "intel_assets.cli", *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=300, **popen)

    def launch(self, job: str, config: dict | None = None) -> str:
        """Submit a run of `job` to the queue with `dagster job launch`; its run id."""
        before = {r.run_id for r in self.instance.get_runs()}
        extra = ["--config-json", json.dumps(config)] if config else []
        done = subprocess.run([sys.executable, "-m", "dagster", "job", "launch", "-w",
                               str(ROOT / "workspace.yaml"), "-j", job, "--tags", json.dumps(RANGE),
                               *extra],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        (run_id,) = {r.run_id for r in self.instance.get_runs()} - before
        return run_id

    def record(self, run_id: str):
        return self.instance.get_run_record_by_id(run_id)

    def status(self, run_id: str) -> DagsterRunStatus:
        return self.record(run_id).dagster_run.status

    def _wait(self, check, seconds: float, what: str):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.25)
        log = Path(self.daemon_log.name).read_text(errors="replace")[-3000:]
        raise AssertionError(f"timed out after {seconds:g} s waiting for {what}\n{log}")

    def wait_status(self, run_id: str, statuses: set, seconds: float) -> float:
        """Wait for the run to reach one of `statuses`; the time.time() it was seen there."""
        self._wait(lambda: self.status(run_id) in statuses, seconds,
                   f"run {run_id[:8]} to be {sorted(s.value for s in statuses)} "
                   f"(is {self.status(run_id).value})")
        return time.time()

    def stop(self) -> None:
        try:
            os.killpg(self.daemon.pid, signal.SIGTERM)
            self.daemon.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.daemon.pid, signal.SIGKILL)
            self.daemon.wait()
        self.daemon_log.close()
        self.instance.dispose()
        self.alpaca.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("monitoring"))
    try:
        yield running
    finally:
        running.stop()


def _started_runs(stack: Stack) -> list:
    return [r for r in stack.instance.get_runs() if r.status == DagsterRunStatus.STARTED]


def _wait_worker(stack: Stack, *, run_id: str | None = None, job: str | None = None,
                 max_runtime: str | None = None, fetching_news: bool = False) -> str:
    """Wait until the run picked by run_id / job / max_runtime tag is STARTED with its worker
    pid recorded (and, with `fetching_news`, a news request at the Alpaca server); its id."""
    def found():
        runs = [r for r in _started_runs(stack)
                if run_id in (None, r.run_id) and job in (None, r.job_name)
                and max_runtime in (None, r.tags.get(MAX_RUNTIME_TAG))]
        pid_known = [r for r in runs
                     if stack.instance.run_launcher.get_run_worker_debug_info(r) is not None]
        ready = pid_known and (stack.alpaca.requests or not fetching_news)
        return pid_known[0].run_id if ready else None
    return stack._wait(found, 90, f"a {job or 'run'} worker" +
                       (" fetching news" if fetching_news else ""))


def _hold_chdb(stack: Stack) -> subprocess.Popen:
    """A process holding the embedded ClickHouse's lock until killed."""
    holder = _python(f"""
        import time
        from intel_assets.stores.warehouse import open_warehouse
        with open_warehouse("chdb://{stack.home / 'clickhouse'}", "torghut"):
            print("held", flush=True)
            time.sleep(120)
    """, env=stack.env)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_killed_refresh_never_stalls_the_queue(stack):
    """kill -9 of `intel-assets materialize` mid-run (its technicals step waiting for the chdb
    lock another process holds): its run is failed at the next monitoring poll, and the queued
    technicals refresh (held back by the ClickHouse pool until then) starts and succeeds once
    the lock holder, killed -9 too, has released the lock with its death."""
    holder = _hold_chdb(stack)
    materialize = subprocess.Popen([sys.executable, "-m", "intel_assets.cli", "materialize"],
                                   cwd=ROOT, env=stack.env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    try:
        killed_run = _wait_worker(stack, job="refresh_market_context")
        queued = stack.launch("refresh_technicals")  # ~5 s: a fresh code server loads the workspace
        assert stack.status(killed_run) == DagsterRunStatus.STARTED  # still waiting for the lock
        assert stack.status(queued) == DagsterRunStatus.QUEUED  # the pool holds it behind the run
        materialize.send_signal(signal.SIGKILL)
        killed_at = time.time()
        holder.send_signal(signal.SIGKILL)
    finally:
        for process in (materialize, holder):
            process.kill()
            process.wait()

    failed_at = stack.wait_status(killed_run, {DagsterRunStatus.FAILURE}, stack.poll + 15)
    assert failed_at - killed_at <= stack.poll + 5  # within one monitoring interval (+ slack)
    stack.wait_status(queued, {DagsterRunStatus.STARTED, DagsterRunStatus.SUCCESS}, LAUNCH_MARGIN)
    stack.wait_status(queued, {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE}, 120)
    assert stack.status(queued) == DagsterRunStatus.SUCCESS  # chdb opened: the lock died too
    failure = [e.message for e in stack.instance.all_logs(killed_run)
               if e.dagster_event and e.dagster_event.event_type == DagsterEventType.RUN_FAILURE]
    assert any("run worker: process" in m and "no longer exists" in m for m in failure), failure
    started = stack.record(queued).start_time
    assert started >= stack.record(killed_run).end_time  # serialized: never beside the dead run


def test_a_slow_news_run_never_delays_technicals(stack):
    """A news refresh stuck on a dripping Alpaca server holds no ClickHouse slot: a technicals
    refresh submitted behind it starts and finishes while news is still running. (One symbol
    per request, each cut at its 10 s deadline: news stays busy for ~30 s, far longer than
    queueing and running the technicals refresh takes.)"""
    stack.alpaca.inject_faults(drip_seconds=0.5)
    stack.alpaca.server.requests.clear()
    news = stack.launch("refresh_news", {"resources": {"alpaca": {"config": {  # run config
        "api_key_id": {"env": "ALPACA_API_KEY_ID"},                     # replaces the code's
        "api_secret_key": {"env": "ALPACA_API_SECRET_KEY"},
        "data_url": stack.alpaca.url, "symbols_per_request": 1}}}})
    _wait_worker(stack, run_id=news, fetching_news=True)
    technicals = stack.launch("refresh_technicals")
    stack.wait_status(technicals, {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE},
                      LAUNCH_MARGIN + 60)
    assert stack.status(technicals) == DagsterRunStatus.SUCCESS
    assert stack.status(news) == DagsterRunStatus.STARTED  # news is still fetching
    assert stack.record(technicals).start_time > stack.record(news).start_time
    stack.alpaca.clear_faults()  # news then ends within its bounds (the last test waits for it)


def test_a_hung_run_is_ended_at_its_max_runtime_and_its_worker_stopped(stack):
    """A run whose worker is alive but stuck (waiting for the chdb lock another process holds;
    here with a 3 s dagster/max_runtime tag) is terminated by run monitoring; no code server
    knows this in-process run, so LocalRunLauncher signals the worker process itself."""
    holder = _hold_chdb(stack)
    hung = None
    try:
        hung = _python(f"""
            from dagster import DagsterInstance
            from intel_assets.definitions import defs
            with DagsterInstance.get() as instance:
                defs().resolve_job_def("refresh_technicals").execute_in_process(
                    instance=instance, tags={{**{RANGE!r}, "{MAX_RUNTIME_TAG}": "3"}})
        """, env=stack.env, stderr=subprocess.DEVNULL)
        run_id = _wait_worker(stack, job="refresh_technicals", max_runtime="3")
        ended = stack.wait_status(run_id, {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED},
                                  3 + stack.poll + 15)
        hung.wait(timeout=30)  # the worker process was stopped, not just marked
        assert ended - stack.record(run_id).start_time <= 3 + stack.poll + 15
        messages = [e.message for e in stack.instance.all_logs(run_id)]
        assert any("exceeding maximum runtime of 3 seconds" in m for m in messages), messages
        assert any("Sending SIGTERM to run worker process" in m for m in messages), messages
    finally:
        for process in (hung, holder):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    stack._wait(lambda: not _started_runs(stack), 60, "every run to finish")
    left = [r.run_id for r in stack.instance.get_runs()
            if r.status in (DagsterRunStatus.STARTED, DagsterRunStatus.QUEUED)]
    assert left == []  # nothing holds the queue or the pool after all of the above
