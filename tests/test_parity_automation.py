"""What runs by itself once TORGHUT_DB_DSN is set: parity partitions are trading days from
Torghut's first decision (to the replay clock's day under INTEL_AS_OF), parity automation is
stopped by default under a replay clock, the rollout schedules always start stopped, and `ui`
starts the two venues parity needs (or says plainly that it did not)."""

from __future__ import annotations

import socket
import subprocess
import time
from datetime import date, datetime, timedelta

import pytest

from intel_assets.domain.market_data import NEW_YORK
from intel_assets.domain.strategy import seed_trade_decisions
from intel_assets.cli.local_stack import parity_venues
from intel_assets.jobs import PARITY_JOB
from intel_assets.parity_definitions import build_parity_definitions, parity_config
from intel_assets.settings import ParitySettings
from intel_assets.settings import load_settings

REPLAY = datetime(2013, 10, 11, 15, 59, tzinfo=NEW_YORK)
ROLLOUT_SCHEDULES = ("guardrail_daily_nightly", "rollout_gate_daily")


def _statuses(defs) -> dict[str, str]:
    found = {s.name: s.default_status.value for s in defs.schedules}
    found.update({s.name: s.default_status.value for s in defs.sensors})
    return found


def test_partitions_run_from_the_first_decision_to_the_replay_clock(torghut_db, lean_dir,
                                                                      postgres_schema_dsn):
    seed_trade_decisions(torghut_db, lean_dir, date(2013, 10, 8))
    env = {"TORGHUT_DB_DSN": postgres_schema_dsn, "INTEL_LEAN_DATA_DIR": str(lean_dir)}
    config = parity_config(ParitySettings.from_environ(env), as_of=REPLAY)
    assert (config["start_date"], config["end_date"]) == ("2013-10-08", "2013-10-11")
    defs = build_parity_definitions(**config)
    keys = defs.resolve_job_def(PARITY_JOB).partitions_def.get_partition_keys()
    assert keys == ["2013-10-08", "2013-10-09", "2013-10-10", "2013-10-11"]
    assert set(_statuses(defs).values()) == {"STOPPED"}, "a replay clock runs nothing by itself"


def test_live_partitions_are_trading_days_and_only_parity_automation_runs(
        torghut_db, lean_dir, postgres_schema_dsn):
    seed_trade_decisions(torghut_db, lean_dir, date(2013, 10, 8))
    env = {"TORGHUT_DB_DSN": postgres_schema_dsn, "INTEL_LEAN_DATA_DIR": str(lean_dir)}
    config = parity_config(ParitySettings.from_environ(env))
    assert config["start_date"] == "2013-10-08" and config["end_date"] is None
    defs = build_parity_definitions(**config)
    partitions = defs.resolve_job_def(PARITY_JOB).partitions_def
    keys = partitions.get_partition_keys()
    assert keys[0] == "2013-10-08"
    days = [date.fromisoformat(k) for k in keys]
    assert all(d.weekday() < 5 for d in days), "no weekend partitions"
    calendar = (days[-1] - days[0]).days + 1
    assert len(days) < calendar * 5 / 7, "trading days, not every calendar day"
    assert "2013-11-28" not in keys and "2013-11-29" in keys, "Thanksgiving 2013 is excluded"
    assert "2013-10-14" in keys, "Columbus Day is a trading day"
    today = datetime.now(NEW_YORK).date()
    assert days[-1] >= today - timedelta(days=4), "through today"
    statuses = _statuses(defs)
    assert statuses["parity_on_new_decisions"] == statuses["parity_nightly"] == "RUNNING"
    assert all(statuses[name] == "STOPPED" for name in ROLLOUT_SCHEDULES), \
        "the rollout schedules are off by default, as the README says"


def test_start_date_override_and_an_unreadable_database_fall_back_without_failing(lean_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"TORGHUT_DB_DSN": f"postgresql://torghut@127.0.0.1:{port}/torghut",
           "INTEL_LEAN_DATA_DIR": str(lean_dir)}
    config = parity_config(ParitySettings.from_environ(env), as_of=REPLAY)
    assert config["start_date"] == config["end_date"] == "2013-10-11", \
        "no decisions readable: one partition, the replay clock's day"
    pinned = parity_config(ParitySettings.from_environ({**env, "INTEL_PARITY_START_DATE": "2013-10-07"}), as_of=REPLAY)
    assert pinned["start_date"] == "2013-10-07"


