"""The CLI's run path (issue 13, section 2 and 3): materialize after demo uses the demo's
configuration and never loses good data, says what it was asked and what ran, fails in one
line with the log's path, and its runs are runs of the code location's job in Dagster's UI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIVERSE = "SYN000,SYN001,SYN002,SYN003"
#: The tag Dagster's webserver filters a job's runs by (dagster._core.storage.tags
#: REPOSITORY_LABEL_TAG): <repository>@<code location> of workspace.yaml.
REPOSITORY_LABEL = (".dagster/repository", "__repository__@intel_assets")


def _cli(args, home: Path, **env):
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("INTEL_", "DAGSTER_", "ALPACA_"))}
    full_env.update({"INTEL_HOME": str(home), "TZ": "UTC", "INTEL_UNIVERSE": UNIVERSE,
                     "INTEL_MARKET_SOURCE": "synthetic", **env})
    return subprocess.run([sys.executable, "-m", "intel_assets.cli", *args], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=600)


def _table(stdout: str) -> dict[str, list[str]]:
    lines = [line.replace(" (sample)", "+sample") for line in stdout.splitlines()]
    return {cells[0]: cells for cells in (line.split() for line in lines)
            if cells and cells[0].startswith("SYN") and len(cells) >= 6}


def _clock_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("replay clock:"))


def _store(home: Path):
    from intel_assets.stores.bundle_store import BundleStore
    from intel_assets.stores.local_postgres import STORE_DB, ensure_running

    return BundleStore.from_dsn(ensure_running(home).url(STORE_DB))


@pytest.fixture(scope="module")
def synthetic_demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("runs")
    done = _cli(["demo"], home)
    assert done.returncode == 0, done.stdout + done.stderr
    return home, done


def test_materialize_after_demo_uses_its_providers_and_clock(synthetic_demo):
    """Issue 13 §2: `materialize` after `make demo` republished at quality 0.50 (news and
    fundamentals missing, an SEC User-Agent error) and, on the synthetic market, on the live
    clock (all stale). Now it uses the demo's configuration: the same replay clock, the sample
    providers, the same quality."""
    home, demo = synthetic_demo
    again = _cli(["materialize"], home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _clock_line(again.stdout) == _clock_line(demo.stdout)  # the seeded clock, not live
    assert "SAMPLE news" in again.stdout and "SAMPLE filings" in again.stdout
    assert "User-Agent" not in again.stdout + again.stderr
    before, after = _table(demo.stdout), _table(again.stdout)
    assert set(after) == set(UNIVERSE.split(","))
    for symbol, cells in after.items():
        assert cells[1] == before[symbol][1], f"{symbol}: quality changed {before[symbol]} -> {cells}"
        assert cells[2:5] == ["ok", "ok", "ok"], cells  # technicals, regime, news (sample server)


def test_materialize_two_symbols_runs_exactly_them_and_names_the_runs(synthetic_demo):
    """Issue 13 §2: `materialize SYN000 SYN003` silently refreshed SYN001 and SYN002 and never
    named what ran. Now: what was asked, one run per contiguous group (SYN000; SYN003), a line
    per step with counts and elapsed time, each run's outcome and UI link; SYN001 and SYN002
    are not republished. §3: the runs are runs of the refresh job with the code location's
    origin and repository tag, which the UI's Overview timeline and job page need."""
    from dagster import DagsterInstance, RunsFilter

    from intel_assets.jobs import REFRESH_JOB

    home, _ = synthetic_demo
    with _store(home) as store:
        untouched = {s: len(store.history(s)) for s in ("SYN001", "SYN002")}
    done = _cli(["materialize", "syn000", "SYN003"], home)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "asked: SYN000, SYN003" in out
    assert "runs:  2 (SYN000; SYN003)" in out and "one run per contiguous group" in out
    run_ids = [line.split()[1].rstrip(":") for line in out.splitlines()
               if line.startswith("run ") and "succeeded in" in line]
    assert len(run_ids) == 2
    for run_id in run_ids:
        assert f"UI: http://127.0.0.1:3000/runs/{run_id}" in out
    steps = [line for line in out.splitlines() if line.startswith("  [")]
    assert any("published_bundle: done in" in s and "1 materialized" in s and "elapsed" in s
               for s in steps), steps
    assert set(_table(out)) == {"SYN000", "SYN003"}
    with _store(home) as store:
        assert {s: len(store.history(s)) for s in untouched} == untouched
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        listed = {r.run_id: r for r in instance.get_runs(RunsFilter(
            job_name=REFRESH_JOB, tags=dict([REPOSITORY_LABEL])))}
        assert set(run_ids) <= set(listed)
        for run_id in run_ids:
            origin = listed[run_id].remote_job_origin
            assert origin is not None and origin.location_name == "intel_assets"
            assert origin.job_name == REFRESH_JOB
            assert listed[run_id].job_code_origin.repository_origin.code_pointer.module \
                == "intel_assets.definitions"


