"""schemas/ is generated from the contract models and checked in: it must not drift, every file
is a valid draft 2020-12 schema, and real answers and rows validate against it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from helpers import make_bundle
from intel_assets.contracts.bundle import DOMAINS
from intel_assets.contracts.envelopes import ContextEnvelope, ErrorEnvelope, SkillOutput
from intel_assets.cli.schema import DEFAULT_DIR, drift, generated_schemas

T0 = datetime(2024, 3, 1, 15, 30, tzinfo=timezone.utc)


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((DEFAULT_DIR / f"{name}.schema.json").read_text()))


def test_checked_in_schemas_match_the_models() -> None:
    assert drift(DEFAULT_DIR) == [], "run `intel-assets schema` and commit schemas/"
    assert len(generated_schemas()) == len(list(DEFAULT_DIR.glob("*.schema.json"))) >= 16


@pytest.mark.parametrize("path", sorted(DEFAULT_DIR.glob("*.schema.json")), ids=lambda p: p.name)
def test_every_file_is_a_draft_2020_12_schema(path: Path) -> None:
    document = json.loads(path.read_text())
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)


def test_real_shapes_validate_and_wrong_ones_do_not() -> None:
    bundle = make_bundle("SPY", T0, {d: "ok" for d in DOMAINS})
    wire = bundle.to_wire()
    assert not list(schema("market-context-bundle").iter_errors(wire))
    assert not list(schema("market-context-envelope").iter_errors(
        ContextEnvelope(context=bundle).to_wire()))
    assert list(schema("market-context-bundle").iter_errors({**wire, "research": {}}))
    skill = SkillOutput.of("SPY", bundle.domains.news).to_wire()
    assert not list(schema("skill-output").iter_errors(skill))
    assert list(schema("skill-output").iter_errors({**skill, "asOfUtc": skill["as_of_utc"]}))
    error = ErrorEnvelope(message="symbol is required", error="invalid_symbol").to_wire()
    assert not list(schema("error-envelope").iter_errors(error))
    decision = {"strategy_id": "9f0c1e2a-0000-4000-8000-000000000001", "symbol": "SPY",
                "event_ts": "2013-10-08T14:31:00Z", "timeframe": "1Min", "action": "buy",
                "qty": "10", "order_type": "limit", "time_in_force": "day",
                "limit_price": "168.5", "stop_price": None, "rationale": None, "params": {}}
    assert not list(schema("strategy-decision").iter_errors(decision))
