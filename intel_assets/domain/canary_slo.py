"""Owns the canary SLOs of the LEAN route, measured (no Dagster): availability from Torghut's
executions rows, error rate and p99 latency from scraped telemetry windows.

Definitions (what canary_slo[day] stores and phase 4 compares):

* **canary subset**: the symbols and Alpaca account labels of RolloutPolicy.canary_symbols /
  canary_accounts. Only executions rows inside it are evidence; LEAN-routed rows outside it are
  counted (``outside_subset``) and named, never pooled in.
* **LEAN-routed execution**: an executions row of the day (New York date of ``created_at``)
  whose ``execution_expected_adapter`` is ``lean``. It was **served by LEAN** when its
  ``execution_actual_adapter`` is ``lean`` and ``execution_fallback_count`` is 0; otherwise it
  fell back to Alpaca (Torghut writes ``alpaca`` for its ``alpaca_fallback`` route and a
  ``execution_fallback_reason``), which counts against availability.
  **availability** = served by LEAN / LEAN-routed (None without LEAN-routed rows).
* **telemetry window**: the difference between two scrapes of a service's cumulative
  histograms: the newest scrape at or before the day's extended session opens (04:00 New
  York) and the first at or after it closes (20:00). A counter that went down means the
  service restarted in between: the window is then what the end scrape counted since that
  restart (``restarted``; so do bucket bounds that changed or an operation that vanished).
  The nightly canary_slo run scrapes at 02:45, so consecutive nights bracket exactly one
  session; a start scrape before the previous session's close or an end scrape after the next
  session's open is refused (the window would count another session's traffic).
* **error rate** = failed / all requests of the LEAN runner's order operations
  (ORDER_OPERATIONS) in its window; a failure is an answer >= 400 (the runner's
  ``failures_total``), except a look-up's 404 (LOOKUP_OPERATIONS: "no such order" is the
  answer Torghut asks for before submitting, not an error).
* **p99 latency** = the larger of the runner's ``submit_order`` p99 and the serving API's
  ``/api/torghut/market-context`` p99 in their windows, each read from histogram buckets as
  Prometheus's histogram_quantile does (linear inside the bucket; an answer in the +Inf bucket
  reads as the largest finite bound, so it is a lower bound then, and said so).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from intel_assets.contracts.gates import (
    CanaryDay,
    CanarySubset,
    LatencyHistogram,
    TelemetrySnapshot,
    TelemetryWindow,
)
from intel_assets.domain.market_data import NEW_YORK

RUNNER_SOURCE = "lean-runner"
SERVING_SOURCE = "serving-api"
#: The LEAN runner operations Torghut's LEAN execution adapter calls (the route's requests).
ORDER_OPERATIONS = ("submit_order", "cancel_order", "cancel_all_orders", "replace_order",
                    "get_order", "get_order_by_client_order_id", "list_orders")
SUBMIT_OPERATION = "submit_order"
#: Look-ups whose 404 is an answer ("no such order": Torghut asks before re-submitting).
LOOKUP_OPERATIONS = ("get_order", "get_order_by_client_order_id")
CONTEXT_PATH = "/api/torghut/market-context"
SERVING_HISTOGRAM = "market_context_request_duration_seconds"
SERVING_REQUESTS = "market_context_requests_total"
SESSION_OPEN, SESSION_CLOSE = time(4), time(20)  # US equities' extended session, New York
LEAN = "lean"
INF = "+Inf"


class TelemetryError(ValueError):
    """A scrape that is not the shape its source documents; the message says what is wrong."""


@dataclass(frozen=True)
class CanaryExecution:
    """The columns of one Torghut executions row the canary SLOs read."""

    execution_id: str
    symbol: str
    account: str
    expected_adapter: str
    actual_adapter: str
    fallback_reason: str | None
    fallback_count: int
    status: str
    created_at: datetime

    @property
    def served_by_lean(self) -> bool:
        return self.actual_adapter.strip().lower() == LEAN and self.fallback_count == 0


# ---------------------------------------------------------------------------- scrapes


def _bound(le: str) -> float:
    """A bucket's upper bound from its key: "+Inf", "inf", "Infinity", "2.5", "2.50"..."""
    value = float(le)
    if math.isnan(value):
        raise TelemetryError(f"bucket bound {le!r} is not a number")
    return value


