"""Owns the blocking checks on market_context_bundle: wire contract and stale-domain flags.

Both run after the bundle is staged and before published_bundle; an ERROR result stops the
publication, so Torghut keeps serving the last good bundle.
"""


from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetsDefinition,
    MetadataValue,
    PartitionsDefinition,
    asset_check,
)
from pydantic import ValidationError

from intel_assets.contracts.bundle import WIRE_TOP_LEVEL_KEYS, MarketContextBundle
from intel_assets.domain.bundle import unflagged_domains
from intel_assets.resources.bundle_store import BundleStoreResource
from intel_assets.resources.context_policy import ContextPolicyResource


def run_partition_keys(context: AssetCheckExecutionContext, partitions_def: PartitionsDefinition
                       ) -> list[str]:
    """The partitions the check's run covers: its key range or key (read from the run's tags),
    else every partition."""
    if context.has_partition_key_range:
        return list(partitions_def.get_partition_keys_in_range(context.partition_key_range))
    if context.has_partition_key:
        return [context.partition_key]
    return list(partitions_def.get_partition_keys())


def contract_violations(symbol: str, wire: dict | None, now) -> list[str]:
    """Why a staged wire bundle would not parse in Torghut, or breaks our invariants."""
    if wire is None:
        return [f"{symbol}: no staged bundle"]
    problems = []
    extra = set(wire) - WIRE_TOP_LEVEL_KEYS
    lacking = WIRE_TOP_LEVEL_KEYS - set(wire)
    if extra or lacking:
        problems.append(f"{symbol}: top-level keys differ (extra {sorted(extra)}, missing {sorted(lacking)})")
    try:
        bundle = MarketContextBundle.model_validate(wire, by_alias=True, by_name=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        return problems + [f"{symbol}: {'.'.join(map(str, first['loc']))}: {first['msg']}"]
    if bundle.symbol != symbol:
        problems.append(f"{symbol}: bundle is for {bundle.symbol}, not its partition")
    if bundle.as_of_utc > now:
        problems.append(f"{symbol}: asOfUtc {bundle.as_of_utc.isoformat()} is after the clock {now.isoformat()}")
    for block in bundle.domains.blocks():
        if block.as_of is not None and block.as_of > now:
            problems.append(f"{symbol}: {block.domain}.asOf is after the clock (look-ahead)")
    return problems


def build_bundle_checks(bundle_asset: AssetsDefinition, partitions_def: PartitionsDefinition) -> list:
    @asset_check(asset=bundle_asset, blocking=True,
                 description="Every bundle of the run parses in Torghut's strict schema, is for "
                 "its partition's symbol and is not from the future of the clock.")
    def bundle_matches_wire_contract(
        context: AssetCheckExecutionContext,
        bundle_store: BundleStoreResource,
        context_policy: ContextPolicyResource,
    ) -> AssetCheckResult:
        symbols = run_partition_keys(context, partitions_def)
        staged = bundle_store.store.staged("bundle", symbols)
        now = context_policy.clock().now()
        problems = [p for s in symbols for p in contract_violations(s, staged.get(s), now)]
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            description=None if not problems else f"{len(problems)} contract violation(s)",
            metadata={"symbols_checked": len(symbols), "violations": len(problems),
                      "details": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
        )

    @asset_check(asset=bundle_asset, blocking=True,
                 description="Every stale, missing or errored domain carries its "
                 "<domain>_<state> risk flag, in the block and in the bundle.")
    def degraded_domains_are_flagged(
        context: AssetCheckExecutionContext,
        bundle_store: BundleStoreResource,
    ) -> AssetCheckResult:
        symbols = run_partition_keys(context, partitions_def)
        staged = bundle_store.store.staged("bundle", symbols)
        problems, degraded = [], 0
        for symbol in symbols:
            if symbol not in staged:
                problems.append(f"{symbol}: no staged bundle")
                continue
            bundle = MarketContextBundle.model_validate(staged[symbol])
            degraded += sum(1 for b in bundle.domains.blocks() if b.state.value != "ok")
            problems.extend(f"{symbol}: {p}" for p in unflagged_domains(bundle))
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            metadata={"degraded_domains": degraded, "unflagged": len(problems),
                      "details": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
        )

    return [bundle_matches_wire_contract, degraded_domains_are_flagged]
