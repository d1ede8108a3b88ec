"""The fundamentals and research_brief assets in real Dagster runs against the sample EDGAR server."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    BetaWarning,
    DagsterInstance,
    PreviewWarning,
    StaticPartitionsDefinition,
    materialize,
)

from intel_assets.assets.fundamentals import RESEARCH_KIND, build_fundamentals_assets
from intel_assets.contracts.bundle import DomainBlock
from intel_assets.devtools.edgar_server import start_edgar_server
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource
from intel_assets.resources.edgar import EdgarResource

warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

AS_OF = "2013-10-11T15:59:00-04:00"
UNIVERSE = ["SPY", "IBM", "BAC", "AIG"]
UA = "intel_assets tests tests@example.com"


@pytest.fixture(scope="module")
def edgar_server():
    with start_edgar_server() as server:  # the packaged SAMPLE documents
        yield server


@pytest.fixture
def assets():
    return build_fundamentals_assets(StaticPartitionsDefinition(UNIVERSE))


@pytest.fixture
def resources(edgar_server, tmp_path: Path) -> dict:
    return {
        "edgar": EdgarResource(base_url=edgar_server.url, tickers_url=edgar_server.tickers_url,
                               user_agent=UA, cache_dir=str(tmp_path / "edgar-cache")),
        "bundle_store": BundleStoreResource(dsn=f"sqlite:///{tmp_path}/b.sqlite3"),
        "context_policy": ContextPolicyResource(as_of=AS_OF),
    }


def _staged(tmp_path: Path, kind: str) -> dict:
    store = BundleStore.from_dsn(f"sqlite:///{tmp_path}/b.sqlite3")
    try:
        return store.staged(kind, UNIVERSE)
    finally:
        store.close()


def test_ibm_fundamentals_materialize_as_a_valid_cited_block(assets, resources, tmp_path):
    fundamentals, _ = assets
    with DagsterInstance.ephemeral() as instance:
        result = materialize([fundamentals], partition_key="IBM", resources=resources, instance=instance)
    assert result.success
    block = DomainBlock.model_validate(_staged(tmp_path, "fundamentals")["IBM"])
    assert (block.domain, block.state.value, block.risk_flags) == ("fundamentals", "ok",
                                                                   ["sample_data"])
    assert block.as_of.isoformat() == "2013-10-11T19:59:00+00:00"  # fetched at the replay clock
    # our sample filings are cited as samples, never as SEC (no sec.gov URL, no SEC source)
    assert block.citations and all(
        c.source == "sample-edgar" and c.url.startswith("https://example.com/intel-assets-sample/edgar/51143/SAMPLE-")
        for c in block.citations)
    assert all(c.published_at.date().isoformat() <= "2013-10-11" for c in block.citations)
    # SAMPLE IBM: Q3'12 24,747 + Q4'12 (FY 104,507 - 9M 75,203 = 29,304) + Q1'13 23,408 + Q2'13 24,924 ($M)
    assert block.payload["ttmRevenue"] == 102_383_000_000
    assert block.payload["latestFiling"]["filed"] == "2013-07-30"
    assert block.payload["nextExpectedFiling"]["expectedDate"] == "2013-10-30"
    assert block.max_freshness_seconds == 86_400  # the next filing is > 24 h away
    meta = result.asset_materializations_for_node("fundamentals")[0].metadata
    assert meta["state"].value == "ok" and meta["ttm_revenue"].value == 102_383_000_000  # IBM's own


def test_spy_is_missing_and_the_run_still_succeeds(assets, resources, tmp_path, edgar_server):
    fundamentals, _ = assets
    edgar_server.reset()
    with DagsterInstance.ephemeral() as instance:
        result = materialize([fundamentals], partition_key="SPY", resources=resources, instance=instance)
    assert result.success
    block = DomainBlock.model_validate(_staged(tmp_path, "fundamentals")["SPY"])
    assert (block.state.value, block.risk_flags, block.quality_score) == ("missing", ["fundamentals_missing"], 0.0)
    assert "ETFs and funds file no XBRL financial statements" in block.payload["reason"]
    assert edgar_server.count("/api/xbrl/companyfacts/CIK0000884394.json", 404) == 1


def test_a_whole_universe_in_one_run_isolates_each_symbol(assets, resources, tmp_path):
    fundamentals, research_brief = assets
    with DagsterInstance.ephemeral() as instance:
        result = materialize([fundamentals, research_brief], resources=resources, instance=instance,
                             tags={"dagster/asset_partition_range_start": "SPY",
                                   "dagster/asset_partition_range_end": "AIG"})
    assert result.success
    blocks = {s: DomainBlock.model_validate(b) for s, b in _staged(tmp_path, "fundamentals").items()}
    assert {s: b.state.value for s, b in blocks.items()} == {
        "SPY": "missing", "IBM": "ok", "BAC": "ok", "AIG": "ok"}
    assert "fundamentals_partial" in blocks["BAC"].risk_flags  # banks report no gross profit
    assert blocks["BAC"].payload["missing"] == ["grossMargin", "operatingMargin"]
    briefs = _staged(tmp_path, RESEARCH_KIND)
    assert set(briefs) == set(UNIVERSE)
    ibm = briefs["IBM"]
    assert ibm["asOf"] == "2013-10-11T19:59:00Z" and ibm["symbol"] == "IBM"
    assert ibm["brief"]["wordCount"] <= 120 and ibm["brief"]["claims"]
    assert all(claim["citations"] for claim in ibm["brief"]["claims"])
    # Only fundamentals were staged here: the other three domains are gaps, so uncertainty is high.
    assert ibm["brief"]["uncertainty"] == "high"
    assert ibm["brief"]["dataGaps"] == ["technicals", "regime", "news"]
    assert briefs["SPY"]["brief"]["claims"] == []


def test_research_brief_depends_on_the_four_domain_keys(assets):
    _, research_brief = assets
    deps = {key for key in research_brief.dependency_keys}
    assert deps == {AssetKey("technicals"), AssetKey("regime"), AssetKey("news"), AssetKey("fundamentals")}


def test_an_unusable_user_agent_errors_every_symbol_without_failing_the_run(assets, resources, tmp_path):
    fundamentals, _ = assets
    resources["edgar"] = EdgarResource(base_url="http://127.0.0.1:9", user_agent="python-httpx")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([fundamentals], partition_key="IBM", resources=resources, instance=instance)
    assert result.success
    block = DomainBlock.model_validate(_staged(tmp_path, "fundamentals")["IBM"])
    assert (block.state.value, block.risk_flags) == ("error", ["fundamentals_error"])
    assert "INTEL_EDGAR_USER_AGENT" in block.payload["reason"]
