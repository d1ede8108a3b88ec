"""Owns what every per-symbol asset shares: group names, the partition set a run covers,
per-symbol failure isolation, per-partition metadata (each symbol's own values on its
materialization) and the record of each provider poll
(what the serving API's health reports as providerHealth / ingestionHealth)."""


import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    BetaWarning,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    define_asset_job,
    with_source_code_references,
)

from intel_assets.contracts.bundle import DomainBlock
from intel_assets.domain.samples import SAMPLE_FLAG
from intel_assets.domain.refresh_cadence import Cadence, cadence
from intel_assets.run_limits import MAX_RUNTIME_TAG, RunLimits, expected_run_seconds
from intel_assets.sensors.freshness import build_freshness_sensor

GROUP = "market_context"
#: Domains whose data only moves in the regular session (their sensor idles while it is closed).
SESSION_DOMAINS = frozenset({"technicals", "regime"})


def run_symbols(context: AssetExecutionContext) -> list[str]:
    """The symbols (partition keys) this run materializes: one, or a whole range in one run."""
    return list(context.partition_keys)


def log_symbol_problems(context: AssetExecutionContext, what: str,
                        problems: Mapping[str, str], shown: int = 10) -> None:
    """One log line for many symbols' problems: every log line is a Dagster event (~10 ms
    each), so 500 per-symbol lines would cost a refresh seconds."""
    if not problems:
        return
    items = sorted(problems.items())
    listed = "; ".join(f"{symbol}: {problem}" for symbol, problem in items[:shown])
    more = f"; and {len(items) - shown} more" if len(items) > shown else ""
    context.log.warning(f"{what} for {len(items)} symbol(s): {listed}{more}")


def blocks_for_symbols(
    context: AssetExecutionContext,
    symbols: Iterable[str],
    build: Callable[[str], DomainBlock],
    on_error: Callable[[str, Exception], DomainBlock],
) -> dict[str, DomainBlock]:
    """Build each symbol's block; one symbol's failure becomes its error block, not a crash."""
    blocks: dict[str, DomainBlock] = {}
    failures: dict[str, str] = {}
    for symbol in symbols:
        try:
            blocks[symbol] = build(symbol)
        except Exception as exc:  # noqa: BLE001 - isolated per symbol, reported as state=error
            failures[symbol] = f"{type(exc).__name__}: {exc}"
            blocks[symbol] = on_error(symbol, exc)
    log_symbol_problems(context, "building the block failed", failures)
    return blocks


#: Per-partition metadata. A run over many symbols writes one materialization per partition; a
#: MaterializeResult's metadata is copied onto EVERY partition's event (Dagster's
#: _get_output_asset_events merges the output metadata into each), so a run-level table costs
#: its size times the partitions (measured: 54 KB per event, 108 MB per refresh). Instead each
#: partition's event carries that symbol's own values, attached with
#: context.add_asset_metadata(metadata, partition_key=symbol): Dagster merges the partition-
#: scoped entries into that partition's one event (no extra event), so the partition page plots
#: one symbol's quality and values over time.


def typed(value: object) -> MetadataValue | None:
    """A typed metadata value (numbers plot in the UI); None for an absent value (key left out)."""
    if value is None:
        return None
    if isinstance(value, MetadataValue):
        return value
    if isinstance(value, bool):
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(value) if value == value else None  # NaN: no value
    return MetadataValue.text(str(value))


def block_metadata(block: DomainBlock, values: Mapping[str, object] | None = None
                   ) -> dict[str, MetadataValue]:
    """One symbol's block as typed metadata: state, age, quality, flags, then its key values."""
    entries: dict[str, object] = {
        "state": block.state.value,
        "age_s": block.freshness_seconds,
        "quality": float(block.quality_score),
        "risk_flags": ", ".join(block.risk_flags) or "-",
        "sample_data": SAMPLE_FLAG in block.risk_flags,  # built from our packaged samples
        **(values or {}),
    }
    return {k: v for k, v in ((k, typed(v)) for k, v in entries.items()) if v is not None}


