"""Owns `intel-assets bundle SYMBOL`: the latest published bundle of SYMBOL, printed as the
serving API would answer it now."""

from __future__ import annotations

import json
import sys

from intel_assets.cli.common import open_store
from intel_assets.settings import Settings


def bundle_cmd(settings: Settings, symbol: str) -> int:
    from intel_assets.contracts.symbols import InvalidSymbolError, normalize_symbol

    try:
        symbol = normalize_symbol(symbol)
    except InvalidSymbolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = open_store(settings)
    try:
        stored = store.latest(symbol)
        retired = store.retired_at(symbol) if stored is None else None
    finally:
        store.close()
    if retired is not None:  # serving answers 404 "retired" for it too
        print(f"error: {symbol} was retired from the universe at {retired.isoformat()}: its "
              f"bundles left serving (history kept); `intel-assets universe add {symbol}` "
              "brings it back", file=sys.stderr)
        return 1
    if stored is None:
        print(f"error: no bundle published for {symbol}; run `intel-assets demo` or materialize it",
              file=sys.stderr)
        return 1
    from intel_assets.contracts.bundle import MarketContextBundle
    from intel_assets.domain.bundle import bundle_seen_at
    from intel_assets.serving.app import serving_config

    config = serving_config(settings)  # what the serving API would answer now
    bundle = bundle_seen_at(MarketContextBundle.model_validate_json(stored.body),
                            config.clock.now(), config.policy, config.market_clock)
    print(json.dumps(bundle.to_wire(), indent=2))
    return 0
