"""intel_assets benchmarks: P1 refresh cost, P2 serving latency, P4 parity replay at scale.
Prints figures, never asserts.

    python benchmarks/run.py                  # P1, P2 and P4, full size (500 symbols; ~5-6 min)
    python benchmarks/run.py --quick          # 50 symbols, 500 requests, 1,000 intents (< 1 min)
    python benchmarks/run.py --p4 --intents 10000
    python benchmarks/run.py --p1 --symbols 200 --partition-runs 10
    python benchmarks/run.py --p2 --requests 5000 --concurrency 4
    python benchmarks/run.py --p1 --partition-runs 0 --inprocess-runs 0 \
        --dagster-storage postgres --event-batch-size 100

Everything runs in a temporary INTEL_HOME / DAGSTER_HOME (removed at the end unless --keep);
network traffic is loopback only. Output: a readable table on stdout, then ONE JSON line
with every figure (the last line). Progress goes to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    NewsServer,
    isolate_environment,
    log,
    make_workspace,
    remove_workspace,
)

FULL = {"symbols": 500, "partition_runs": 20, "inprocess_runs": 5, "requests": 5000,
        "concurrency": 4, "max_seconds": 60.0, "seq_requests": 2000, "nm_requests": 1000,
        "dagster_lookups": 300, "store_lookups": 2000}
QUICK = {"symbols": 50, "partition_runs": 3, "inprocess_runs": 3, "requests": 500,
         "concurrency": 4, "max_seconds": 15.0, "seq_requests": 300, "nm_requests": 200,
         "dagster_lookups": 100, "store_lookups": 500}
FULL["intents"], QUICK["intents"] = 10_000, 1_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--p1", action="store_true", help="refresh cost (default: P1, P2 and P4)")
    p.add_argument("--p2", action="store_true", help="serving latency (default: P1, P2 and P4)")
    p.add_argument("--p4", action="store_true", help="parity replay at scale through both venues "
                   "(default: with P1 and P2); needs the LEAN data (INTEL_LEAN_DATA_DIR)")
    p.add_argument("--intents", type=int, help="P4 decisions over the LEAN week (10,000)")
    p.add_argument("--p5", action="store_true", help="end-to-end staleness with a live clock "
                   "(`intel-assets ui` + a minute-bar feed; long: --p5-minutes plus ~3 min of "
                   "set-up). Not in the default set; add it to the others with --with-p5")
    p.add_argument("--with-p5", action="store_true", help="run P5 after the default P1, P2, P4")
    p.add_argument("--p5-minutes", type=float, default=10.0, help="P5 measured minutes (10)")
    p.add_argument("--p5-env", action="append", default=[], metavar="NAME=VALUE",
                   help="an INTEL_* setting for P5's `intel-assets ui` (repeatable), e.g. "
                   "INTEL_TECHNICALS_REFRESH_SECONDS=15")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run under a minute")
    p.add_argument("--symbols", type=int, help="universe size (full 500, quick 50)")
    p.add_argument("--partition-runs", type=int, help="one-partition runs, each in a new process (20)")
    p.add_argument("--inprocess-runs", type=int, help="one-partition runs in this process (5; 0 = skip)")
    p.add_argument("--requests", type=int, help="requests in the concurrent load phase (5000)")
    p.add_argument("--concurrency", type=int, help="client workers in the concurrent phase (4)")
    p.add_argument("--max-seconds", type=float, help="time cap per load phase (60)")
    p.add_argument("--seq-requests", type=int, help="requests in the 1-worker phase (2000)")
    p.add_argument("--nm-requests", type=int, help="If-None-Match (304) requests, 1 worker (1000)")
    p.add_argument("--dagster-lookups", type=int, help="event-log lookups (300)")
    p.add_argument("--store-lookups", type=int, help="in-process BundleStore.latest() lookups (2000)")
    p.add_argument("--news-server", action="store_true",
                   help="serve news from the packaged sample Alpaca-compatible server on 127.0.0.1 "
                   "(as `make demo` does); default: no news server and no keys, so the news "
                   "step fails fast per symbol without any HTTP")
    p.add_argument("--dagster-storage", choices=("embedded", "sqlite", "postgres"),
                   default="embedded",
                   help="Dagster storage (and bundle store): the embedded default (PostgreSQL "
                   "cluster under INTEL_HOME, the dagster.yaml `intel-assets` writes), sqlite "
                   "(INTEL_EMBEDDED_POSTGRES=false), or postgres: deploy/dagster.yaml on a "
                   "throwaway local server (fsync on)")
    p.add_argument("--no-p1-deploy", dest="p1_deploy", action="store_false",
                   help="with the embedded default, do not repeat P1 (a) on the PostgreSQL "
                   "deploy config (deploy/dagster.yaml on a throwaway server) for the side-by-side")
    p.add_argument("--event-batch-size", type=int, default=None,
                   help="DAGSTER_EVENT_BATCH_SIZE for the runs (default: unset, so the dagster.yaml's "
                   "event_batch_size applies: 500; 0 = no batching); only dagster-postgres writes "
                   "a batch in one INSERT")
    p.add_argument("--no-planned-subset", dest="planned_partition_subset", action="store_false",
                   help="planned_partition_subset: false in the dagster.yaml: one "
                   "ASSET_MATERIALIZATION_PLANNED event per asset AND partition (Dagster's default)")
    p.add_argument("--keep", action="store_true", help="keep the temporary homes (path printed)")
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not args.p1 and not args.p2 and not args.p4 and not args.p5:
        args.p1 = args.p2 = args.p4 = True
    args.p5 = args.p5 or args.with_p5
    if any("=" not in item for item in args.p5_env):
        p.error("--p5-env takes NAME=VALUE")
    if args.symbols < 1 or args.concurrency < 1:
        p.error("--symbols and --concurrency must be >= 1")
    if args.event_batch_size is not None and args.event_batch_size < 0:
        p.error("--event-batch-size must be >= 0")
    return args


# ---- printing ---------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _row(label: str, value: Any, unit: str = "", note: str = "", digits: int = 3) -> None:
    print(f"  {label:<46} {_fmt(value, digits):>12} {unit:<5} {note}".rstrip())


def _target(met: bool | None) -> str:
    """MET / NOT MET; None (the target's size was not run, e.g. P4 with --intents) is n/a."""
    return "n/a" if met is None else "MET" if met else "NOT MET"


def print_setup(f: dict[str, Any]) -> None:
    print("\n== setup " + "=" * 70)
    s = f["seed"]
    _row("universe", s["symbols"], "sym", f"x {s['bars_per_symbol']} minute bars (1 session), "
         f"replay as of {s['replay_as_of']}")
    _row("seed (synthetic market into chdb)", s["seed_s"], "s")
    _row("news source", f["news"])
    d = f["dagster_storage"]
    batch = d["event_batch_size"]
    note = ("event_batch_size from dagster.yaml (500)" if batch is None
            else f"DAGSTER_EVENT_BATCH_SIZE={batch} (environment)")
    note += (", planned_partition_subset: " + ("true" if d.get("planned_partition_subset")
                                                else "false"))
    kinds = {"embedded": "embedded default: PostgreSQL cluster under INTEL_HOME (unix socket), "
                         "dagster.yaml written by intel-assets; bundle store on it",
             "sqlite": "SQLite files (INTEL_EMBEDDED_POSTGRES=false)",
             "postgres": "deploy/dagster.yaml on a throwaway PostgreSQL server over TCP; bundle "
                         "store on it"}
    _row("Dagster storage", d["kind"], note=kinds[d["kind"]])
    _row("  event settings", "", note=note)
    for key, label in (("postgres", "PostgreSQL server (P1 deploy config)"),):
        pg = d.get(key)
        if not pg:
            continue
        st = pg["settings"]
        _row(label, "", note=f"PostgreSQL {st.get('server_version')} on 127.0.0.1, "
             f"fsync={st.get('fsync')}, synchronous_commit={st.get('synchronous_commit')}")
        _row("  new PostgreSQL connection (connect+SELECT 1)", pg["new_connection_ms"], "ms",
             "dagster-postgres opens one per storage call (NullPool)")
        _row("  one durable INSERT + COMMIT, warm connection", pg["durable_insert_commit_ms"], "ms")


def print_p1(f: dict[str, Any]) -> None:
    print("\n== P1 refresh cost " + "=" * 60)
    a = f["single_run"]
    print(f"\n (a) ONE run, {a['partitions']} partitions (range tags, execute_in_process)")
    _row("run succeeded", a["success"])
    _row("wall", a["wall_s"], "s", f"target <= {a['target_wall_s']:.0f} s: {_target(a['target_met'])}")
    _row("process CPU", a["cpu_s"], "s", f"user {a['cpu_user_s']:.2f} + sys {a['cpu_sys_s']:.2f}")
    _row("wall per symbol", a["per_symbol_ms"], "ms", digits=2)
    _row("build_definitions (not in wall)", a["build_definitions_s"], "s")
    _row("before RUN_START (run + planned events)", a.get("before_run_start_s"), "s",
         f"{a['event_counts'].get('ASSET_MATERIALIZATION_PLANNED', 0)} ASSET_MATERIALIZATION_PLANNED")
    _row("RUN_START -> RUN_SUCCESS", a.get("run_span_s"), "s")
    _row("  sum of step durations", a.get("steps_total_s"), "s")
    _row("  between steps", a.get("between_steps_s"), "s")
    _row("after RUN_SUCCESS (return to caller)", a.get("after_run_end_s"), "s")
    print(f"    {'step':<52} {'duration s':>10} {'compute s':>10} {'emit s':>8} {'after s':>8} "
          f"{'mat. events':>11}")
    for st in a["steps"]:
        print(f"    {st['step']:<52} {st['duration_s']:>10.3f} {st['compute_s']:>10.3f} "
              f"{st['emit_events_s']:>8.3f} {st.get('after_last_mat_s', 0.0):>8.3f} "
              f"{st['materializations']:>11,}")
    emit = sum(st["emit_events_s"] + st.get("after_last_mat_s", 0.0) for st in a["steps"]
               if st["materializations"])
    _row("  emit + after, steps with materializations", round(emit, 3), "s")
    _row("events written by the run", a["events"], note=f"+ {a['log_messages']:,} log messages")
    if "pg_activity" in a:
        pa = a["pg_activity"]
        _row("PostgreSQL: sessions / commits in the call", f"{pa['sessions']:,} / {pa['commits']:,}",
             note=f"rows inserted {pa['rows_inserted']:,}, updated {pa['rows_updated']:,}")
    _row("materialization events, serialized", round(a["materialization_event_bytes"] / 1e6, 1), "MB",
         digits=1)
    _row("Dagster storage growth (files + PG database)", a["dagster_storage_growth_mb"], "MB", digits=1)
    _row("peak RSS of the process", a["peak_rss_mb"], "MB", digits=1)
    _row("published bundles / technicals ok", f"{a['published_symbols']} / {a['technicals_ok']}")
    _row("domain states of the published bundles", "", note="; ".join(
        f"{d} " + ", ".join(f"{s} {n}" for s, n in c.items()) for d, c in a["domain_states"].items()))

    n = a["partitions"]
    sp = f.get("per_partition_subprocess")
    if sp:
        print(f"\n (b) one run per partition, each in a NEW Python process ({sp['runs']} runs, sequential)")
        _row("runs succeeded", f"{sp['succeeded']}/{sp['runs']}")
        for fail in sp["failures"]:
            print(f"    failure: {fail}")
        _row("mean wall per run", sp["mean_s"], "s")
        _row("median wall per run", sp["median_s"], "s", f"min {sp['min_s']}, max {sp['max_s']}")
        _row("mean CPU per run (child)", sp["mean_cpu_s"], "s")
        _row("  interpreter startup", sp.get("mean_startup_s"), "s")
        _row("  import dagster + code location (defs)", sp.get("mean_import_defs_s"), "s")
        _row("  DagsterInstance.get()", sp.get("mean_instance_s"), "s")
        _row("  execute_in_process", sp.get("mean_execute_s"), "s")
        _row("    before RUN_START", sp.get("mean_before_run_start_s"), "s")
        _row("    sum of step durations", sp.get("mean_steps_total_s"), "s",
             ", ".join(f"{k} {v:.2f}" for k, v in sp.get("mean_step_s", {}).items()))
        _row("    between steps", sp.get("mean_between_steps_s"), "s")
        _row("  exit (instance close, interpreter exit)", sp.get("mean_exit_s"), "s")
        _row(f"extrapolated to {n} runs (mean x {n})", sp.get(f"extrapolated_{n}_runs_s"), "s",
             f"vs one run {a['wall_s']:.1f} s", digits=1)
        _row(f"extrapolated to {n} runs (median x {n})", sp.get(f"extrapolated_{n}_runs_median_s"),
             "s", digits=1)
    ip = f.get("per_partition_in_process")
    if ip:
        print(f"\n (b') one run per partition in this warm process ({ip['runs']} runs)")
        _row("runs succeeded", f"{ip['succeeded']}/{ip['runs']}")
        _row("mean wall per run", ip["mean_s"], "s")
        _row("median wall per run", ip["median_s"], "s", f"min {ip['min_s']}, max {ip['max_s']}")
        _row("mean CPU per run", ip["mean_cpu_s"], "s")
        _row(f"extrapolated to {n} runs (mean x {n})", ip.get(f"extrapolated_{n}_runs_s"), "s", digits=1)


def print_p5(p: dict[str, Any]) -> None:
    print("\n== P5 end-to-end staleness (live clock, `intel-assets ui`, minute-bar feed) " + "=" * 5)
    _row("universe / measured", f"{p['symbols']} sym", note=f"{p['minutes']:g} min, "
         f"{p['samples']:,} samples (1/s, random symbol); statuses {p['statuses']}")
    _row("settings", "", note=", ".join(f"{k}={v}" for k, v in p["settings"].items())
         or "defaults")
    _row("set-up: seed / first publish / warm-up", f"{p['seed_s']} / {p['first_publish_s']} / "
         f"{p['warmup_s']}", "s")
    lag, fresh = p["lag_behind_feed"], p["served_freshness"]
    _row("lag behind the feed p50 / p95 / max", f"{lag['p50_s']} / {lag['p95_s']} / "
         f"{lag['max_s']}", "s", f"target p95 <= {p['target_p95_s']:.0f} s: "
         f"{_target(p['target_met'])}")
    _row("served freshnessSeconds p50 / p95 / max", f"{fresh['p50_s']} / {fresh['p95_s']} / "
         f"{fresh['max_s']}", "s", "= lag + the newest bar's own age (0-60 s)")
    f = p["feed"]
    _row("feed: bars landed / write p50 / max", f"{f['bars_landed']} / {f['write_s'].get('p50_s')}"
         f" / {f['write_s'].get('max_s')}", "s", "all symbols per minute, chdb lock wait included")
    r = p["runs"]
    _row("refresh_technicals runs in the window", r["count"], note=str(r["statuses"]))
    for key, label in (("between_creations", "  spacing between runs (sensor)"),
                       ("created_to_started", "  created -> started (queue + worker start)"),
                       ("started_to_ended", "  started -> ended (the run)")):
        v = r[key]
        if v.get("n"):
            _row(f"{label} p50/p95/max", f"{v['p50_s']} / {v['p95_s']} / {v['max_s']}", "s")


def print_p1_side_by_side(f: dict[str, Any]) -> None:
    """P1 (a) on the embedded default and on the PostgreSQL deploy config, one column each."""
    runs = [("embedded default", f["p1"]["single_run"]), ("PostgreSQL deploy", f["p1_deploy"])]
    print("\n== P1 (a) side by side: one run of the whole universe " + "=" * 25)
    print(f"  {'':<44} " + " ".join(f"{name:>18}" for name, _ in runs))

    def line(label: str, values: list[Any], unit: str = "") -> None:
        print(f"  {label:<44} " + " ".join(f"{_fmt(v, 2):>18}" for v in values) + f" {unit}")

    line("run succeeded", [a["success"] for _, a in runs])
    line("wall", [a["wall_s"] for _, a in runs], "s")
    line("  target <= 10 s", [_target(a["target_met"]) for _, a in runs])
    line("process CPU", [a["cpu_s"] for _, a in runs], "s")
    line("before RUN_START (run + planned events)", [a.get("before_run_start_s") for _, a in runs],
         "s")
    line("ASSET_MATERIALIZATION_PLANNED events",
         [a["event_counts"].get("ASSET_MATERIALIZATION_PLANNED", 0) for _, a in runs])
    line("sum of step durations", [a.get("steps_total_s") for _, a in runs], "s")
    line("emit + after (materialization writes)",
         [round(sum(st["emit_events_s"] + st.get("after_last_mat_s", 0.0) for st in a["steps"]
                    if st["materializations"]), 3) for _, a in runs], "s")
    line("PostgreSQL sessions opened in the call",
         [a.get("pg_activity", {}).get("sessions") for _, a in runs])
    line("published bundles", [a["published_symbols"] for _, a in runs])


def _latency_rows(title: str, ph: dict[str, Any], target: str = "") -> None:
    print(f"\n {title}")
    _row("completed / requested", f"{ph['completed']:,}/{ph['requested']:,}",
         note=f"{ph['elapsed_s']:.2f} s" + (" (time cap hit)" if ph["stopped_by_time_cap"] else ""))
    _row("statuses", ", ".join(f"{k}: {v:,}" for k, v in ph["statuses"].items()),
         note=f"unexpected/errors: {ph['unexpected']}")
    _row("throughput", ph.get("req_per_s"), "req/s", digits=1)
    _row("latency p50", ph.get("p50_ms"), "ms")
    _row("latency p95", ph.get("p95_ms"), "ms")
    _row("latency p99", ph.get("p99_ms"), "ms", target)
    _row("latency max", ph.get("max_ms"), "ms")
    if "app_p50_ms" in ph:
        _row("in-app time p50 / p99 (server side)", f"{ph['app_p50_ms']:.3f} / {ph['app_p99_ms']:.3f}", "ms")
    if "server_cpu_ms_per_req" in ph:
        _row("server CPU per request", ph["server_cpu_ms_per_req"], "ms")
    if "client_cpu_ms_per_req" in ph:
        _row("load-generator CPU per request", ph["client_cpu_ms_per_req"], "ms")


def print_p2(f: dict[str, Any], symbols: int, setup: dict[str, Any]) -> None:
    print("\n== P2 serving " + "=" * 65)
    if "p2_refresh_wall_s" in setup:
        _row("refresh run that published (setup, no P1)", setup["p2_refresh_wall_s"], "s",
             f"success={setup['p2_refresh_success']}")
    s = f["sanity"]
    _row("server ready after", f["server_start_s"], "s")
    _row("sanity GET", f"{s['status']} {s['symbol']}", note=f"{s['body_bytes']:,} B, ETag {s['etag']}")
    _latency_rows("GET market-context, 1 worker (unloaded latency)", f["sequential"],
                  f"target <= {f['target_p99_ms']:.0f} ms: {_target(f['target_met_sequential'])}")
    c = f["concurrent"]
    _latency_rows(f"GET market-context, {c['concurrency']} concurrent workers, random of {symbols} symbols",
                  c, f"target <= {f['target_p99_ms']:.0f} ms: {_target(f['target_met'])}")
    _latency_rows("GET with If-None-Match (304), 1 worker", f["not_modified"])
    d = f["dagster_event_log"]
    print(f"\n Dagster event log: fetch_materializations({d['asset']}[symbol], limit=1) + metadata")
    _row("lookups", d["n"])
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        _row(f"latency {key[:-3]}", d[key], "ms")
    _row("metadata chars per event", d["metadata_chars_per_event"], note="(no bundle body in it)")
    st = f["store_latest_in_process"]
    print("\n BundleStore.latest(symbol) in process (the floor)")
    _row("lookups", st["n"])
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        _row(f"latency {key[:-3]}", st[key], "ms")


def print_p4(p: dict[str, Any]) -> None:
    print("\n== P4 parity replay at scale " + "=" * 50)
    if "skipped" in p:
        print(f"  {p['skipped']}")
        return
    _row("decisions / replayed / rejected", f"{p['intents']:,} / {p['replayed']:,} / "
         f"{p['rejected']:,}", note=f"{len(p['days'])} trading days, one replay_day each "
         f"(generated in {p['generate_s']:.1f} s, not timed)")
    _row("wall, every day's replay_day", p["wall_s"], "s",
         f"target <= {p['target_wall_s']:.0f} s: {_target(p['target_met'])}")
    _row("  per day", "", note=", ".join(f"{d['day']} {d['wall_s']:.2f} s" for d in p["days"]))
    _row("  validation + report (not in a venue)", p["domain_s"], "s")
    _row("  replay process CPU", p["client_cpu_s"], "s")
    for side, v in p["venues"].items():
        _row(f"  {side}: replay_venue wall", v["wall_s"], "s", v["description"])
        _row(f"  {side}: HTTP requests", v["http_requests"],
             note=f"{v['requests_per_intent']} per intent")
        _row(f"  {side}: server process CPU", v["server_cpu_s"], "s")
        _row(f"  {side}: outcomes", ", ".join(f"{k} {n:,}" for k, n in v["statuses"].items()),
             note=f"digest {v['outcome_digest']}")
    _row("evidence complete (every day)", p["complete"])
    _row("status agreement", p["status_agreement_pct"], "%")
    _row("|fill-price drift| mean, filled on both", p["fill_price_drift_bps_mean"], "bps")


# ---- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lean_dir_env = os.environ.get("INTEL_LEAN_DATA_DIR")  # P4's data, read before isolating
    isolate_environment()
    started = time.perf_counter()
    import dagster

    figures: dict[str, Any] = {
        "config": {
            "mode": "quick" if args.quick else "full",
            "symbols": args.symbols, "bars_per_symbol": 390,
            "partition_runs": args.partition_runs, "inprocess_runs": args.inprocess_runs,
            "requests": args.requests, "concurrency": args.concurrency,
            "max_seconds": args.max_seconds, "seq_requests": args.seq_requests,
            "nm_requests": args.nm_requests, "dagster_lookups": args.dagster_lookups,
            "store_lookups": args.store_lookups, "intents": args.intents,
            "python": platform.python_version(), "dagster": dagster.__version__,
            "cpus": os.cpu_count(), "platform": platform.platform(),
            "loadavg_start": [round(v, 2) for v in os.getloadavg()],
            "news_server": bool(args.news_server),
            "dagster_storage": args.dagster_storage, "event_batch_size": args.event_batch_size,
            "planned_partition_subset": bool(args.planned_partition_subset),
            "p1_deploy": bool(args.p1_deploy),
        },
    }
    if args.p1 or args.p2:
        run_p1_p2(args, figures)
    if args.p4:
        figures["p4"] = run_p4_or_skip(lean_dir_env, args.intents)
    if args.p5:
        from benchmarks.p5_staleness import run_p5

        figures["p5"] = run_p5(args.symbols, args.p5_minutes,
                               dict(item.split("=", 1) for item in args.p5_env), keep=args.keep)
    return report(args, figures, started)


def run_p4_or_skip(lean_dir_env: str | None, intents: int) -> dict[str, Any]:
    """P4's figures, or ``{"skipped": reason}`` when there is no LEAN data."""
    from intel_assets.settings import SettingsError, load_settings

    try:
        lean_dir = load_settings(lean_data_dir=lean_dir_env or None,
                                 market_source="lean").resolved_lean_dir
    except SettingsError as exc:
        reason = f"P4 skipped: no LEAN data ({exc})"
        log(reason)
        return {"skipped": reason}
    from benchmarks.p4_parity import run_p4

    return run_p4(lean_dir, intents)


def run_p1_p2(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    """P1 and/or P2 in a throwaway workspace (removed unless --keep)."""
    if args.event_batch_size is not None:  # else the dagster.yaml's event_batch_size (500)
        os.environ["DAGSTER_EVENT_BATCH_SIZE"] = str(args.event_batch_size)
    ws = make_workspace(args.symbols, "sqlite" if args.dagster_storage == "sqlite" else "embedded",
                        planned_partition_subset=args.planned_partition_subset)
    log(f"workspace {ws.root} (INTEL_HOME={ws.home}, DAGSTER_HOME={ws.dagster_home})")
    storage: dict[str, Any] = {"kind": args.dagster_storage, "event_batch_size": args.event_batch_size,
                               "planned_partition_subset": bool(args.planned_partition_subset)}
    news_server = None
    try:
        if args.dagster_storage == "postgres":
            from benchmarks.common import use_postgres_storage

            log("starting a throwaway PostgreSQL cluster for Dagster storage (fsync on)")
            storage["postgres"] = use_postgres_storage(ws, args.planned_partition_subset)
            log(f"PostgreSQL on 127.0.0.1:{ws.pg.port}, data in {ws.pg.folder}")
        from benchmarks import p1_refresh

        log(f"seeding {len(ws.symbols)} synthetic symbols x 390 minute bars into chdb")
        setup: dict[str, Any] = {"seed": p1_refresh.seed(ws)}
        if not args.news_server or not NewsServer.available():
            setup["news"] = ("none (no Alpaca keys: the news step, if any, fails fast, no HTTP)"
                             if not args.news_server else "no news module in this tree")
        else:
            news_server = NewsServer(ws)
            setup["news"] = f"sample Alpaca-compatible server (subprocess) at {news_server.url}"
        log(f"news: {setup['news']}")
        setup["dagster_storage"] = storage
        figures["setup"] = setup
        if args.p1:
            figures["p1"] = p1_refresh.run_p1(ws, args.partition_runs, args.inprocess_runs)
            if args.p1_deploy and args.dagster_storage == "embedded":
                log("P1(a) again on the PostgreSQL deploy config (deploy/dagster.yaml, a "
                    "throwaway server, fsync on), same seeded market")
                figures["p1_deploy"], storage["postgres"] = p1_refresh.deploy_single_run(
                    ws, args.planned_partition_subset)
                log(f"P1(a) deploy config: {figures['p1_deploy']['wall_s']:.2f} s wall, "
                    f"success={figures['p1_deploy']['success']}")
        if args.p2:
            from benchmarks.p2_serving import run_p2

            if not ws.refreshed:  # P2 alone: publish bundles through one refresh run first
                from dagster import DagsterInstance

                log("P2 setup: one refresh run to publish bundles")
                with DagsterInstance.get() as instance:
                    run = p1_refresh.single_run(ws, instance)
                setup["p2_refresh_wall_s"] = run["wall_s"]
                setup["p2_refresh_success"] = run["success"]
            if news_server is not None:  # P2 never refreshes: free the core
                news_server.stop()
                news_server = None
            import gc

            gc.collect()
            figures["p2"] = run_p2(ws, args.requests, args.concurrency, args.max_seconds,
                                   args.seq_requests, args.nm_requests, args.dagster_lookups,
                                   args.store_lookups)
    finally:
        if news_server is not None:
            news_server.stop()
        if args.keep:
            log(f"kept {ws.root}" + (f" and the stopped cluster's data in {ws.pg.folder}"
                                     if ws.pg is not None else ""))
        remove_workspace(ws, keep=args.keep)


def report(args: argparse.Namespace, figures: dict[str, Any], started: float) -> int:
    """Print the table and the JSON line."""
    figures["benchmark_seconds"] = round(time.perf_counter() - started, 1)
    figures["config"]["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    figures["targets"] = {}
    if "p1" in figures:
        a = figures["p1"]["single_run"]
        figures["targets"]["p1_single_run_wall_le_10s"] = a["target_met"]
    if "p1_deploy" in figures:
        figures["targets"]["p1_deploy_single_run_wall_le_10s"] = figures["p1_deploy"]["target_met"]
    if "p2" in figures:
        figures["targets"]["p2_http_p99_le_5ms"] = figures["p2"]["target_met"]
    if "p4" in figures and "skipped" not in figures["p4"]:
        figures["targets"]["p4_parity_10k_le_5s"] = figures["p4"]["target_met"]
    if "p5" in figures:
        figures["targets"]["p5_lag_p95_le_30s"] = figures["p5"]["target_met"]

    c = figures["config"]
    print(f"intel_assets benchmark ({c['mode']}): {c['symbols']} symbols, Python {c['python']}, "
          f"Dagster {c['dagster']}, {c['cpus']} CPUs, {c['platform']}")
    print(f"load average (1/5/15 min) at start {c['loadavg_start']}, at end {c['loadavg_end']} "
          "(other work on the machine skews every figure)")
    if "setup" in figures:
        print_setup(figures["setup"])
    if "p1" in figures:
        print_p1(figures["p1"])
    if "p1_deploy" in figures:
        print_p1_side_by_side(figures)
    if "p2" in figures:
        print_p2(figures["p2"], args.symbols, figures["setup"])
    if "p4" in figures:
        print_p4(figures["p4"])
    if "p5" in figures:
        print_p5(figures["p5"])
    print("\n== targets " + "=" * 68)
    if "p1" in figures:
        a = figures["p1"]["single_run"]
        _row(f"P1 one run of {a['partitions']} partitions <= 10 s ({args.dagster_storage})",
             _target(a["target_met"]), note=f"{a['wall_s']:.2f} s")
    if "p1_deploy" in figures:
        a = figures["p1_deploy"]
        _row(f"P1 one run of {a['partitions']} partitions <= 10 s (PostgreSQL deploy)",
             _target(a["target_met"]), note=f"{a['wall_s']:.2f} s")
    if "p2" in figures:
        p = figures["p2"]
        _row(f"P2 HTTP p99 <= 5 ms ({p['concurrent']['concurrency']} workers)", _target(p["target_met"]),
             note=f"{p['concurrent']['p99_ms']:.3f} ms")
        _row("P2 HTTP p99 <= 5 ms (1 worker, for reference)", _target(p["target_met_sequential"]),
             note=f"{p['sequential']['p99_ms']:.3f} ms")
    if "p4" in figures:
        p = figures["p4"]
        if "skipped" in p:
            _row("P4 parity replay", "SKIPPED", note=p["skipped"])
        else:
            _row(f"P4 {p['intents']:,} intents, both venues <= {p['target_wall_s']:.0f} s",
                 _target(p["target_met"]), note=f"{p['wall_s']:.2f} s")
    if "p5" in figures:
        p = figures["p5"]
        _row(f"P5 served technicals lag p95 <= {p['target_p95_s']:.0f} s", _target(p["target_met"]),
             note=f"{p['lag_behind_feed'].get('p95_s')} s over {p['minutes']:g} min")
    _row("benchmark wall", figures["benchmark_seconds"], "s", digits=1)
    print()
    print(json.dumps(figures, separators=(",", ":"), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