def add_partition_metadata(context: AssetExecutionContext,
                           per_symbol: Mapping[str, Mapping[str, object]]) -> None:
    """Attach each symbol's metadata to its own partition's materialization (one event each)."""
    for symbol, entries in per_symbol.items():
        metadata = {k: v for k, v in ((k, typed(v)) for k, v in entries.items()) if v is not None}
        context.add_asset_metadata(metadata, partition_key=symbol)


def log_run_summary(context: AssetExecutionContext, what: str,
                    states: Mapping[str, str], qualities: Mapping[str, float]) -> None:
    """The run-level summary (counts by state, mean quality) as ONE log line of the run, not
    as metadata (which Dagster would copy onto every partition's event)."""
    counts = Counter(states.values())
    mean_quality = sum(qualities.values()) / max(1, len(qualities))
    context.log.info(f"{what}: {len(states)} symbol(s), "
                     + ", ".join(f"{s} {counts[s]}" for s in sorted(counts))
                     + f"; mean quality {mean_quality:.3f}")


def blocks_metadata(context: AssetExecutionContext, blocks: Mapping[str, DomainBlock],
                    values: Callable[[str, DomainBlock], Mapping[str, object]] | None = None
                    ) -> None:
    """Each symbol's block metadata on its partition's event (``values(symbol, block)``: the
    domain's key values), and the run summary as one log line."""
    add_partition_metadata(context, {symbol: block_metadata(block, values(symbol, block) if values else None)
                                     for symbol, block in blocks.items()})
    log_run_summary(context, context.assets_def.key.to_user_string(),
                    {s: b.state.value for s, b in blocks.items()},
                    {s: b.quality_score for s, b in blocks.items()})


