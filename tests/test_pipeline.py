"""End-to-end: seed the real chdb engine, refresh the universe in ONE Dagster run, publish."""

from __future__ import annotations

import json
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context

from intel_assets.cli.materialize import materialize
from intel_assets.cli.seed import seed
from intel_assets.contracts.bundle import WIRE_TOP_LEVEL_KEYS, MarketContextBundle
from intel_assets.jobs import REFRESH_JOB
from intel_assets.definitions import build_definitions
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.settings import LEAN_DEMO_AS_OF, load_settings

LEAN_UNIVERSE = "SPY,IBM,BAC,AIG"


def _settings(tmp_path: Path, chdb_dsn: str, **overrides):
    return load_settings(
        home=tmp_path / "home",
        clickhouse_url=chdb_dsn,
        clickhouse_database=f"t_{uuid.uuid4().hex[:10]}",
        **overrides,
    )


def _latest(settings, symbol: str) -> dict:
    store = BundleStore.from_dsn(settings.store_dsn)
    try:
        stored = store.latest(symbol)
        assert stored is not None, f"no bundle published for {symbol}"
        return json.loads(stored.body)
    finally:
        store.close()


def _raw_close(lean_dir: Path, symbol: str, day: str, ms: int) -> float:
    """The close of the LEAN minute bar stamped ms after New-York midnight, read from the zip."""
    with zipfile.ZipFile(lean_dir / "equity/usa/minute" / symbol.lower() / f"{day}_trade.zip") as zf:
        text = zf.read(zf.namelist()[0]).decode()
    for line in text.splitlines():
        fields = line.split(",")
        if int(fields[0]) == ms:
            return int(fields[4]) / 10_000
    raise AssertionError(f"no bar at {ms} ms in {symbol} {day}")


@pytest.fixture(scope="module")
def lean_run(tmp_path_factory, chdb_dsn, lean_dir):
    tmp = tmp_path_factory.mktemp("lean")
    settings = _settings(tmp, chdb_dsn, lean_data_dir=lean_dir, universe=LEAN_UNIVERSE,
                         as_of=LEAN_DEMO_AS_OF)
    seed(settings)
    with DagsterInstance.ephemeral() as instance:
        result = _run(settings, instance)
        runs = instance.get_runs()
    return settings, result, runs


def _run(settings, instance, first=None, last=None):
    from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    defs = build_definitions(settings)
    return defs.resolve_job_def(REFRESH_JOB).execute_in_process(
        instance=instance,
        tags={PARTITION_RANGE_START_TAG: first or settings.symbols[0],
              PARTITION_RANGE_END_TAG: last or settings.symbols[-1]},
        raise_on_error=False,
    )


def test_lean_universe_refreshes_in_one_run_and_publishes(lean_run):
    settings, result, runs = lean_run
    assert result.success
    assert len(runs) == 1, "the whole universe must refresh in one run"
    published = {
        e.partition for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey("published_bundle")
    }
    assert published == set(settings.symbols)
    for symbol in settings.symbols:
        wire = _latest(settings, symbol)
        assert set(wire) == WIRE_TOP_LEVEL_KEYS
        bundle = MarketContextBundle.model_validate(wire, by_alias=True, by_name=False)
        assert bundle.symbol == symbol
        assert bundle.as_of_utc == datetime.fromisoformat(LEAN_DEMO_AS_OF)
        assert bundle.domains.technicals.state.value == "ok"
        assert bundle.domains.regime.state.value == "ok"
        assert bundle.domains.news.state.value == "missing"
        assert bundle.domains.fundamentals.state.value == "missing"
        assert {"news_missing", "fundamentals_missing"} <= set(bundle.risk_flags)
        assert 0 < bundle.quality_score <= 0.5, "two of four domains missing caps quality at 0.5"


def test_checks_ran_and_passed(lean_run):
    _, result, _ = lean_run
    evaluations = result.get_asset_check_evaluations()
    names = {e.check_name for e in evaluations}
    assert names == {"bundle_matches_wire_contract", "degraded_domains_are_flagged"}
    assert all(e.passed for e in evaluations)