def test_definitions_stop_parity_automation_under_the_replay_clock(tmp_path, monkeypatch,
                                                                   lean_dir):
    from intel_assets.definitions import build_definitions

    monkeypatch.setenv("TORGHUT_DB_DSN", "postgresql://torghut@127.0.0.1:9/torghut")
    monkeypatch.setenv("INTEL_LEAN_DATA_DIR", str(lean_dir))
    replay = build_definitions(load_settings(home=tmp_path, lean_data_dir=lean_dir,
                                             as_of=REPLAY.isoformat()))
    live = build_definitions(load_settings(home=tmp_path, lean_data_dir=lean_dir))
    assert replay.resolve_sensor_def("parity_on_new_decisions").default_status.value == "STOPPED"
    assert replay.resolve_schedule_def("parity_nightly").default_status.value == "STOPPED"
    assert live.resolve_sensor_def("parity_on_new_decisions").default_status.value == "RUNNING"
    for name in ROLLOUT_SCHEDULES:
        assert live.resolve_schedule_def(name).default_status.value == "STOPPED", name


def _wait_for_port(url: str, seconds: float = 60) -> bool:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def test_ui_starts_the_lean_runner_and_paper_venue_parity_needs(tmp_path, lean_dir, monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY_ID", raising=False)
    settings = load_settings(home=tmp_path, lean_data_dir=lean_dir, as_of=REPLAY.isoformat())
    commands, env, notes = parity_venues(settings, {"TORGHUT_DB_DSN": "postgresql://x@h/t"})
    assert set(env) == {"INTEL_LEAN_RUNNER_URL", "INTEL_ALPACA_TRADING_URL",
                        "INTEL_ALPACA_REPLAY_CLOCK"} and env["INTEL_ALPACA_REPLAY_CLOCK"] == "1"
    assert any("LEAN runner on" in n for n in notes)
    assert any("Alpaca paper server" in n for n in notes)
    assert any("starts STOPPED under the replay clock" in n for n in notes)
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for cmd in commands]
    try:
        for url in (env["INTEL_LEAN_RUNNER_URL"], env["INTEL_ALPACA_TRADING_URL"]):
            assert _wait_for_port(url), f"nothing listens on {url}"
    finally:
        for proc in procs:  # stopping them is clean-up, not what this test is about
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:  # once seen under a full suite run: SIGKILL
                proc.kill()
                proc.wait(timeout=20)

    assert parity_venues(settings, {}) == ([], {}, []), "no TORGHUT_DB_DSN: no parity venues"
    configured = {"TORGHUT_DB_DSN": "postgresql://x@h/t", "INTEL_LEAN_RUNNER_URL": "http://r:1",
                  "INTEL_ALPACA_TRADING_URL": "http://a:2"}
    commands, env, notes = parity_venues(settings, configured)
    assert commands == [] and env == {}
    assert any("http://r:1 (not started here)" in n for n in notes)


def test_ui_starts_the_local_paper_venue_beside_the_sample_news_keys(tmp_path, lean_dir, monkeypatch):
    """Reproduces what `make ui` did after `make gate`: the sample news server's keys, put into
    the children's environment, were taken for the user's own Alpaca keys, so no paper venue
    was started and parity runs would have gone to Alpaca's real paper API with sample keys."""
    from intel_assets.devtools.sample_keys import SAMPLE_ALPACA_KEYS

    monkeypatch.delenv("ALPACA_API_KEY_ID", raising=False)
    settings = load_settings(home=tmp_path, lean_data_dir=lean_dir, as_of=REPLAY.isoformat())
    commands, env, notes = parity_venues(
        settings, {"TORGHUT_DB_DSN": "postgresql://x@h/t", **SAMPLE_ALPACA_KEYS})
    assert "INTEL_ALPACA_TRADING_URL" in env and any("Alpaca paper server" in n for n in notes)
    assert not any("your ALPACA_API_KEY_ID" in n for n in notes)


