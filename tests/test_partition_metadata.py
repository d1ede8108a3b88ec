"""Each partition's materialization carries ITS symbol's metadata (issue 13, section 1,
"Per-symbol view"): one run over many symbols used to copy the run-level table (counts and a
bounded per-symbol markdown table) onto every partition's event, so a symbol's partition page
showed the universe, not the symbol, and plotted nothing of its own over time."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance

from intel_assets.cli.seed import seed
from intel_assets.definitions import build_definitions
from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, REFRESH_JOB
from intel_assets.settings import load_settings
from intel_assets.stores.bundle_store import BundleStore

SYMBOLS = ["NODATA", "SYNA", "SYNB"]
ASSETS = ["technicals", "regime", "news", "fundamentals", "research_brief",
          "market_context_bundle", "published_bundle"]
DIRECTIONS, LEVELS = {"up", "down", "flat", "unknown"}, {"low", "normal", "high", "unknown"}


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory, chdb_dsn):
    """Three symbols refreshed in ONE run on a persistent (SQLite file) Dagster instance;
    NODATA has no bars, its neighbours do."""
    tmp = tmp_path_factory.mktemp("partition_metadata")
    end = datetime(2024, 3, 8, 21, 0, tzinfo=timezone.utc)
    settings = load_settings(home=tmp / "home", clickhouse_url=chdb_dsn,
                             clickhouse_database=f"t_{uuid.uuid4().hex[:10]}",
                             universe=",".join(SYMBOLS), as_of=end.isoformat())
    seed(settings.model_copy(update={"universe": ("SYNA", "SYNB")}), synthetic=True)
    (tmp / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp / "dagster")) as instance:
        result = build_definitions(settings).resolve_job_def(REFRESH_JOB).execute_in_process(
            instance=instance, raise_on_error=False,
            tags={PARTITION_RANGE_START_TAG: SYMBOLS[0], PARTITION_RANGE_END_TAG: SYMBOLS[-1]})
        assert result.success
        latest = {}  # each partition's latest materialization's metadata
        for name in ASSETS:
            for symbol in SYMBOLS:
                records = instance.fetch_materializations(AssetRecordsFilter(
                    asset_key=AssetKey(name), asset_partitions=[symbol]), limit=1).records
                latest[name, symbol] = records[0].asset_materialization.metadata
        events = [e.dagster_event for e in instance.all_logs(result.run_id)
                  if e.is_dagster_event and e.dagster_event.event_type
                  == DagsterEventType.ASSET_MATERIALIZATION]
        counts = Counter((e.asset_key.to_user_string(), e.partition) for e in events)
    store = BundleStore.from_dsn(settings.store_dsn)
    try:
        staged = {kind: store.staged(kind, SYMBOLS) for kind in ("technicals", "research")}
        published = {s: json.loads(store.latest(s).body) for s in SYMBOLS}
    finally:
        store.close()
    return latest, counts, staged, published


def test_one_materialization_event_per_asset_and_partition(refreshed):
    _, counts, _, _ = refreshed
    assert counts == Counter({(name, symbol): 1 for name in ASSETS for symbol in SYMBOLS})


def test_technicals_partition_shows_its_own_symbol(refreshed):
    latest, _, staged, _ = refreshed
    syna, synb, nodata = (latest["technicals", s] for s in ("SYNA", "SYNB", "NODATA"))
    assert syna["state"].value == "ok" and nodata["state"].value == "missing"
    assert nodata["quality"].value == 0.0 and "technicals_missing" in nodata["risk_flags"].value
    assert "last_price" not in nodata  # no value, no key: nothing false is plotted
    for symbol, meta in (("SYNA", syna), ("SYNB", synb)):
        payload = staged["technicals"][symbol]["payload"]
        assert meta["last_price"].value == pytest.approx(payload["lastPrice"])
        assert meta["rsi14"].value == pytest.approx(payload["rsi14"])
        assert meta["quality"].value == pytest.approx(staged["technicals"][symbol]["qualityScore"])
        assert isinstance(meta["age_s"].value, int)
    assert syna["last_price"].value != synb["last_price"].value
    assert not any(key in syna for key in ("by_symbol", "symbols", "state_ok", "mean_quality"))


def test_regime_news_fundamentals_partitions_carry_their_states(refreshed):
    latest, _, _, _ = refreshed
    assert latest["regime", "SYNA"]["state"].value == "ok"
    assert latest["regime", "SYNA"]["trend"].value in DIRECTIONS
    assert latest["regime", "SYNA"]["volatility_level"].value in LEVELS
    assert latest["regime", "NODATA"]["state"].value == "missing"
    for name in ("news", "fundamentals"):  # no provider configured in this test
        assert latest[name, "SYNA"]["state"].value == "missing"


def test_bundle_brief_and_publication_per_partition(refreshed):
    latest, _, staged, published = refreshed
    for symbol in SYMBOLS:
        bundle = latest["market_context_bundle", symbol]
        assert bundle["bundle_quality"].value == pytest.approx(published[symbol]["qualityScore"])
        assert bundle["technicals_state"].value == published[symbol]["domains"]["technicals"]["state"]
        brief = staged["research"][symbol]["brief"]
        shown = latest["research_brief", symbol]
        assert shown["brief"].value == (" ".join(c["text"] for c in brief["claims"]) or "(no claims)")
        assert shown["uncertainty"].value == brief["uncertainty"]
        pub = latest["published_bundle", symbol]
        assert pub["brief_published"].value is True
        assert pub["brief_as_of"].value == staged["research"][symbol]["asOf"]
    assert latest["research_brief", "SYNA"]["brief"].value.startswith("SYNA technicals")
    assert latest["market_context_bundle", "SYNA"]["technicals_state"].value == "ok"
    assert latest["market_context_bundle", "NODATA"]["technicals_state"].value == "missing"


def test_rollout_gate_draws_the_bundle_whose_checks_it_reads():
    """Issue 13, section 3: the gate read market_context_bundle's contract checks from the
    instance without a dep, so the lineage graph showed no bundle -> gate edge."""
    from intel_assets.parity_definitions import build_parity_definitions

    defs = build_parity_definitions(torghut_db_dsn="postgresql://u@127.0.0.1:1/x",
                                    lean_runner_url="http://127.0.0.1:1",
                                    alpaca_url="http://127.0.0.1:1", lean_data_dir="/nonexistent")
    gate = defs.resolve_assets_def("rollout_gate")
    assert AssetKey("market_context_bundle") in gate.asset_deps[AssetKey("rollout_gate")]
    spec = gate.specs_by_key[AssetKey("rollout_gate")]
    assert spec.owners == ["team:execution-parity"] and spec.tags["layer"] == "gate"
    [ref] = spec.metadata["dagster/code_references"].code_references  # the asset page links it
    assert ref.file_path.endswith("intel_assets/assets/rollout.py") and ref.line_number > 0