def test_technicals_use_no_bar_after_the_clock(lean_run, lean_dir):
    settings, _, _ = lean_run
    tech = _latest(settings, "SPY")["domains"]["technicals"]
    # As of 15:59 New York the newest complete bar is the one stamped 15:58 (ends 15:59).
    assert tech["asOf"] == "2013-10-11T19:59:00Z"
    assert tech["freshnessSeconds"] == 0
    expected = _raw_close(lean_dir, "SPY", "20131011", (15 * 60 + 58) * 60_000)
    assert tech["payload"]["lastPrice"] == pytest.approx(expected)
    assert tech["payload"]["lastBarEnd"].startswith("2013-10-11T19:59:00")


def test_stale_technicals_are_flagged_and_lower_quality(tmp_path, chdb_dsn):
    # Friday 15:00 New York: in session, ten minutes without bars is stale (after the close the
    # market clock keeps the session's last bar ok: test_after_close_technicals_stay_ok)
    end = datetime(2024, 3, 8, 20, 0, tzinfo=timezone.utc)
    fresh = _settings(tmp_path / "a", chdb_dsn, universe="SYNA,SYNB", as_of=end.isoformat())
    seed(fresh, synthetic=True)
    with DagsterInstance.ephemeral() as instance:
        assert _run(fresh, instance).success
    fresh_bundle = _latest(fresh, "SYNA")
    late = fresh.model_copy(update={"as_of": end + timedelta(minutes=10)})
    with DagsterInstance.ephemeral() as instance:
        assert _run(late, instance).success
    stale_bundle = _latest(late, "SYNA")
    assert fresh_bundle["domains"]["technicals"]["state"] == "ok"
    assert stale_bundle["domains"]["technicals"]["state"] == "stale"
    assert stale_bundle["domains"]["technicals"]["freshnessSeconds"] == 600
    assert "technicals_stale" in stale_bundle["riskFlags"]
    assert "technicals_stale" in stale_bundle["domains"]["technicals"]["riskFlags"]
    assert stale_bundle["qualityScore"] < fresh_bundle["qualityScore"]


def test_after_close_technicals_stay_ok(tmp_path, chdb_dsn):
    """Issue 13's measured "after the close every symbol is stale at quality 0.01", through the
    assets: materialized ten minutes after Friday's 16:00 close, technicals and regime are ok,
    flagged market_closed, at the quality they had at the close; freshness is the wall age."""
    end = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)  # Friday 16:00 New York
    fresh = _settings(tmp_path / "a", chdb_dsn, universe="SYNA,SYNB", as_of=end.isoformat())
    seed(fresh, synthetic=True)
    with DagsterInstance.ephemeral() as instance:
        assert _run(fresh, instance).success
    fresh_bundle = _latest(fresh, "SYNA")
    late = fresh.model_copy(update={"as_of": end + timedelta(minutes=10)})
    with DagsterInstance.ephemeral() as instance:
        assert _run(late, instance).success
    closed = _latest(late, "SYNA")
    for domain in ("technicals", "regime"):
        block = closed["domains"][domain]
        assert block["state"] == "ok", block
        assert "market_closed" in block["riskFlags"]
        assert block["freshnessSeconds"] == 600
        assert block["payload"]["session"]["marketClosed"] is True
        assert block["qualityScore"] == fresh_bundle["domains"][domain]["qualityScore"]
    assert "technicals_stale" not in closed["riskFlags"]


def test_symbol_without_data_is_missing_not_a_crash(tmp_path, chdb_dsn):
    end = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)
    settings = _settings(tmp_path, chdb_dsn, universe="SYNA,NODATA", as_of=end.isoformat())
    seed(settings.model_copy(update={"universe": ("SYNA",)}), synthetic=True)
    with DagsterInstance.ephemeral() as instance:
        result = _run(settings, instance)
    assert result.success
    wire = _latest(settings, "NODATA")
    assert wire["domains"]["technicals"]["state"] == "missing"
    assert wire["domains"]["regime"]["state"] == "missing"
    assert {"technicals_missing", "regime_missing"} <= set(wire["riskFlags"])
    assert wire["qualityScore"] == 0.0
    assert _latest(settings, "SYNA")["domains"]["technicals"]["state"] == "ok"


