"""What holds under crashes and load (issue 12, kept as tests): a publisher killed with SIGKILL
at random moments never leaves a torn or partial publish, and readers during publishes never
get a torn bundle or a 500. After every kill, every latest row is a valid
bundle equal to a history row, and each publish batch is in history entirely or not at all."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from helpers import make_bundle
from torghut_schemas import Bundle255d

from intel_assets.contracts.bundle import MarketContextBundle
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.clock import Clock
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import ServingConfig, create_app

ROOT = Path(__file__).resolve().parents[1]
BATCH = 50  # symbols per publish (one transaction)
PUBLISHER = textwrap.dedent("""
    import sys
    from datetime import datetime, timedelta, timezone
    sys.path[:0] = [{root!r}, {tests!r}]
    from helpers import make_bundle
    from intel_assets.resources.bundle_store import BundleStore
    store = BundleStore.from_dsn({dsn!r})
    store.ensure_schema()
    t0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
    symbols = [f"S{{i:03d}}" for i in range({batch})]
    print("ready", flush=True)
    n = 0
    while True:  # one batch = one transaction, all symbols built as of the same instant
        at = t0 + timedelta(hours={process}, seconds=n)  # distinct instants per process
        store.publish([make_bundle(s, at) for s in symbols], run_id=f"batch-{{n}}")
        n += 1
""")


def _kill_publisher_repeatedly(dsn: str, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    for process in range(kills):
        code = PUBLISHER.format(root=str(ROOT), tests=str(ROOT / "tests"), dsn=dsn, batch=BATCH,
                                process=process)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.2, 0.9))  # somewhere inside a publish, most of the time
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


def _assert_consistent(dsn: str) -> int:
    with BundleStore.from_dsn(dsn) as store:
        latest = store.latest_all()
        history = {s: store.history(s, limit=100_000) for s in (b.symbol for b in latest)}
    assert len(latest) == BATCH, "each symbol has a latest bundle"
    bodies = {h.etag: h.body for rows in history.values() for h in rows}
    for row in latest:
        MarketContextBundle.model_validate_json(row.body)  # never torn
        assert bodies.get(row.etag) == row.body, f"{row.symbol}'s latest is not in its history"
    per_instant = Counter(h.as_of_utc for rows in history.values() for h in rows)
    assert set(per_instant.values()) == {BATCH}, "a batch is published whole or not at all"
    newest = max(per_instant)
    assert {row.as_of_utc for row in latest} == {newest}
    return len(per_instant)


def test_sigkill_during_publish_never_tears_a_bundle_sqlite(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'bundles.sqlite3'}"
    _kill_publisher_repeatedly(dsn, kills=6, seed=12)
    assert _assert_consistent(dsn) >= 6


def test_sigkill_during_publish_never_tears_a_bundle_postgres(postgres_schema_dsn: str) -> None:
    _kill_publisher_repeatedly(postgres_schema_dsn, kills=4, seed=7)
    assert _assert_consistent(postgres_schema_dsn) >= 4


def test_readers_during_publishes_never_see_a_torn_bundle_or_a_500(store_dsn: str) -> None:
    """Issue 12 'what holds': the serving API under concurrent reads while batches publish.
    Every answer is 200 and parses in Torghut's strict schema (tests/torghut_schemas.py), a
    symbol's asOfUtc never goes back for a reader, and afterwards latest equals the newest
    history row of every symbol."""
    t0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)
    symbols = [f"S{i:03d}" for i in range(20)]
    with BundleStore.from_dsn(store_dsn) as store:
        store.ensure_schema()
        store.publish([make_bundle(s, t0) for s in symbols])
    done = threading.Event()
    batches: list[int] = []

    def publisher() -> None:
        with BundleStore.from_dsn(store_dsn) as store:
            n = 1
            while not done.is_set() and n <= 400:
                store.publish([make_bundle(s, t0 + timedelta(seconds=n)) for s in symbols])
                batches.append(n)
                n += 1

    def reader(seed: int, http: httpx.Client) -> list[int]:
        rng, seen, statuses = random.Random(seed), {}, []
        for _ in range(60):
            symbol = rng.choice(symbols)
            resp = http.get("/api/torghut/market-context", params={"symbol": symbol})
            statuses.append(resp.status_code)
            if resp.status_code != 200:
                continue
            body = resp.json()
            assert body["ok"] is True
            bundle = Bundle255d.model_validate(body["context"])  # never torn
            assert bundle.as_of_utc >= seen.get(symbol, bundle.as_of_utc), "latest moved back"
            seen[symbol] = bundle.as_of_utc
        return statuses

    config = ServingConfig(clock=Clock(t0 + timedelta(hours=1)))
    with asgi_in_background(create_app(lambda: BundleStore.from_dsn(store_dsn), config)) as url, \
            httpx.Client(base_url=url, timeout=20) as http:
        writer = threading.Thread(target=publisher)
        writer.start()
        try:
            with ThreadPoolExecutor(max_workers=6) as pool:
                statuses = [s for part in pool.map(reader, range(6), [http] * 6) for s in part]
        finally:
            done.set()
            writer.join(timeout=60)
    assert Counter(statuses) == Counter({200: 360}) and batches, "every read answered 200"
    with BundleStore.from_dsn(store_dsn) as store:
        for row in store.latest_all():
            newest = store.history(row.symbol, limit=1)[0]
            assert (newest.etag, newest.body) == (row.etag, row.body)
