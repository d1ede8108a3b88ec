"""A snapshot of the code location as Dagster loads it: asset keys (group, partitions, freshness
window, upstream keys), asset checks (blocking or not), jobs (selection, tags), sensors and
schedules with their default status, on a live clock and under a replay clock. A change to any
of these shows up as a diff of tests/__snapshots__/definitions.json in review; regenerate it
with ``UPDATE_SNAPSHOTS=1 make test PYTEST_ARGS=tests/test_definitions_snapshot.py``.

README.md's statements about the automation's defaults (which sensors and schedules run by
default, at what New York time) are checked against the same snapshot.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from dagster import Definitions

from intel_assets.definitions import build_definitions
from intel_assets.settings import ParitySettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = Path(__file__).resolve().parent / "__snapshots__" / "definitions.json"
REPLAY_CLOCK = "2013-10-11T15:59:00-04:00"


def _definitions(tmp_path: Path, live: bool) -> Definitions:
    """Both slices, from settings given in code (no environment, no database, no shared data):
    three symbols, Torghut's database named but never reached (the start date is pinned), an
    empty LEAN folder (no exchange calendar: weekends only)."""
    lean = tmp_path / "lean"
    (lean / "equity" / "usa" / "minute").mkdir(parents=True, exist_ok=True)
    parity = ParitySettings.from_environ({
        "TORGHUT_DB_DSN": "postgresql://torghut@127.0.0.1:1/torghut",
        "INTEL_PARITY_START_DATE": "2013-10-07", "INTEL_LEAN_DATA_DIR": str(lean)})
    settings = load_settings(home=tmp_path / "home", universe="AAA,BBB,CCC", parity=parity,
                             **({} if live else {"as_of": REPLAY_CLOCK}))
    return build_definitions(settings)


def _partitions(node: Any) -> dict[str, Any] | None:
    partitions = node.partitions_def
    if partitions is None:
        return None
    keys = list(partitions.get_partition_keys())
    return {"type": type(partitions).__name__, "first": keys[0] if keys else None}


def snapshot(defs: Definitions) -> dict[str, Any]:
    """What the snapshot pins, in a stable order."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        policy = node.freshness_policy
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node),
            "freshness_fail_window_seconds": (policy.fail_window.to_timedelta().total_seconds()
                                              if policy is not None else None),
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "observable_source": node.is_observable,
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        spec = graph.get_check_spec(check_key)
        checks[check_key.to_user_string()] = {"blocking": spec.blocking}
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = job.asset_layer.selected_asset_keys
        jobs[job.name] = {"assets": sorted(k.to_user_string() for k in selected),
                          "tags": dict(sorted(job.tags.items()))}
    sensors = {}
    for sensor in sorted(defs.sensors or [], key=lambda s: s.name):
        sensors[sensor.name] = {"default_status": sensor.default_status.value,
                                "minimum_interval_seconds": sensor.minimum_interval_seconds,
                                "jobs": sorted(sensor.job_name and [sensor.job_name] or [])}
    schedules = {}
    for schedule in sorted(defs.schedules or [], key=lambda s: s.name):
        schedules[schedule.name] = {"cron": schedule.cron_schedule,
                                    "timezone": schedule.execution_timezone,
                                    "default_status": schedule.default_status.value,
                                    "job": schedule.job_name}
    return {"assets": assets, "asset_checks": checks, "jobs": jobs, "sensors": sensors,
            "schedules": schedules}


def _both(tmp_path: Path) -> dict[str, Any]:
    return {"live_clock": snapshot(_definitions(tmp_path / "live", live=True)),
            "replay_clock": snapshot(_definitions(tmp_path / "replay", live=False))}


def test_definitions_match_the_snapshot(tmp_path: Path) -> None:
    current = _both(tmp_path)
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"no snapshot: run with UPDATE_SNAPSHOTS=1 to write {SNAPSHOT}"
    pinned = json.loads(SNAPSHOT.read_text())
    assert current == pinned, ("the code location changed: review the diff of "
                               f"{SNAPSHOT.relative_to(ROOT)} after regenerating it with "
                               "UPDATE_SNAPSHOTS=1")


def _hour_minute(cron: str) -> str:
    minute, hour = cron.split()[:2]
    return f"{int(hour):02d}:{int(minute):02d}"


def test_readme_states_the_automation_defaults_the_snapshot_has() -> None:
    pinned = json.loads(SNAPSHOT.read_text())
    live, replay = pinned["live_clock"], pinned["replay_clock"]
    readme = (ROOT / "README.md").read_text()
    flat = re.sub(r"\s+", " ", readme)

    # "The sensors run by default with a live clock and are stopped by default under a replay
    # clock." (the three per-symbol freshness sensors)
    freshness = ("symbol_freshness_sensor", "news_freshness_sensor",
                 "fundamentals_freshness_sensor")
    assert ("The sensors run by default with a live clock and are stopped by default under a "
            "replay clock.") in flat
    for name in freshness:
        assert f"`{name}`" in readme
        assert live["sensors"][name]["default_status"] == "RUNNING", name
        assert replay["sensors"][name]["default_status"] == "STOPPED", name

    # "sensor `parity_on_new_decisions` ... and schedule `parity_nightly` (02:00 New York, ...)
    # run by default with a live clock only; under a replay clock (`INTEL_AS_OF`) they start
    # stopped."
    said = re.search(r"schedule `parity_nightly` \((\d\d:\d\d) New York", flat)
    assert said and "run by default with a live clock only; under a replay clock" in flat
    assert _hour_minute(live["schedules"]["parity_nightly"]["cron"]) == said.group(1)
    assert live["schedules"]["parity_nightly"]["timezone"] == "America/New_York"
    for clock, status in ((live, "RUNNING"), (replay, "STOPPED")):
        assert clock["sensors"]["parity_on_new_decisions"]["default_status"] == status
        assert clock["schedules"]["parity_nightly"]["default_status"] == status

    # "`guardrail_daily_nightly` (02:30 New York), `canary_slo_nightly` (02:45) and
    # `rollout_gate_daily` (03:00) are off by default."
    times = dict(re.findall(r"`(guardrail_daily_nightly|canary_slo_nightly|rollout_gate_daily)` "
                            r"\((\d\d:\d\d)", flat))
    assert set(times) == {"guardrail_daily_nightly", "canary_slo_nightly", "rollout_gate_daily"}
    assert re.search(r"`rollout_gate_daily` \(\d\d:\d\d\) are off by default", flat)
    for name, hhmm in times.items():
        for clock in (live, replay):
            schedule = clock["schedules"][name]
            assert _hour_minute(schedule["cron"]) == hhmm, name
            assert schedule["default_status"] == "STOPPED", name
            assert schedule["timezone"] == "America/New_York", name

    # Every sensor and schedule the code location defines is named in README.
    for name in (*live["sensors"], *live["schedules"]):
        assert f"`{name}`" in readme, f"README does not mention {name}"