def test_failed_blocking_check_stops_publication(tmp_path, chdb_dsn):
    end = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)
    settings = _settings(tmp_path, chdb_dsn, universe="SYNA", as_of=end.isoformat())
    seed(settings, synthetic=True)
    defs = build_definitions(settings)
    with DagsterInstance.ephemeral() as instance:
        assert _run(settings, instance).success
        before = _latest(settings, "SYNA")
        store = BundleStore.from_dsn(settings.store_dsn)
        tampered = dict(store.staged("bundle", ["SYNA"])["SYNA"], llmHint="extra key Torghut rejects")
        store.stage("bundle", {"SYNA": tampered})
        store.close()
        from dagster import AssetSelection, Definitions, define_asset_job

        job = define_asset_job(
            "publish_only",
            selection=AssetSelection.assets("published_bundle")
            | AssetSelection.checks_for_assets(AssetKey("market_context_bundle")),
        )
        with_job = Definitions.merge(defs, Definitions(jobs=[job]))
        result = with_job.resolve_job_def("publish_only").execute_in_process(
            instance=instance, partition_key="SYNA", raise_on_error=False
        )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["bundle_matches_wire_contract"].passed is False
    assert not [e for e in result.get_asset_materialization_events()
                if e.asset_key == AssetKey("published_bundle")]
    assert _latest(settings, "SYNA") == before, "Torghut keeps the last good bundle"


def _store_resource(settings):
    """The sensors' bundle_store resource, as the code location binds it."""
    from intel_assets.definitions import market_context_resources

    return {"bundle_store": market_context_resources(settings)["bundle_store"]}


def _sensor_tick_after_refreshing(tmp_path, chdb_dsn, first: str, last: str):
    """The technicals freshness sensor's tick after refreshing first..last of SYNA..SYND."""
    end = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)
    settings = _settings(tmp_path, chdb_dsn, universe="SYNA,SYNB,SYNC,SYND", as_of=end.isoformat())
    seed(settings, synthetic=True)
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("symbol_freshness_sensor")
    with DagsterInstance.ephemeral() as instance:
        assert _run(settings, instance, first, last).success
        with build_sensor_context(instance=instance, definitions=defs,
                                  resources=_store_resource(settings)) as context:
            return sensor.evaluate_tick(context)


def test_freshness_sensor_requests_refresh_of_unmaterialized_range(tmp_path, chdb_dsn):
    result = _sensor_tick_after_refreshing(tmp_path, chdb_dsn, "SYNA", "SYNB")
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.partition_key_range.start == "SYNC"
    assert request.partition_key_range.end == "SYND"
    assert request.tags["intel/stale_symbols"] == "SYNC,SYND"
    # the replay instant is Friday's close: refreshed symbols idle, never-staged ones are due
    assert json.loads(result.cursor)["counts"] == {"market_closed": 2, "never_staged": 2}


def test_freshness_sensor_coalesces_gaps_into_one_range_run(tmp_path, chdb_dsn):
    """Stale symbols split by fresh ones (SYNA and SYNC..SYND stale, SYNB fresh) are refreshed by
    ONE range run from the first to the last stale symbol, not one run per gap: each run pays a
    launch, and per-gap runs fragmented a 500-symbol universe into ever smaller queued runs."""
    result = _sensor_tick_after_refreshing(tmp_path, chdb_dsn, "SYNB", "SYNB")
    assert [(r.partition_key_range.start, r.partition_key_range.end)
            for r in result.run_requests] == [("SYNA", "SYND")]
    assert result.run_requests[0].tags["intel/stale_symbols"] == "SYNA,SYNC,SYND"


