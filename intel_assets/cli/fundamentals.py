"""Owns `intel-assets fundamentals SYMBOL --as-of DATE`: point-in-time fundamentals from real SEC
documents on disk (by default ../shared/data/edgar, files saved from data.sec.gov), with real
SEC citations, and no network: the real path of the fundamentals domain, visible offline.

The folder holds SEC's own JSON documents under the names the local EDGAR server maps
(`company_tickers.json`, `companyfacts_CIK##########[_NAME].json`,
`submissions_CIK##########[_NAME].json`); they are served on 127.0.0.1 to the same EdgarClient
the asset uses and cited as SEC filings (sec.gov filing index URLs), because they are SEC's.
Our sample documents are never cited as SEC, whatever folder they are in.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, time
from pathlib import Path

from intel_assets.settings import load_settings
from intel_assets.assets.fundamentals import fundamentals_for_symbol
from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol
from intel_assets.devtools.edgar_server import start_edgar_server
from intel_assets.domain.fundamentals import SEC_DOWNLOADS
from intel_assets.domain.market_data import NEW_YORK
from intel_assets.providers.edgar import EdgarClient

_SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "edgar"
_LOCAL_UA = "intel-assets fundamentals-command local-files@example.com"
_SHOWN = ("ttmRevenue", "revenueGrowthYoY", "ttmNetIncome", "netMargin", "grossMargin",
          "ttmEpsDiluted", "equity", "cash", "debt", "periodEnd", "periodicity")


def default_edgar_dir() -> Path:
    """INTEL_EDGAR_DATA_DIR (settings), else ../shared/data/edgar beside the repository."""
    configured = load_settings().edgar_data_dir
    return configured.expanduser() if configured else _SHARED


def _as_of(text: str) -> datetime:
    """A date (end of that New York day) or an ISO-8601 instant with an offset."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            return datetime.combine(day, time(23, 59), tzinfo=NEW_YORK)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"error: --as-of {text!r} is not a date (2025-07-01) or an ISO-8601 "
                         "instant with an offset") from None
    if moment.tzinfo is None:
        raise SystemExit(f"error: --as-of {text!r} has no UTC offset; write e.g. "
                         "2025-07-01T16:00:00-04:00 or a plain date")
    return moment


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="intel-assets fundamentals", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("symbol", help="ticker, e.g. AAPL")
    parser.add_argument("--as-of", required=True, help="point in time: 2025-07-01 or ISO-8601")
    parser.add_argument("--edgar-dir", type=Path, default=None,
                        help="folder of real SEC JSON documents (default ../shared/data/edgar)")
    parser.add_argument("--json", action="store_true", help="print the whole wire block")
    args = parser.parse_args(argv)
    try:
        symbol = normalize_symbol(args.symbol)
    except InvalidSymbolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = (args.edgar_dir or default_edgar_dir()).expanduser()
    if not (folder / "company_tickers.json").is_file():
        print(f"error: {folder} has no company_tickers.json; point --edgar-dir (or "
              "INTEL_EDGAR_DATA_DIR) at a folder of SEC documents", file=sys.stderr)
        return 2
    as_of = _as_of(args.as_of)
    tickers = json.loads((folder / "company_tickers.json").read_text())
    cik = next((int(row["cik_str"]) for row in tickers.values()
                if str(row.get("ticker", "")).upper() == symbol), None)
    if cik is None:
        print(f"error: {symbol} is not in {folder / 'company_tickers.json'}", file=sys.stderr)
        return 2
    if not list(folder.glob(f"companyfacts_CIK{cik:010d}*.json")):
        have = sorted(p.name for p in folder.glob("companyfacts_CIK*.json"))
        print(f"error: {folder} has no companyfacts document for {symbol} (CIK {cik:010d}); it "
              f"has {', '.join(have) or 'none'}", file=sys.stderr)
        return 2
    with start_edgar_server(folder) as server, EdgarClient(
            _LOCAL_UA, base_url=server.url, tickers_url=server.tickers_url) as client:
        block = fundamentals_for_symbol(client, symbol, as_of, 86_400, provenance=SEC_DOWNLOADS)
    wire = block.to_wire()
    if args.json:
        print(json.dumps(wire, indent=2))
        return 0 if block.state.value in ("ok", "stale") else 1
    payload = wire["payload"]
    print(f"{symbol} fundamentals as of {as_of.isoformat()} from {folder} "
          f"({payload.get('provenance') or payload.get('reason')})")
    print(f"state {wire['state']}, quality {wire['qualityScore']}, flags "
          f"{', '.join(wire['riskFlags']) or '-'}")
    for key in _SHOWN:
        if payload.get(key) is not None:
            print(f"  {key:<17} {payload[key]}")
    for citation in wire["citations"]:
        print(f"  cites {citation['source']:<16} filed {citation['publishedAt'][:10]}  "
              f"{citation['url']}")
    return 0 if block.state.value in ("ok", "stale") else 1