def with_code_references(assets: Sequence) -> list:
    """The assets linked to their defining file on the asset page (Dagster's
    dagster/code_references metadata from each op's source; beta in Dagster 1.13)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return list(with_source_code_references(list(assets)))


class Poll:
    """One poll of a provider: its outcome, filled in while it runs (see ``provider_poll``)."""

    def __init__(self, configured: bool = True) -> None:
        self.configured, self.error = configured, None  # type: bool, str | None

    def failed(self, error: str) -> None:
        self.error = self.error or error


@contextmanager
def provider_poll(store, provider: str, configured: bool = True) -> Iterator[Poll]:
    """Time the block and record it in the bundle store as one poll of ``provider``: failed
    when the block raised or called ``poll.failed(...)``, else succeeded. Recording never fails
    the run (the store being down is reported by the publish step)."""
    poll, started = Poll(configured), time.perf_counter()
    try:
        yield poll
    except Exception as exc:
        poll.failed(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        try:
            store.record_provider_attempt(provider, configured=poll.configured,
                                          success=poll.error is None,
                                          latency_ms=(time.perf_counter() - started) * 1000,
                                          error=poll.error)
        except Exception:  # noqa: BLE001 - health bookkeeping must not fail a refresh
            pass


#: What every refresh job ends with: the brief, the bundle and its publication.
PUBLISH_KEYS = (AssetKey("research_brief"), AssetKey("market_context_bundle"),
                AssetKey("published_bundle"))


@dataclass(frozen=True)
class RefreshLoop:
    """What every domain slice's refresh job and freshness sensor share (from settings): the
    symbol universe, whether the clock is live (a replay clock never goes stale, so the
    sensors start stopped), the run limits a job's max runtime comes from, each domain's
    refresh cadence (domain/refresh_cadence.py) and the market clock (built on first use)."""

    universe: tuple[str, ...]
    live: bool
    limits: RunLimits
    cadences: Mapping[str, Cadence] = field(default_factory=dict)
    clock: Callable[[], object] | None = None
    #: the sensors' clock: wall-clock time, or the replay instant (settings.as_of)
    now: Callable[[], float] = time.time

    def job(self, name: str, description: str, domains: Sequence[str]):
        """A job refreshing ``domains`` of a symbol range and publishing them; Dagster's run
        monitoring ends it past its max runtime (derived in run_limits.py)."""
        runtime = self.limits.max_runtime_seconds(domains)
        return define_asset_job(
            name, selection=AssetSelection.assets(*(AssetKey(d) for d in domains), *PUBLISH_KEYS),
            description=description, tags={MAX_RUNTIME_TAG: str(runtime)})

    def sensor(self, name: str, job, domains: Sequence[str], budget_seconds: float,
               refresh_seconds: float | None = None):
        """The per-symbol freshness sensor requesting ``job`` for symbols whose data is due, on
        the cadence of ``domains[0]`` (from settings; else derived here from the budget)."""
        plan = self.cadences.get(domains[0]) or cadence(
            budget_seconds, expected_run_seconds(domains[0]), refresh_seconds)
        session_bound = bool(set(domains) & SESSION_DOMAINS)
        return build_freshness_sensor(name, job, [AssetKey(d) for d in domains],
                                      list(self.universe), plan, default_running=self.live,
                                      session_bound=session_bound, clock=self.clock,
                                      now=self.now)


def _json_type(spec: Mapping, defs: Mapping) -> tuple[str, bool, list[str]]:
    """(type, nullable, constraints) of one JSON-schema property, for a TableColumn."""
    options = spec.get("anyOf", [spec])
    nullable = any(o.get("type") == "null" for o in options)
    kinds, rules = [], []
    for option in (o for o in options if o.get("type") != "null"):
        if "$ref" in option:
            name = option["$ref"].rsplit("/", 1)[-1]
            target = defs.get(name, {})
            kinds.append(name)
            if "enum" in target:
                rules.append("one of " + "|".join(map(str, target["enum"])))
            continue
        kind = option.get("type", "any")
        if kind == "array":
            item = option.get("items", {})
            kind = f"array of {item.get('$ref', '').rsplit('/', 1)[-1] or item.get('type', 'any')}"
        kinds.append(kind + (f" ({option['format']})" if "format" in option else ""))
        for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<=")):
            if key in option:
                rules.append(f"{word} {option[key]}")
        if "pattern" in option:
            rules.append(f"matches {option['pattern']}")
        if "enum" in option:
            rules.append("one of " + "|".join(map(str, option["enum"])))
    return " | ".join(kinds), nullable, rules


def model_table_schema(model: type, nested: Sequence[tuple[str, type]] = (),
                       descriptions: Mapping[str, str] | None = None) -> TableSchema:
    """A pydantic wire model's fields (camelCase, as Torghut reads them) as a Dagster column
    schema, derived from the model's JSON schema so it cannot drift from the contract. ``nested``
    lists (column prefix, model) pairs whose fields are listed too, e.g. ``domains.*.``."""
    def columns(schema: Mapping, prefix: str, defs: Mapping) -> list[TableColumn]:
        out = []
        for name, spec in schema["properties"].items():
            kind, nullable, rules = _json_type(spec, defs)
            out.append(TableColumn(
                name=prefix + name, type=kind,
                description=(descriptions or {}).get(prefix + name),
                constraints=TableColumnConstraints(nullable=nullable, other=rules)))
        return out

    schema = model.model_json_schema(by_alias=True)  # type: ignore[attr-defined]
    defs = schema.get("$defs", {})
    cols = columns(schema, "", defs)
    for prefix, inner in nested:
        cols += columns(inner.model_json_schema(by_alias=True), prefix, defs)  # type: ignore[attr-defined]
    return TableSchema(columns=cols)


def clickhouse_table_schema(columns: Sequence[tuple[str, str]],
                            read: Iterable[str] = ()) -> TableSchema:
    """A ClickHouse table's (column, type) pairs as a Dagster column schema; ``read`` names the
    columns intel_assets reads (described as such), the rest are Torghut's and ignored here."""
    wanted = set(read)
    return TableSchema(columns=[
        TableColumn(name=name, type=kind,
                    description="read by intel_assets" if name in wanted else None,
                    constraints=TableColumnConstraints(nullable=kind.startswith("Nullable(")))
        for name, kind in columns])