def test_postgres_everywhere_dagster_storage_and_bundle_store(tmp_path, chdb_dsn, postgres_dsn,
                                                              postgres_schema_dsn, monkeypatch):
    """deploy/dagster.yaml puts Dagster's storage on PostgreSQL; the bundle store too."""
    import shutil
    from urllib.parse import urlparse

    import psycopg2

    url = urlparse(postgres_dsn)
    admin = psycopg2.connect(postgres_dsn)
    admin.autocommit = True
    dagster_db = f"dagster_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{dagster_db}"')
    admin.close()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "deploy" / "dagster.yaml", home)
    for key, value in {"DAGSTER_PG_USERNAME": url.username, "DAGSTER_PG_PASSWORD": "",
                       "DAGSTER_PG_HOST": url.hostname, "DAGSTER_PG_PORT": str(url.port),
                       "DAGSTER_PG_DB": dagster_db}.items():
        monkeypatch.setenv(key, value)
    end = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)
    settings = _settings(tmp_path, chdb_dsn, universe="SYNA,SYNB", as_of=end.isoformat(),
                         bundle_store_dsn=postgres_schema_dsn)
    seed(settings, synthetic=True)
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = _run(settings, instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).is_success
    wire = _latest(settings, "SYNB")
    assert MarketContextBundle.model_validate(wire).domains.technicals.state.value == "ok"


def test_torghut_reads_the_replayed_bundle_unchanged(lean_run):
    """A client behaving as Torghut's (proompteng/lab 255d330fe services/torghut/app/trading/
    market_context.py: envelope, strict parse, default policy TRADING_MARKET_CONTEXT_MAX_
    STALENESS_SECONDS=300 / MIN_QUALITY=0.4) reads the materialized LEAN replay from our serving
    API: allowed at the replay clock, stale and blocked when the same store is served with a
    live clock; bad input is {ok: false, message}; health has overallState and four domains."""
    import httpx

    from intel_assets.devtools.asgi import asgi_in_background
    from intel_assets.domain.clock import Clock
    from intel_assets.serving.app import ServingConfig, create_app, serving_config
    from intel_assets.torghut.client import MarketContextClient
    from intel_assets.torghut.guardrail import evaluate_market_context
    from intel_assets.torghut.settings import MarketContextSettings
    from torghut_schemas import Bundle255d, BundleHead

    settings, result, _ = lean_run
    assert result.success
    policy = MarketContextSettings()  # Torghut's defaults
    stores = lambda: BundleStore.from_dsn(settings.store_dsn)  # noqa: E731
    replay = create_app(stores, serving_config(settings))  # INTEL_AS_OF = the replay clock
    with asgi_in_background(replay) as url, MarketContextClient(f"{url}/api/torghut/market-context") as c:
        fetched = c.fetch("SPY")
        raw = httpx.get(f"{url}/api/torghut/market-context", params={"symbol": "SPY"}).json()
        bad = httpx.get(f"{url}/api/torghut/market-context", params={"symbol": "1X"})
        health = httpx.get(f"{url}/api/torghut/market-context/health").json()
    assert fetched.ok and raw["ok"] is True
    Bundle255d.model_validate(raw["context"])  # both Torghut versions parse it unchanged
    BundleHead.model_validate(raw["context"])
    status = evaluate_market_context(fetched.bundle, policy)
    assert status.allow_llm and status.reason is None, status
    assert bad.status_code == 400 and bad.json()["ok"] is False and bad.json()["message"]
    assert health["ok"] is True and health["health"]["overallState"] == "degraded"
    assert len(health["health"]["domainHealth"]) == 4  # news/fundamentals unconfigured: missing
    providers = {p["provider"]: p for p in health["health"]["providerHealth"]}
    assert not providers["news"]["configured"] and not providers["fundamentals"]["configured"]
    clickhouse = health["health"]["ingestionHealth"]["clickhouse"]
    assert clickhouse["configured"] and clickhouse["consecutiveFailures"] == 0
    assert clickhouse["lastSuccessAt"] and clickhouse["latencyMs"] > 0

    live = create_app(stores, ServingConfig(clock=Clock()))  # the same store, a live clock
    with asgi_in_background(live) as url, MarketContextClient(url) as c:
        aged = c.fetch("SPY")
    assert aged.ok and aged.bundle.freshness_seconds > 300 * 24 * 3600  # 2013 data in 2026
    assert "market_context_stale" in aged.bundle.risk_flags
    blocked = evaluate_market_context(aged.bundle, policy)
    assert not blocked.allow_llm and blocked.reason == "market_context_stale"


