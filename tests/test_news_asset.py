"""Tests the news asset in Dagster: one partition, a single-run range, and faults that still publish."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from dagster import DagsterInstance, StaticPartitionsDefinition, materialize

from intel_assets.assets.bundle import build_bundle_assets
from intel_assets.assets.news import build_news_assets
from intel_assets.contracts.bundle import DomainBlock, DomainState, MarketContextBundle
from intel_assets.devtools.alpaca_server import SAMPLE_NEWS_FILE, start_alpaca_server
from intel_assets.resources.alpaca import AlpacaResource
from intel_assets.resources.news_config import NewsConfigResource
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource

AS_OF = "2013-10-11T15:59:00-04:00"
SYMBOLS = ["AIG", "BAC", "IBM", "SPY"]
PARTITIONS = StaticPartitionsDefinition([*SYMBOLS, "SYN000"])
RANGE_TAGS = {"dagster/asset_partition_range_start": "AIG", "dagster/asset_partition_range_end": "SPY"}
SECRET = "asset-test-secret-value"


@pytest.fixture
def server():
    with start_alpaca_server([SAMPLE_NEWS_FILE], as_of=datetime.fromisoformat(AS_OF)) as running:
        yield running


def resources(server, tmp_path, **alpaca_config) -> dict:
    return {
        "alpaca": AlpacaResource(api_key_id="PKTEST", api_secret_key=SECRET, data_url=server.url,
                                 request_timeout_seconds=2.0, **alpaca_config),
        "news_config": NewsConfigResource(),
        "bundle_store": BundleStoreResource(dsn=f"sqlite:///{tmp_path}/b.sqlite3"),
        "context_policy": ContextPolicyResource(as_of=AS_OF),
    }


def staged_news(res: dict, symbols: list[str]) -> dict[str, DomainBlock]:
    staged = res["bundle_store"].store.staged("news", symbols)
    return {s: DomainBlock.model_validate(body) for s, body in staged.items()}


def test_one_partition_stages_a_cited_news_block(server, tmp_path):
    [news] = build_news_assets(PARTITIONS)
    res = resources(server, tmp_path)
    result = materialize([news], partition_key="SPY", resources=res, instance=DagsterInstance.ephemeral())
    assert result.success
    block = staged_news(res, ["SPY"])["SPY"]
    assert block.state is DomainState.OK and block.as_of == datetime.fromisoformat(AS_OF)
    assert block.freshness_seconds == 0 and block.max_freshness_seconds == 300
    assert [c.url for c in block.citations] == [f"https://example.com/intel-assets-sample/news/{i}"
                                                for i in (9000001, 9000012, 9000002, 9000003)]
    assert all(c.source == "sample-wire" and c.published_at <= block.as_of for c in block.citations)
    assert block.payload["weightedScore"] > 0 and block.payload["newestArticleAt"] == "2013-10-11T19:56:00Z"
    assert block.payload["window"]["start"] == "2013-10-10T19:59:00Z"
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["state"].value == "ok" and metadata["articles_cited"].value == 4  # SPY's own


def test_a_partition_range_is_one_run_with_one_batched_news_request(server, tmp_path):
    [news] = build_news_assets(PARTITIONS)
    res = resources(server, tmp_path)
    result = materialize([news], resources=res, instance=DagsterInstance.ephemeral(), tags=RANGE_TAGS)
    assert result.success
    assert sorted(e.partition for e in result.get_asset_materialization_events()) == SYMBOLS
    assert [r.query["symbols"] for r in server.requests] == [",".join(SYMBOLS)]  # 1 request, not 4
    blocks = staged_news(res, SYMBOLS)
    assert all(b.state is DomainState.OK and b.citations for b in blocks.values())
    assert blocks["AIG"].payload["unlistedSourceCount"] == 1 and blocks["AIG"].source_count == 3
    assert blocks["IBM"].payload["duplicateCount"] == 1 and blocks["IBM"].payload["weightedScore"] < 0
    synthetic = materialize([news], partition_key="SYN000", resources=res, instance=DagsterInstance.ephemeral())
    empty = staged_news(res, ["SYN000"])["SYN000"]
    assert synthetic.success and empty.state is DomainState.OK and empty.risk_flags == ["news_empty"]


def test_faults_never_fail_the_run_and_the_bundle_still_publishes(server, tmp_path):
    [news] = build_news_assets(PARTITIONS)
    bundle, published = build_bundle_assets(PARTITIONS, [news])
    res = resources(server, tmp_path, symbols_per_request=2)  # news requests: AIG,BAC and IBM,SPY
    first = materialize([news], resources=res, instance=DagsterInstance.ephemeral(), tags=RANGE_TAGS)
    assert first.success

    server.inject_faults(status=500, symbols={"IBM"})
    second = materialize([news, bundle, published], resources=res, instance=DagsterInstance.ephemeral(),
                         tags=RANGE_TAGS)
    assert second.success
    blocks = staged_news(res, SYMBOLS)
    for symbol in ("IBM", "SPY"):  # IBM's batch failed: the replay clock has not moved, so
        block = blocks[symbol]      # the last good block (0 s old) is reused
        assert block.state is DomainState.STALE and block.risk_flags[:2] == ["news_stale", "news_fetch_failed"]
        assert block.quality_score <= 0.5  # the provider is down: the reused block scores half
        assert block.payload["fetchError"].startswith("news fetch failed: HTTP 500") and block.citations
    assert not {"news_stale", "news_fetch_failed"} & set(blocks["AIG"].risk_flags + blocks["BAC"].risk_flags)
    metadata = {e.partition: e.materialization.metadata for e in second.get_asset_materialization_events()
                if e.asset_key.path == ["news"]}  # each partition says whether ITS fetch failed
    assert {s: m["fetch_failure"].value for s, m in metadata.items() if "fetch_failure" in m} == {
        "IBM": "http", "SPY": "http"}
    assert metadata["IBM"]["state"].value == "stale" and metadata["AIG"]["state"].value == "ok"
    health = res["bundle_store"].store.provider_health()["news"]  # served as providerHealth
    assert health["configured"] and health["consecutiveFailures"] == 1
    assert health["lastError"].startswith("2 of 4 symbols failed (http)") and SECRET not in health["lastError"]
    assert health["lastSuccessAt"] is not None and health["latencyMs"] > 0
    latest = res["bundle_store"].store.latest("IBM")
    assert latest is not None
    assert "news_fetch_failed" in MarketContextBundle.model_validate(json.loads(latest.body)).risk_flags

    fresh = {**res, "bundle_store": BundleStoreResource(dsn=f"sqlite:///{tmp_path}/fresh.sqlite3")}
    server.inject_faults(body=b"not json")
    third = materialize([news, bundle, published], resources=fresh, instance=DagsterInstance.ephemeral(),
                        tags=RANGE_TAGS)
    assert third.success  # no earlier block to reuse: every symbol is an error, the run still succeeds
    errored = staged_news(fresh, SYMBOLS)
    assert all(b.state is DomainState.ERROR and b.risk_flags == ["news_error"] for b in errored.values())
    assert all(SECRET not in json.dumps(b.to_wire()) for b in errored.values())
    stored = MarketContextBundle.model_validate(json.loads(fresh["bundle_store"].store.latest("SPY").body))
    assert stored.domains.news.state is DomainState.ERROR and "news_error" in stored.risk_flags
    metadata = {e.partition: e.materialization.metadata for e in third.get_asset_materialization_events()
                if e.asset_key.path == ["news"]}
    assert {s: (m["state"].value, m["fetch_failure"].value) for s, m in metadata.items()} == {
        s: ("error", "malformed") for s in SYMBOLS}
