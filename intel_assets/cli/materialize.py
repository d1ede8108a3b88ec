"""Owns `intel-assets materialize`: the asked symbols of the universe refreshed and published,
one Dagster run of the refresh job per contiguous group of the universe (a range run refreshes
every symbol between its ends, so `materialize SYN000 SYN003` runs SYN000 and SYN003 alone, in
two runs, rather than SYN001 and SYN002 unasked), on the settings demo and ui use
(common.local_settings, the sample providers for unconfigured ones), with a progress line per
step; then what was asked, what ran, each run's outcome and UI link, and the latest bundles.

A run is a run of the code location's job (the remote job origin workspace.yaml gives it), so
Dagster's Overview timeline and the job's page list it like a sensor's; it executes in this
process (chdb admits one process per data path). A failed run prints one ``error:`` line naming
the failed step and the log file holding the full run log, and exits 1."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from intel_assets.cli.common import REPO, local_settings, open_store, print_summary, say, summary_rows
from intel_assets.cli.dagster_home import prepare_dagster_home
from intel_assets.settings import Settings, SettingsError

#: `intel-assets ui`'s default Dagster port: the runs' links point there.
DEFAULT_UI_PORT = 3000
#: The code location of workspace.yaml whose job the CLI's runs are runs of.
LOCATION_NAME = "intel_assets"
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def contiguous_groups(universe: list[str], chosen: list[str]) -> list[list[str]]:
    """``chosen`` split into runs of neighbours in ``universe`` order (each one range run)."""
    index = {s: i for i, s in enumerate(universe)}
    ordered = sorted(dict.fromkeys(chosen), key=index.__getitem__)
    groups: list[list[str]] = []
    for symbol in ordered:
        if groups and index[symbol] == index[groups[-1][-1]] + 1:
            groups[-1].append(symbol)
        else:
            groups.append([symbol])
    return groups


def run_url(run_id: str, port: int = DEFAULT_UI_PORT) -> str:
    return f"http://127.0.0.1:{port}/runs/{run_id}"


@dataclass
class StepProgress:
    """Dagster events of a run -> one line per finished step (counts, elapsed time) and the
    first failed step."""

    echo: bool = True
    started: float = field(default_factory=time.perf_counter)
    step_started: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    done: int = 0
    failed_step: str | None = None
    failure: str | None = None

    def __call__(self, event) -> None:
        from dagster import DagsterEventType

        kind, step = event.event_type, event.step_key
        if kind is DagsterEventType.STEP_START:
            self.step_started[step] = time.perf_counter()
        elif kind in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION,
                      DagsterEventType.ASSET_CHECK_EVALUATION):
            name = {DagsterEventType.ASSET_MATERIALIZATION: "materialized",
                    DagsterEventType.ASSET_OBSERVATION: "observed",
                    DagsterEventType.ASSET_CHECK_EVALUATION: "checks"}[kind]
            self.counts.setdefault(step, Counter())[name] += 1
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
                      DagsterEventType.STEP_SKIPPED, DagsterEventType.STEP_UP_FOR_RETRY):
            self.done += 1
            took = time.perf_counter() - self.step_started.get(step, time.perf_counter())
            outcome = {DagsterEventType.STEP_SUCCESS: "done",
                       DagsterEventType.STEP_FAILURE: "FAILED",
                       DagsterEventType.STEP_SKIPPED: "skipped",
                       DagsterEventType.STEP_UP_FOR_RETRY: "retrying"}[kind]
            if kind is DagsterEventType.STEP_FAILURE and self.failed_step is None:
                self.failed_step = step
                error = event.step_failure_data.error if event.step_failure_data else None
                while error is not None and error.cause is not None:  # the user code's error
                    error = error.cause
                self.failure = (error.message.strip().splitlines() or ["no message"])[0] \
                    if error is not None else "no message"
            counted = ", ".join(f"{n} {name}" for name, n in sorted(self.counts.get(step, {}).items()))
            if self.echo:
                say(f"  [{self.done}] {step}: {outcome} in {took:.1f} s"
                    f"{f' ({counted})' if counted else ''}; elapsed "
                    f"{time.perf_counter() - self.started:.1f} s")


def write_run_log(settings: Settings, instance, run_id: str) -> Path:
    """The run's full event log (every message and error with its stack) in a file under
    INTEL_HOME/logs; returns its path."""
    from datetime import datetime, timezone

    path = Path(settings.home).expanduser().resolve() / "logs" / f"run-{run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for entry in instance.all_logs(run_id):
        at = datetime.fromtimestamp(entry.timestamp, timezone.utc).isoformat(timespec="milliseconds")
        event = entry.dagster_event
        kind = event.event_type_value if event is not None else "LOG"
        lines.append(f"{at} {kind:<24} {entry.step_key or '-':<28} {entry.user_message}")
        error = getattr(event.event_specific_data, "error", None) if event is not None else None
        if error is not None and hasattr(error, "to_string"):  # a step's or the run's failure
            lines.append(error.to_string())
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_one(settings: Settings, defs, instance, symbols: list[str], on_event=None):
    from intel_assets.dagster_internals import execute_in_process_as, workspace_job_origins
    from intel_assets.jobs import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, REFRESH_JOB

    remote_origin, code_origin = workspace_job_origins(
        str(REPO / "workspace.yaml"), LOCATION_NAME, "intel_assets.definitions", REFRESH_JOB)
    return execute_in_process_as(
        defs.resolve_job_def(REFRESH_JOB), instance, run_config=QUIET_CONSOLE,
        tags={PARTITION_RANGE_START_TAG: symbols[0], PARTITION_RANGE_END_TAG: symbols[-1]},
        remote_job_origin=remote_origin, job_code_origin=code_origin, on_event=on_event)


def _checked_symbols(settings: Settings, symbols: list[str] | None) -> list[str]:
    chosen = symbols or list(settings.symbols)
    unknown = [s for s in chosen if s not in settings.symbols]
    if unknown:
        raise SettingsError(f"{unknown} not in the universe {list(settings.symbols)}; set INTEL_UNIVERSE")
    return chosen


def materialize(settings: Settings, symbols: list[str] | None = None, on_event=None):
    """Refresh and publish the universe (or the range from the first to the last of
    ``symbols``) in ONE run of the refresh job; the ExecuteInProcessResult."""
    from dagster import DagsterInstance

    from intel_assets.definitions import build_definitions

    chosen = _checked_symbols(settings, symbols)
    prepare_dagster_home(settings)
    defs = build_definitions(settings)
    with DagsterInstance.get() as instance:
        return _run_one(settings, defs, instance, chosen, on_event)


def check_store(settings: Settings) -> None:
    """Raise StoreUnavailableError (one line: what, where, how to fix) unless the bundle store
    answers, before any run starts."""
    from intel_assets.stores.bundle_store import StoreUnavailableError

    try:
        store = open_store(settings)
        try:
            store.ping()
        finally:
            store.close()
    except StoreUnavailableError as exc:
        fix = ("`intel-assets postgres status` (the embedded cluster of INTEL_HOME)"
               if settings.embedded_store else "INTEL_BUNDLE_STORE_DSN")
        raise StoreUnavailableError(f"{exc}; nothing was refreshed; check {fix}") from None


def _outcome(result, took: float, symbols: list[str], bundles: dict) -> str:
    if not result.success:  # the store holds the bundles of an earlier run: none are shown
        return f"run {result.run_id}: FAILED after {took:.1f} s"
    states = Counter()
    for symbol in symbols:
        bundle = bundles.get(symbol)
        if bundle is None:
            states["unpublished"] += 1
            continue
        order = ("error", "missing", "stale", "ok")
        found = {block["state"] for block in bundle["domains"].values()}
        states[next(s for s in order if s in found) if found & set(order) else "ok"] += 1
    by_state = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    return (f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'} in {took:.1f} s;"
            f" {len(symbols)} symbol{'s' * (len(symbols) != 1)} by worst domain: {by_state}")


def kept_blocks(bundles: dict) -> list[str]:
    """'SYMBOL domain: why' for each block a run kept instead of its refresh's: from the
    published bundle (domain.bundle.keep_better) or the last staged block (news's own reuse)."""
    from intel_assets.domain.bundle import KEPT_FROM_PUBLISHED

    lines = []
    for symbol, bundle in bundles.items():
        for name, block in bundle["domains"].items():
            payload = block.get("payload") or {}
            source = payload.get(KEPT_FROM_PUBLISHED) or payload.get("reusedFromAsOf")
            if source:
                lines.append(f"{symbol} {name}: {payload.get('fetchError', '?')}; kept the "
                             f"{'published' if KEPT_FROM_PUBLISHED in payload else 'last good'} "
                             f"block as of {source} (stale, quality {block['qualityScore']:.2f})")
    return lines


def materialize_cmd(symbols: list[str]) -> int:
    """`intel-assets materialize [SYMBOL ...]`: 0 when every run succeeded, else 1."""
    from dagster import DagsterInstance

    from intel_assets.cli.local_stack import sample_providers
    from intel_assets.definitions import build_definitions

    settings = local_settings()
    asked = [s.upper() for s in symbols]
    chosen = _checked_symbols(settings, asked or None)
    check_store(settings)
    groups = contiguous_groups(list(settings.symbols), chosen)
    say(f"asked: {', '.join(asked) if asked else f'the universe ({len(chosen)} symbols)'}")
    say(f"runs:  {len(groups)} ({'; '.join(g[0] if len(g) == 1 else f'{g[0]}..{g[-1]}' for g in groups)})"
        + ("  (one run per contiguous group of the universe: a range run refreshes every "
           "symbol between its ends)" if len(groups) > 1 else ""))
    failed = None
    with sample_providers(settings) as settings:
        prepare_dagster_home(settings)
        defs = build_definitions(settings)
        with DagsterInstance.get() as instance:
            for group in groups:
                progress = StepProgress()
                say(f"refreshing {group[0] if len(group) == 1 else f'{group[0]}..{group[-1]}'} "
                    f"({len(group)} symbol{'s' * (len(group) != 1)})")
                result = _run_one(settings, defs, instance, group, on_event=progress)
                took = time.perf_counter() - progress.started
                bundles = {row["symbol"]: row["bundle"] for row in summary_rows(settings)
                           if row["symbol"] in group and row["bundle"] is not None}
                say(_outcome(result, took, group, bundles))
                say(f"  UI: {run_url(result.run_id)}  (with `intel-assets ui` running)")
                for line in kept_blocks(bundles):
                    say(f"  kept {line}")
                if not result.success:
                    log = write_run_log(settings, instance, result.run_id)
                    failed = (f"error: run {result.run_id} failed at step "
                              f"{progress.failed_step or '(none: the run itself)'}: "
                              f"{progress.failure or 'see the log'}; full run log: {log}")
                    break
                write_run_log(settings, instance, result.run_id)
    if failed:
        print(failed, file=sys.stderr)
        return 1
    print_summary([row for row in summary_rows(settings) if row["symbol"] in chosen])
    return 0