def test_materialize_on_torghuts_exact_tables(tmp_path, chdb_dsn, monkeypatch):
    """`intel-assets materialize` on a warehouse in Torghut's table shapes (proompteng/lab
    255d330fe services/dorvud/technical-analysis-flink/src/main/resources/ta-schema.sql):
    1-second microbars with stale versions still unmerged, bid/ask only in ta_signals with
    Torghut's own rsi14. The published technicals equal TA-Lib on the aggregated minute closes."""
    import numpy as np
    import pandas as pd
    import talib

    from helpers import reference_minute_bars, second_microbars, stale_versions
    from intel_assets.domain.ta_tables import signal_rows
    from intel_assets.stores.warehouse import open_warehouse

    start = datetime(2024, 3, 8, 14, 30, tzinfo=timezone.utc)
    clock = start + timedelta(minutes=89, seconds=59)
    settings = _settings(tmp_path, chdb_dsn, universe="AAA,BBB", as_of=clock.isoformat(),
                         market_source="synthetic")
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    clean = {s: second_microbars(s, start, minutes=90, seed=i) for i, s in enumerate(("AAA", "BBB"))}
    with open_warehouse(settings.clickhouse_dsn, settings.clickhouse_database) as wh:
        wh.ensure_schema()
        for table in ("ta_microbars", "ta_signals"):
            wh.client.command(f"SYSTEM STOP MERGES {settings.clickhouse_database}.{table}")
        for rows in clean.values():
            wh.insert("ta_microbars", stale_versions(rows))
            wh.insert("ta_microbars", rows)
        quotes = pd.DataFrame({"symbol": "AAA", "ts": clean["AAA"]["event_ts"].iloc[::30],
                               "bid": 100.0, "bid_size": 5.0, "ask": 100.02, "ask_size": 6.0})
        signals = signal_rows(quotes, source="ta", window_size="PT1S")
        signals["rsi14"] = 48.25
        wh.insert("ta_signals", signals)
        # Torghut adds a column we do not read: the observed column schema shows the live table
        wh.client.command(f"ALTER TABLE {settings.clickhouse_database}.ta_signals "
                          "ADD COLUMN torghut_added Nullable(Float64)")
    result = materialize(settings)
    assert result.success
    observed = {e.asset_observation_data.asset_observation.asset_key.path[-1]:
                e.asset_observation_data.asset_observation.metadata
                for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"}
    assert set(observed) == {"ta_microbars", "ta_signals"}  # source freshness in Dagster's UI
    newest = max(rows["event_ts"].max() for rows in clean.values())
    assert observed["ta_microbars"]["newest_event_ts"].value == newest.timestamp()
    assert observed["ta_microbars"]["symbols"].value == 2
    live = {c.name: c for c in observed["ta_signals"]["dagster/column_schema"].schema.columns}
    assert list(live)[-1] == "torghut_added" and live["torghut_added"].type == "Nullable(Float64)"
    assert live["imbalance_bid_px"].description == "read by intel_assets"
    assert live["torghut_added"].description is None and live["torghut_added"].constraints.nullable
    for symbol, rows in clean.items():
        tech = _latest(settings, symbol)["domains"]["technicals"]
        assert tech["state"] == "ok", tech
        minutes = reference_minute_bars(rows[rows["event_ts"] <= pd.Timestamp(clock)])
        expected = talib.RSI(minutes["close"].to_numpy(dtype=np.float64), timeperiod=14)[-1]
        payload = tech["payload"]
        assert payload["rsi14"] == pytest.approx(expected, abs=1e-9)
        assert payload["barCount"] == len(minutes) == 90
        assert (payload["barSize"], payload["sourceBarSize"]) == ("1m", "PT1S")
    aaa = _latest(settings, "AAA")["domains"]["technicals"]["payload"]
    assert aaa["spreadBps"] == pytest.approx(0.02 / 100.01 * 1e4)
    assert aaa["torghutSignals"]["rsi14"] == 48.25
    bbb = _latest(settings, "BBB")["domains"]["technicals"]
    assert bbb["payload"]["spreadBps"] is None and "technicals_no_quotes" in bbb["riskFlags"]


def test_clickhouse_down_publishes_source_errors_not_a_failed_run(tmp_path, monkeypatch):
    """A warehouse that cannot be read makes every technicals/regime block an error flagged
    technicals_source_error / regime_source_error, as Jangar marks a failed ClickHouse query
    (proompteng/lab 255d330fe services/jangar/src/server/torghut-market-context.ts); the run
    still publishes, Torghut blocks at once (market_context_domain_error), and health says
    why, with no password."""
    settings = load_settings(home=tmp_path / "home", universe="AAA",
                             clickhouse_url="http://reader:s3cret@127.0.0.1:1",
                             as_of="2024-03-08T21:00:00+00:00", market_source="synthetic")
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    result = materialize(settings)
    assert result.success
    bundle = _latest(settings, "AAA")
    for domain in ("technicals", "regime"):
        block = bundle["domains"][domain]
        assert block["state"] == "error" and f"{domain}_source_error" in block["riskFlags"]
        assert "ClickHouse read failed" in block["payload"]["reason"]
        assert "s3cret" not in json.dumps(block)
    store = BundleStore.from_dsn(settings.store_dsn)
    try:
        clickhouse = store.provider_health()["clickhouse"]
    finally:
        store.close()
    assert clickhouse["consecutiveFailures"] == 2  # technicals and regime each polled once
    assert clickhouse["lastSuccessAt"] is None and "s3cret" not in clickhouse["lastError"]


def test_freshness_sensor_takes_the_refresh_override_and_never_piles_up(tmp_path, chdb_dsn):
    """INTEL_TECHNICALS_REFRESH_SECONDS overrides the derived refresh age (the sensor evaluates
    every half of it, >= 5 s); while a refresh of the job is queued or running, nothing more is
    requested (it refreshes them). Under this replay clock (Friday's close) the refreshed SYNA
    is held (market closed) and the never-staged SYNB is due."""
    from dagster import DagsterRunStatus

    from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    end = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)
    settings = _settings(tmp_path, chdb_dsn, universe="SYNA,SYNB", as_of=end.isoformat(),
                         technicals_refresh_seconds=5)
    seed(settings, synthetic=True)
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("symbol_freshness_sensor")
    assert sensor.minimum_interval_seconds == 5
    assert "older than 5 s (budget 60 s" in sensor.description
    with DagsterInstance.ephemeral() as instance:
        assert _run(settings, instance, "SYNA", "SYNA").success
        with build_sensor_context(instance=instance, definitions=defs,
                                  resources=_store_resource(settings)) as context:
            due = sensor.evaluate_tick(context)
        assert [(r.partition_key_range.start, r.partition_key_range.end)
                for r in due.run_requests] == [("SYNB", "SYNB")]
        assert due.run_requests[0].tags["intel/due_reasons"] == "market_closed 1, never_staged 1"
        running = instance.create_run_for_job(
            defs.resolve_job_def("refresh_technicals"), status=DagsterRunStatus.STARTED,
            tags={PARTITION_RANGE_START_TAG: "SYNA", PARTITION_RANGE_END_TAG: "SYNB"})
        with build_sensor_context(instance=instance, definitions=defs,
                                  resources=_store_resource(settings)) as context:
            held = sensor.evaluate_tick(context)
        assert held.run_requests == []
        assert f"run {running.run_id[:8]} of refresh_technicals is STARTED" in held.skip_message
