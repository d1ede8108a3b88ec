"""Owns `make contract`: schemathesis fuzzes the live serving API from its own OpenAPI document.

It publishes a few bundles (built by domain.bundle from real-looking blocks, some stale, one
domain in error) and a research brief into a throwaway SQLite store, serves the real app on
127.0.0.1 at a replay clock, and runs schemathesis (PyPI) against ``/openapi.json`` with a
fixed seed and a time budget: every answer must conform to the document (status codes, content
types, headers, schemas), no input may cause a 5xx, and inputs the document forbids must be
refused. Exit code: schemathesis's.

    python -m intel_assets.devtools.contract_check [--max-examples 40] [--max-time 90]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from intel_assets.contracts.bundle import DOMAINS, Citation
from intel_assets.devtools.asgi import asgi_in_background
from intel_assets.domain.bundle import merge_bundle
from intel_assets.domain.clock import Clock
from intel_assets.domain.quality import error_block, observed_block
from intel_assets.domain.research import research_brief
from intel_assets.stores.bundle_store import BundleStore
from intel_assets.serving.app import ServingConfig, create_app

AS_OF = datetime(2013, 10, 11, 19, 59, tzinfo=timezone.utc)
BUDGETS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,negative_data_rejection")


def _bundles():
    """SPY (fresh), IBM (technicals 2 min old: stale), BAC (news in error), as of AS_OF."""
    out = []
    for symbol, ages in (("SPY", {}), ("IBM", {"technicals": 120}), ("BAC", {})):
        blocks = {}
        for domain in DOMAINS:
            age = ages.get(domain, BUDGETS[domain] // 10)
            when = AS_OF - timedelta(seconds=age)
            blocks[domain] = observed_block(
                domain=domain, now=AS_OF, as_of=when, budget_seconds=BUDGETS[domain],
                payload={"lastPrice": 100.0}, core_values=[1.0], sources=1, expected_sources=1,
                citations=[Citation(source=f"contract-{domain}", published_at=when)])
        if symbol == "BAC":
            blocks["news"] = error_block("news", BUDGETS["news"], "contract: provider down")
        out.append(merge_bundle(symbol, AS_OF, blocks, BUDGETS))
    return out


def seed_store(dsn: str) -> None:
    with BundleStore.from_dsn(dsn) as store:
        store.ensure_schema()
        bundles = _bundles()
        store.publish(bundles)
        spy = {d: b.to_wire() for d, b in zip(DOMAINS, bundles[0].domains.blocks())}
        store.stage("research", {"SPY": {"symbol": "SPY", "asOf": "2013-10-11T19:59:00Z",
                                         "brief": research_brief("SPY", spy)}})
        store.record_provider_attempt("clickhouse", configured=True, success=True, latency_ms=4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intel_assets.devtools.contract_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=40)
    parser.add_argument("--max-time", type=int, default=90, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args(argv)
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        print("schemathesis is not installed here: pip install -e '.[test]'", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        dsn = f"sqlite:///{Path(tmp) / 'bundles.sqlite3'}"
        seed_store(dsn)
        app = create_app(lambda: BundleStore.from_dsn(dsn), ServingConfig(clock=Clock(AS_OF)))
        with asgi_in_background(app) as url:
            command = [schemathesis, "run", f"{url}/openapi.json", "--checks", CHECKS,
                       "--max-examples", str(args.max_examples), "--seed", str(args.seed),
                       "--max-time", str(args.max_time), "--workers", "1",
                       "--phases", "examples,coverage,fuzzing",
                       "--suppress-health-check", "filter_too_much,too_slow"]
            print(" ".join(command), flush=True)
            # in the temporary folder: schemathesis keeps its example database in the cwd
            return subprocess.run(command, check=False, cwd=tmp).returncode


if __name__ == "__main__":
    raise SystemExit(main())