def _by_bound(buckets: dict[str, int]) -> dict[float, int]:
    """Bucket counts keyed by their bound (so "2.5" and "2.50" are one bucket)."""
    return {_bound(le): n for le, n in buckets.items()}


def runner_snapshot(payload: Mapping[str, Any], url: str, scraped_at: datetime
                    ) -> TelemetrySnapshot:
    """A TelemetrySnapshot of the LEAN runner's ``GET /v1/observability`` answer."""
    metrics = payload.get("metrics") if isinstance(payload, Mapping) else None
    if not isinstance(metrics, Mapping) or not isinstance(metrics.get("requests_total"), Mapping):
        raise TelemetryError(f"{url}: not a LEAN runner observability answer (no "
                             "metrics.requests_total)")
    histograms = metrics.get("latency_ms_histogram")
    if not isinstance(histograms, Mapping):
        raise TelemetryError(f"{url}: the runner reports no latency_ms_histogram: it is not "
                             "intel-assets' LEAN runner (p99 needs bucket counts)")
    failures: Counter[str] = Counter()
    for key, n in (metrics.get("failures_total") or {}).items():
        op, _, taxonomy = str(key).partition(":")
        if op in LOOKUP_OPERATIONS and taxonomy == "http_404":
            continue  # "no such order" answers a look-up: not an error of the route
        failures[op] += int(n)
    operations = {}
    for op, h in histograms.items():
        try:
            operations[op] = LatencyHistogram(
                buckets={str(le): int(n) for le, n in h["buckets"].items()},
                count=int(h["count"]), sum_ms=float(h["sum"]), failures=failures.get(op, 0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TelemetryError(f"{url}: latency_ms_histogram[{op!r}] is malformed ({exc})") \
                from None
    return TelemetrySnapshot(source=RUNNER_SOURCE, url=url, scraped_at=scraped_at,
                             operations=operations)


def serving_snapshot(text: str, url: str, scraped_at: datetime) -> TelemetrySnapshot:
    """A TelemetrySnapshot of the serving API's ``GET /metrics`` (Prometheus text): the request
    duration histogram per path (bounds converted to ms) and its 5xx answers as failures."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    failures: Counter[str] = Counter()
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise TelemetryError(f"{url}: not Prometheus text ({exc})") from None
    for family in families:
        for sample in family.samples:
            path = sample.labels.get("path")
            if path is None:
                continue
            if sample.name == f"{SERVING_HISTOGRAM}_bucket":
                le = sample.labels["le"]
                key = INF if math.isinf(float(le)) else f"{float(le) * 1000:g}"
                buckets.setdefault(path, {})[key] = int(sample.value)
            elif sample.name == f"{SERVING_HISTOGRAM}_count":
                counts[path] = int(sample.value)
            elif sample.name == f"{SERVING_HISTOGRAM}_sum":
                sums[path] = float(sample.value) * 1000
            elif sample.name == SERVING_REQUESTS and \
                    sample.labels.get("status", "").startswith("5"):
                failures[path] += int(sample.value)
    if not any(f.name == SERVING_HISTOGRAM for f in families):
        raise TelemetryError(f"{url}: no {SERVING_HISTOGRAM} histogram: not the serving API's "
                             "/metrics")
    return TelemetrySnapshot(source=SERVING_SOURCE, url=url, scraped_at=scraped_at, operations={
        path: LatencyHistogram(buckets=b, count=counts.get(path, b.get(INF, 0)),
                               sum_ms=sums.get(path, 0.0), failures=failures.get(path, 0))
        for path, b in buckets.items()})


# ---------------------------------------------------------------------------- windows


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's extended session (04:00..20:00 New York) as aware datetimes."""
    return (datetime.combine(day, SESSION_OPEN, NEW_YORK),
            datetime.combine(day, SESSION_CLOSE, NEW_YORK))


def _minus(end: LatencyHistogram, start: LatencyHistogram | None) -> LatencyHistogram | None:
    """end - start bucket by bucket (matched by bound), or None when the two cannot be
    differenced: a counter went down (a restart) or the bucket bounds differ."""
    if start is None:
        return end
    ends, starts = _by_bound(end.buckets), _by_bound(start.buckets)
    if set(ends) != set(starts):
        return None
    diff = {f"{le:g}" if not math.isinf(le) else INF: n - starts[le] for le, n in ends.items()}
    if any(v < 0 for v in diff.values()) or end.count < start.count or \
            end.failures < start.failures:
        return None
    return LatencyHistogram(buckets=diff, count=end.count - start.count,
                            sum_ms=max(0.0, end.sum_ms - start.sum_ms),
                            failures=end.failures - start.failures)


def telemetry_window(start: TelemetrySnapshot | None, end: TelemetrySnapshot) -> TelemetryWindow:
    """What ``end`` counted after ``start`` (module docstring; ``start`` None: since the
    service started)."""
    ops: dict[str, LatencyHistogram] = {}
    # An operation counted at the start but gone at the end: the service started afresh.
    restarted = start is not None and bool(set(start.operations) - set(end.operations))
    for op, h in end.operations.items():
        if restarted:
            break
        d = _minus(h, None if start is None else start.operations.get(op))
        if d is None:
            restarted = True
            break
        ops[op] = d
    if restarted:
        ops = dict(end.operations)
    return TelemetryWindow(source=end.source, start_at=None if start is None else start.scraped_at,
                           end_at=end.scraped_at, restarted=restarted, operations=ops)


def day_window(snapshots: Sequence[TelemetrySnapshot], day: date
               ) -> tuple[TelemetryWindow | None, str]:
    """(the window of ``day``'s session, '') from one source's scrapes, or (None, why).

    The start scrape must lie between the previous day's close and the session's open, the
    end scrape between the close and the next day's open: a window reaching into another
    session (a missed night, a rerun the next morning) would count its traffic too."""
    open_at, close_at = session_bounds(day)
    earliest = session_bounds(day - timedelta(days=1))[1]
    latest = session_bounds(day + timedelta(days=1))[0]
    before = [s for s in snapshots if s.scraped_at <= open_at]
    after = [s for s in snapshots if s.scraped_at >= close_at]
    if not after:
        return None, (f"no scrape at or after {close_at.strftime('%Y-%m-%d %H:%M')} New York "
                      "(the session's close)")
    if not before:
        return None, (f"no scrape at or before {open_at.strftime('%Y-%m-%d %H:%M')} New York "
                      "(the session's open)")
    start = max(before, key=lambda s: s.scraped_at)
    end = min(after, key=lambda s: s.scraped_at)
    if start.scraped_at < earliest:
        return None, (f"the last scrape before the session is from "
                      f"{start.scraped_at.astimezone(NEW_YORK).strftime('%Y-%m-%d %H:%M')} New "
                      "York, before the previous session closed: the window would span two "
                      "sessions (a nightly canary_slo run was missed)")
    if end.scraped_at > latest:
        return None, (f"the first scrape after the session is from "
                      f"{end.scraped_at.astimezone(NEW_YORK).strftime('%Y-%m-%d %H:%M')} New "
                      "York, after the next session opened: the window would count its traffic "
                      "(rematerialize before 04:00, or it stays unmeasured)")
    return telemetry_window(start, end), ""


def histogram_quantile(q: float, h: LatencyHistogram) -> tuple[float | None, bool]:
    """(the q-quantile in ms, whether it is only a lower bound: it fell in +Inf); None when the
    histogram counted nothing. Linear interpolation inside the bucket, as Prometheus does."""
    bounds = sorted(_by_bound(h.buckets).items())
    total = bounds[-1][1] if bounds else 0
    if total <= 0:
        return None, False
    counts = [n for _, n in bounds]
    if counts != sorted(counts):
        raise TelemetryError(f"bucket counts {counts} are not cumulative")
    rank, lower, below = q * total, 0.0, 0
    finite = [le for le, _ in bounds if not math.isinf(le)]
    for upper, cumulative in bounds:
        if cumulative >= rank:
            if math.isinf(upper):
                return (finite[-1] if finite else None), True
            inside = cumulative - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0), False
        lower, below = upper, cumulative
    return (finite[-1] if finite else None), True


# ---------------------------------------------------------------------------- the day


def _in_subset(row: CanaryExecution, subset: CanarySubset) -> bool:
    return row.symbol.upper() in {s.upper() for s in subset.symbols} and \
        row.account in set(subset.accounts)


def canary_slo_day(day: date, subset: CanarySubset, executions: Iterable[CanaryExecution],
                   runner: TelemetryWindow | None, context: TelemetryWindow | None, *,
                   run_id: str, computed_at: datetime, runner_gap: str = "",
                   context_gap: str = "") -> CanaryDay:
    """The day's canary SLOs (module docstring). ``runner_gap``/``context_gap``: why a window is
    None (day_window's reason), carried into ``problems``."""
    problems: list[str] = []
    if not subset.symbols:
        problems.append("no canary subset: set INTEL_CANARY_SYMBOLS (and INTEL_CANARY_ACCOUNTS)")
    lean = [r for r in executions if r.expected_adapter.strip().lower() == LEAN]
    inside = [r for r in lean if _in_subset(r, subset)]
    outside = [r for r in lean if not _in_subset(r, subset)]
    served = sum(1 for r in inside if r.served_by_lean)
    reasons = Counter((r.fallback_reason or "fallback_without_reason") for r in inside
                      if not r.served_by_lean)
    if not inside:
        problems.append(f"no LEAN-routed executions of the canary subset on {day} (Torghut's "
                        "executions with execution_expected_adapter = 'lean')")
    if outside:
        problems.append(f"{len(outside)} LEAN-routed executions outside the canary subset "
                        f"({', '.join(sorted({r.symbol for r in outside}))}): not evidence")
    out: dict[str, Any] = {}
    if runner is None:
        problems.append(f"LEAN runner: {runner_gap or 'not scraped'}")
    else:
        ops = [runner.operations[o] for o in ORDER_OPERATIONS if o in runner.operations]
        requests, failed = sum(h.count for h in ops), sum(h.failures for h in ops)
        out.update(runner_requests=requests, runner_failures=failed,
                   runner_window=runner.span())
        if requests:
            out["error_rate"] = failed / requests
        else:
            problems.append(f"LEAN runner answered no order requests in {runner.span()}")
        if runner.restarted:
            problems.append(f"LEAN runner restarted in the window: counts since its restart "
                            f"({runner.span()})")
        submit = runner.operations.get(SUBMIT_OPERATION)
        p99, capped = histogram_quantile(0.99, submit) if submit else (None, False)
        out["runner_p99_ms"] = p99
        if capped:
            problems.append(f"LEAN runner submit p99 is above its largest bucket ({p99:g} ms)")
        if inside and not requests:
            problems.append("executions say LEAN served orders but the scraped runner answered "
                            "none: is it the canary's runner?")
    if context is None:
        problems.append(f"serving API: {context_gap or 'not scraped'}")
    else:
        path = context.operations.get(CONTEXT_PATH)
        p99, capped = histogram_quantile(0.99, path) if path else (None, False)
        out.update(context_requests=path.count if path else 0, context_p99_ms=p99,
                   context_window=context.span())
        if p99 is None:
            problems.append(f"serving API answered no {CONTEXT_PATH} request in {context.span()}")
        if capped:
            problems.append(f"serving API p99 is above its largest bucket ({p99:g} ms)")
    p99s = [v for v in (out.get("runner_p99_ms"), out.get("context_p99_ms")) if v is not None]
    return CanaryDay(
        day=day, run_id=run_id, computed_at=computed_at, subset=subset,
        lean_expected=len(inside), lean_served=served,
        fallbacks_by_reason=dict(sorted(reasons.items())), outside_subset=len(outside),
        outside_subset_symbols=sorted({r.symbol for r in outside}),
        availability=(served / len(inside)) if inside else None,
        p99_latency_ms=max(p99s) if len(p99s) == 2 else None, problems=problems, **out)


def ny_day(ts: datetime) -> date:
    """The New York calendar day of an aware timestamp."""
    return ts.astimezone(NEW_YORK).date()


def next_day_start(day: date) -> datetime:
    """Midnight New York after ``day`` (the exclusive end of its executions)."""
    return datetime.combine(day + timedelta(days=1), time(0), NEW_YORK)


__all__ = ["CONTEXT_PATH", "ORDER_OPERATIONS", "RUNNER_SOURCE", "SERVING_SOURCE",
           "SUBMIT_OPERATION", "CanaryExecution", "TelemetryError", "canary_slo_day",
           "day_window", "histogram_quantile", "next_day_start", "ny_day", "runner_snapshot",
           "serving_snapshot", "session_bounds", "telemetry_window"]