def test_ui_finds_the_demo_torghut_database_only_once_make_gate_made_it(tmp_path, monkeypatch):
    from intel_assets.cli.rollout import existing_demo_dsn, torghut_dsn_for

    monkeypatch.delenv("TORGHUT_DB_DSN", raising=False)
    settings = load_settings(home=tmp_path)
    assert existing_demo_dsn(settings) is None, "no demo database yet: ui loads no parity slice"
    made, is_demo = torghut_dsn_for(settings)  # what `intel-assets parity --week` does first
    assert is_demo and existing_demo_dsn(settings) == made
    assert existing_demo_dsn(load_settings(home=tmp_path, embedded_postgres=False)) is None


def test_ui_says_plainly_when_it_cannot_start_the_venues(tmp_path):
    settings = load_settings(home=tmp_path, market_source="synthetic")
    commands, env, notes = parity_venues(settings, {"TORGHUT_DB_DSN": "postgresql://x@h/t"})
    assert commands == [] and env == {}
    assert [n.split(":")[1].strip() for n in notes] == [
        "NOT starting a LEAN runner", "NOT starting the Alpaca paper server"]
    assert all("will record that side as unavailable" in n for n in notes)


@pytest.mark.parametrize("day", ["2013-10-12", "2013-11-28"])
def test_weekends_and_exchange_holidays_are_not_partitions(lean_dir, day):
    defs = build_parity_definitions(
        torghut_db_dsn="postgresql://x@127.0.0.1:9/t", lean_runner_url="http://x:9",
        alpaca_url="http://x:9", lean_data_dir=lean_dir, start_date="2013-10-07",
        end_date="2013-12-31", default_running=False)
    partitions = defs.resolve_job_def(PARITY_JOB).partitions_def
    assert not partitions.has_partition_key(day)
    assert partitions.has_partition_key("2013-12-31")


def test_the_sensor_says_in_plain_words_when_the_database_is_not_torghuts(postgres_schema_dsn,
                                                                         lean_dir):
    from dagster import DagsterInstance, build_sensor_context

    defs = build_parity_definitions(
        torghut_db_dsn=postgres_schema_dsn, lean_runner_url="http://x:9", alpaca_url="http://x:9",
        lean_data_dir=lean_dir, start_date="2013-10-07", default_running=False)
    sensor = defs.resolve_sensor_def("parity_on_new_decisions")
    with DagsterInstance.ephemeral() as instance:
        tick = sensor.evaluate_tick(build_sensor_context(
            instance=instance, definitions=defs,
            resources={"torghut_db": defs.resources["torghut_db"]}))
    assert not tick.run_requests
    assert "cannot read Torghut's trade_decisions" in tick.skip_message
    assert "table trade_decisions does not exist" in tick.skip_message


def test_canary_settings_are_read_once_and_bad_values_refused_in_one_line(lean_dir):
    """INTEL_CANARY_SYMBOLS / _ACCOUNTS become the rollout policy's canary subset,
    INTEL_CANARY_LEAN_RUNNER_URL and INTEL_SERVING_URL what canary_slo scrapes; a value that
    cannot work is one ParityConfigError naming the variable."""
    import pytest

    from intel_assets.settings import ParityConfigError

    env = {"TORGHUT_DB_DSN": "postgresql://t@127.0.0.1:9/t", "INTEL_LEAN_DATA_DIR": str(lean_dir),
           "INTEL_PARITY_START_DATE": "2013-10-07", "INTEL_CANARY_SYMBOLS": "spy, aapl,SPY",
           "INTEL_CANARY_ACCOUNTS": "live-canary", "INTEL_SERVING_URL": "http://serving:8080",
           "INTEL_CANARY_LEAN_RUNNER_URL": "http://lean-runner:8787"}
    config = parity_config(ParitySettings.from_environ(env))
    policy = config["rollout_policy"].policy()
    assert (policy.canary_symbols, policy.canary_accounts) == (["AAPL", "SPY"], ["live-canary"])
    assert (config["serving_url"], config["canary_runner_url"]) == (
        "http://serving:8080", "http://lean-runner:8787")
    for name, value in (("INTEL_CANARY_SYMBOLS", "SPY,not a symbol!"),
                        ("INTEL_SERVING_URL", "serving:8080"),
                        ("INTEL_CANARY_LEAN_RUNNER_URL", "lean-runner")):
        with pytest.raises(ParityConfigError) as refused:
            parity_config(ParitySettings.from_environ({**env, name: value}))
        assert str(refused.value).startswith(f"{name}") and "\n" not in str(refused.value)
