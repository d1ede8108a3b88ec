"""Owns what every per-symbol asset shares: group names, the partition set a run covers,
per-symbol failure isolation and the run metadata table."""


from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from dagster import AssetExecutionContext, MetadataValue

from intel_assets.contracts.bundle import DomainBlock

GROUP = "market_context"


def run_symbols(context: AssetExecutionContext) -> list[str]:
    """The symbols (partition keys) this run materializes: one, or a whole range in one run."""
    return list(context.partition_keys)


def blocks_for_symbols(
    context: AssetExecutionContext,
    symbols: Iterable[str],
    build: Callable[[str], DomainBlock],
    on_error: Callable[[str, Exception], DomainBlock],
) -> dict[str, DomainBlock]:
    """Build each symbol's block; one symbol's failure becomes its error block, not a crash."""
    blocks: dict[str, DomainBlock] = {}
    for symbol in symbols:
        try:
            blocks[symbol] = build(symbol)
        except Exception as exc:  # noqa: BLE001 - isolated per symbol, reported as state=error
            context.log.warning(f"{symbol}: {type(exc).__name__}: {exc}")
            blocks[symbol] = on_error(symbol, exc)
    return blocks


def blocks_metadata(blocks: Mapping[str, DomainBlock]) -> dict[str, object]:
    """Run-level metadata: counts by state and a per-symbol table for the Dagster UI."""
    states = Counter(b.state.value for b in blocks.values())
    rows = ["| symbol | state | age s | quality | flags |", "|---|---|---|---|---|"]
    for symbol, block in sorted(blocks.items()):
        rows.append(
            f"| {symbol} | {block.state.value} | {block.freshness_seconds if block.freshness_seconds is not None else '-'}"
            f" | {block.quality_score:.2f} | {', '.join(block.risk_flags) or '-'} |"
        )
    return {
        "symbols": len(blocks),
        **{f"state_{state}": states.get(state, 0) for state in ("ok", "stale", "missing", "error")},
        "mean_quality": round(sum(b.quality_score for b in blocks.values()) / max(1, len(blocks)), 4),
        "by_symbol": MetadataValue.md("\n".join(rows)),
    }
