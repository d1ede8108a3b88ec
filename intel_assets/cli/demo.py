"""Owns `intel-assets demo`: seed, then materialize every asset in one run per instant (the
replay clock's minute on each of the last sessions, sample news and filings served locally),
publish, and print the table of latest bundles and how to serve them."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from intel_assets.cli.common import local_settings, print_summary, say, summary_rows
from intel_assets.cli.dagster_home import prepare_dagster_home
from intel_assets.cli.materialize import materialize, run_url
from intel_assets.cli.seed import seed
from intel_assets.settings import load_settings

DEMO_SESSIONS = 5  # the demo publishes the replay as of the same minute of this many sessions


def demo_instants(as_of: datetime, sessions: int = DEMO_SESSIONS) -> list[datetime]:
    """The replay clock's minute on each of the ``sessions`` weekdays ending at its New York
    date, oldest first: what `intel-assets demo` publishes, so history has point-in-time
    content (?asOf=) and the latest bundle is the last instant."""
    from datetime import timedelta

    from intel_assets.domain.market_data import NEW_YORK

    local = as_of.astimezone(NEW_YORK)
    instants, day = [], local
    while len(instants) < sessions:
        if day.weekday() < 5:
            instants.append(day)
        day -= timedelta(days=1)
    return [moment.astimezone(timezone.utc) for moment in reversed(instants)]


def demo() -> int:
    seeding = load_settings()  # a synthetic market ends at INTEL_AS_OF, else now
    seed(seeding)
    settings = local_settings()  # the clock the seed remembered, as materialize and ui use it
    from intel_assets.cli.local_stack import sample_providers

    sessions = DEMO_SESSIONS if settings.resolved_lean_dir is not None else min(
        DEMO_SESSIONS, settings.synthetic_days)
    instants = demo_instants(settings.as_of, sessions)
    results = []
    with sample_providers(settings) as settings:
        say(f"materializing {len(settings.symbols)} symbols in one run per instant, as of "
            f"{', '.join(i.isoformat() for i in instants)} (DAGSTER_HOME="
            f"{prepare_dagster_home(settings)})")
        for instant in instants:  # oldest first: the last instant is what Torghut reads now
            started = time.perf_counter()
            result = materialize(settings.model_copy(update={"as_of": instant}))
            results.append(result)
            say(f"  as of {instant.isoformat()}: run {result.run_id} "
                f"{'succeeded' if result.success else 'FAILED'} in "
                f"{time.perf_counter() - started:.1f} s  ({run_url(result.run_id)})")
    print_summary(summary_rows(settings))
    base = f"http://{settings.serve_host}:{settings.serve_port}/api/torghut/market-context"
    say(f"\nserve it at the replay clock: INTEL_AS_OF={settings.as_of.isoformat()} "
        f"intel-assets serve\n  latest:         {base}?symbol={settings.symbols[0]}"
        f"\n  point in time:  {base}?symbol={settings.symbols[0]}&asOf="
        f"{instants[len(instants) // 2].isoformat().replace('+00:00', 'Z')}"
        "\n(`intel-assets serve` alone uses the live clock: these replay bundles are then stale "
        "and flagged market_context_stale, as Torghut would see them)")
    return 0 if all(r.success for r in results) else 1