def test_materialize_with_news_down_says_which_blocks_it_kept(synthetic_demo):
    """Issue 13 §2: a degraded refresh overwrote the better published block and said nothing.
    With the news provider down, materialize keeps each symbol's published news block (within
    its budget at the same clock) and says so, symbol and domain, with the refresh's problem."""
    home, _ = synthetic_demo
    done = _cli(["materialize", "SYN000"], home, ALPACA_API_KEY_ID="key", ALPACA_API_SECRET_KEY="secret",
                INTEL_ALPACA_DATA_URL="http://127.0.0.1:1")
    assert done.returncode == 0, done.stdout + done.stderr
    kept = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("kept ")]
    assert len(kept) == 1 and kept[0].startswith("kept SYN000 news: news fetch failed"), done.stdout
    assert "block as of" in kept[0] and "(stale, quality" in kept[0]
    assert _table(done.stdout)["SYN000"][4] == "stale"


def test_a_failed_run_is_one_error_line_with_the_log_path(tmp_path):
    """Issue 13 §2: after a failed run materialize printed the old healthy-looking table under
    ~105 lines of traceback and no "run failed" line. A real failure: the bundle store (SQLite)
    refuses the bundle step's write. Now: no table, no traceback, one error line naming the
    failed step and a log file holding the full run log, exit 1."""
    home = tmp_path / "home"
    db = tmp_path / "bundles.sqlite3"
    from intel_assets.stores.bundle_store import BundleStore

    with BundleStore.from_dsn(f"sqlite:///{db}") as store:
        store.ensure_schema()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TRIGGER refuse_bundles BEFORE INSERT ON staged_blocks "
                     "WHEN NEW.kind = 'bundle' BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END")
    env = {"INTEL_BUNDLE_STORE_DSN": f"sqlite:///{db}"}
    seeded = _cli(["seed", "--synthetic"], home, **env)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    done = _cli(["materialize"], home, **env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "quality" not in done.stdout  # no table of earlier bundles
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "failed at step market_context_bundle" in errors[0] and "disk quota exceeded" in errors[0]
    log = Path(errors[0].split("full run log: ")[1])
    text = log.read_text()
    assert "STEP_FAILURE" in text and "disk quota exceeded" in text and "Stack Trace" in text
    assert "FAILED" in done.stdout  # the run's outcome line


@pytest.mark.parametrize("args", [["bundle", "SYN000"], ["materialize"]])
def test_an_unreachable_store_is_one_error_line(tmp_path, args):
    """Issue 13 §2: `bundle` and `materialize` with an unreachable store printed a raw
    traceback. Now one error line (what, where, what to check), exit 2, nothing run."""
    done = _cli(args, tmp_path / "home",
                INTEL_BUNDLE_STORE_DSN="postgresql://intel@127.0.0.1:1/bundles")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot reach the PostgreSQL bundle "
                                                     "store at 127.0.0.1:1"), done.stderr
    if args[0] == "materialize":
        assert "INTEL_BUNDLE_STORE_DSN" in errors[0] and "nothing was refreshed" in errors[0]
        assert "refreshing" not in done.stdout


def test_a_refresh_never_replaces_a_better_published_block_within_its_budget(
        tmp_path, monkeypatch, chdb_dsn):
    """Issue 13 §2: a degraded refresh (news and fundamentals missing) overwrote the good
    bundle. On the real embedded store: a good bundle of IBM (a synthetic market, the sample
    news of IBM) is published; a refresh
    with no news provider, then one whose provider is down, keep the published news block,
    marked stale + news_fetch_failed and naming where it came from; past the news budget the
    block is what the refresh found (an error)."""
    from intel_assets.cli.local_stack import sample_providers
    from intel_assets.cli.materialize import materialize
    from intel_assets.cli.seed import seed
    from intel_assets.domain.bundle import KEPT_FROM_PUBLISHED
    from intel_assets.settings import load_settings

    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY"):  # no news provider configured
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    clock = datetime.fromisoformat("2013-10-11T19:59:00+00:00")  # the sample news's replay minute
    base = load_settings(home=tmp_path / "home", clickhouse_url=chdb_dsn,
                         clickhouse_database=f"t_{uuid.uuid4().hex[:10]}", universe="IBM",
                         market_source="synthetic", as_of=clock.isoformat())
    seed(base, synthetic=True)

    def news_at(settings, seconds: int) -> dict:
        result = materialize(settings.model_copy(update={"as_of": clock + timedelta(seconds=seconds)}))
        assert result.success, [e.step_failure_data.error.to_string()
                                for e in result.all_events if e.is_step_failure]
        with _store(settings.home) as store:
            return json.loads(store.latest("IBM").body)["domains"]["news"]

    with sample_providers(base) as good:
        published = news_at(good, 0)
    assert published["state"] == "ok" and published["qualityScore"] > 0
    unconfigured = news_at(base, 60)  # no news provider: the refresh's block is missing
    assert unconfigured["state"] == "stale"
    assert unconfigured["riskFlags"][:2] == ["news_stale", "news_fetch_failed"]
    assert unconfigured["asOf"] == published["asOf"]
    assert unconfigured["payload"][KEPT_FROM_PUBLISHED] == published["asOf"]
    assert unconfigured["payload"]["fetchError"].startswith("refresh missing")
    assert unconfigured["qualityScore"] < published["qualityScore"]
    for name, secret in (("ALPACA_API_KEY_ID", good.alpaca_api_key_id),  # configured keys
                         ("ALPACA_API_SECRET_KEY", good.alpaca_api_secret_key)):
        monkeypatch.setenv(name, secret.get_secret_value())
    down = base.model_copy(update={"alpaca_data_url": "http://127.0.0.1:1",
                                   "alpaca_api_key_id": good.alpaca_api_key_id,
                                   "alpaca_api_secret_key": good.alpaca_api_secret_key})
    kept = news_at(down, 120)  # the provider is down: still the published block, stale
    assert kept["state"] == "stale" and kept["asOf"] == published["asOf"]
    assert "news_fetch_failed" in kept["riskFlags"]
    assert kept["qualityScore"] == pytest.approx(unconfigured["qualityScore"], abs=0.05)
    past = news_at(down, 301 + 60)  # past the 300 s news budget: the refresh's error block
    assert past["state"] == "error" and "news_error" in past["riskFlags"]
    assert KEPT_FROM_PUBLISHED not in past["payload"]


def test_sample_providers_leave_no_sample_keys_behind(tmp_path, monkeypatch):
    """Reproduces a leak seen in the full suite: `demo`/`materialize` in one process exported
    the sample news keys for good, so every later load_settings() in that process took them for
    configured Alpaca keys (on Alpaca's live URL) and news came out `error` instead of
    `missing`."""
    from intel_assets.cli.local_stack import sample_providers
    from intel_assets.settings import load_settings

    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "theirs")  # a value set before is put back
    base = load_settings(home=tmp_path, market_source="synthetic")
    with sample_providers(base) as inside:
        assert os.environ["ALPACA_API_KEY_ID"] == inside.alpaca_api_key_id.get_secret_value()
    assert "ALPACA_API_KEY_ID" not in os.environ
    assert os.environ["ALPACA_API_SECRET_KEY"] == "theirs"
    assert load_settings(home=tmp_path).alpaca_api_key_id is None


def test_intel_as_of_live_overrides_the_seeded_replay_clock(tmp_path, monkeypatch):
    """Reproduces P5 finding no live clock: once `seed` remembered the synthetic market's newest
    bar, demo/materialize/ui always took it as the replay clock (and with LEAN data, LEAN's demo
    minute) and there was no way to say "live" but deleting a file. INTEL_AS_OF=live says it."""
    from intel_assets.cli.common import local_settings, remember_seeded_clock
    from intel_assets.settings import SettingsError, load_settings

    monkeypatch.setenv("INTEL_HOME", str(tmp_path))
    monkeypatch.setenv("INTEL_MARKET_SOURCE", "synthetic")
    monkeypatch.delenv("INTEL_AS_OF", raising=False)
    newest = datetime.fromisoformat("2026-12-02T21:00:00+00:00")
    remember_seeded_clock(load_settings(), "synthetic", newest)
    assert local_settings(quiet=True).as_of == newest  # the seeded market's clock by default
    for spelled in ("live", " LIVE "):
        monkeypatch.setenv("INTEL_AS_OF", spelled)
        assert local_settings(quiet=True).as_of is None and load_settings().as_of is None
    monkeypatch.setenv("INTEL_AS_OF", "lve")
    with pytest.raises(SettingsError, match="INTEL_AS_OF=live for the live clock"):
        load_settings()
