"""Owns `intel-assets schema`: JSON Schema (draft 2020-12) for every shape that crosses a boundary,
written under schemas/ and checked in, so a TypeScript service or an agent can validate what we
send without reading Python.

Served shapes and Torghut-facing rows come from the pydantic models in contracts/ (and the LEAN
runner's request bodies in execution/lean_runner_wire.py); the runner's answers (its order and
backtest objects) come from its OpenAPI document, execution/lean_runner_openapi.yaml, which its
contract test holds every real exchange to. `--check` fails, naming the files, when a checked-in
schema differs from what the models generate now (the drift test runs the same comparison).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

DIALECT = "https://json-schema.org/draft/2020-12/schema"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "schemas"


def _model(model: type[BaseModel], mode: str = "serialization") -> Callable[[], dict[str, Any]]:
    return lambda: model.model_json_schema(mode=mode, by_alias=True)


def _runner(component: str) -> Callable[[], dict[str, Any]]:
    """A component of the runner's OpenAPI document as a standalone schema (refs into $defs)."""
    def build() -> dict[str, Any]:
        from intel_assets.execution.lean_runner import OPENAPI_PATH

        components = yaml.safe_load(OPENAPI_PATH.read_text())["components"]["schemas"]
        used: dict[str, Any] = {}

        def rewrite(node: Any) -> Any:
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                    name = ref.rsplit("/", 1)[-1]
                    if name not in used:
                        used[name] = None  # placeholder against cycles
                        used[name] = rewrite(components[name])
                    return {**{k: rewrite(v) for k, v in node.items() if k != "$ref"},
                            "$ref": f"#/$defs/{name}"}
                return {k: rewrite(v) for k, v in node.items()}
            if isinstance(node, list):
                return [rewrite(v) for v in node]
            return node

        root = rewrite(components[component])
        return {**root, "$defs": dict(sorted(used.items()))} if used else root

    return build


def schema_builders() -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """file stem -> (what it is, builder); imports happen here, not at module import."""
    from intel_assets.contracts.bundle import DomainBlock, MarketContextBundle
    from intel_assets.contracts.decisions import StrategyDecision
    from intel_assets.contracts.envelopes import (
        ContextEnvelope,
        ErrorEnvelope,
        HealthEnvelope,
        ResearchEnvelope,
        SkillEnvelope,
        SkillOutput,
        UniverseHealthEnvelope,
    )
    from intel_assets.contracts.gates import GateVerdict
    from intel_assets.contracts.parity import ParityReport
    from intel_assets.execution.lean_runner_wire import BacktestSubmitBody, SubmitOrderBody

    return {
        "market-context-bundle": ("the bundle Torghut parses (camelCase, no other keys)",
                                  _model(MarketContextBundle)),
        "domain-block": ("one domain block of the bundle", _model(DomainBlock)),
        "market-context-envelope": ("GET /api/torghut/market-context: {ok: true, context}",
                                    _model(ContextEnvelope)),
        "error-envelope": ("every refusal of the serving API: {ok: false, message, error}",
                           _model(ErrorEnvelope)),
        "market-context-health": ("GET /api/torghut/market-context/health (Jangar's shape)",
                                  _model(HealthEnvelope)),
        "universe-health": ("GET /api/torghut/market-context/health/universe",
                            _model(UniverseHealthEnvelope)),
        "research-brief": ("GET /api/torghut/market-context/research", _model(ResearchEnvelope)),
        "skill-output": ("one domain in the skill output contract (snake_case)",
                         _model(SkillOutput)),
        "skill-envelope": ("GET /api/torghut/market-context/{domain}: {ok: true, output}",
                           _model(SkillEnvelope)),
        "lean-runner-submit-order": ("POST /v1/orders/submit body (LEAN runner contract v2)",
                                     _model(SubmitOrderBody, "validation")),
        "lean-runner-order": ("an order the LEAN runner answers (Alpaca's shape + _lean_*)",
                              _runner("AuditedOrder")),
        "lean-runner-backtest-submit": ("POST /v1/backtests/submit body",
                                        _model(BacktestSubmitBody, "validation")),
        "lean-runner-backtest": ("GET /v1/backtests/{id}", _runner("Backtest")),
        "lean-runner-strategy-shadow": ("POST /v1/strategy-shadow/evaluate answer",
                                        _runner("StrategyShadowAnswer")),
        "strategy-decision": ("Torghut's trade_decisions.decision_json (StrategyDecision)",
                              _model(StrategyDecision, "validation")),
        "parity-report": ("a day's execution parity report (intel_parity_reports.report)",
                          _model(ParityReport)),
        "gate-verdict": ("the rollout gate's verdict (rollout_gate metadata)", _model(GateVerdict)),
    }


def generated_schemas() -> dict[str, str]:
    """file name -> its text, exactly as `intel-assets schema` writes it."""
    out = {}
    for stem, (title, build) in schema_builders().items():
        body = build()
        document = {"$schema": DIALECT, "$id": f"{stem}.schema.json", "title": title, **{
            k: v for k, v in body.items() if k != "title"}}
        out[f"{stem}.schema.json"] = json.dumps(document, indent=2, sort_keys=False) + "\n"
    return out


def drift(folder: Path) -> list[str]:
    """Schema files in ``folder`` that differ from (or are missing against) the models."""
    expected = generated_schemas()
    problems = [f"{name}: differs from the models" for name, text in expected.items()
                if (folder / name).is_file() and (folder / name).read_text() != text]
    problems += [f"{name}: missing" for name in expected if not (folder / name).is_file()]
    problems += [f"{p.name}: no model generates it" for p in sorted(folder.glob("*.schema.json"))
                 if p.name not in expected]
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="intel-assets schema", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="folder (default schemas/)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming the files that drifted")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift(args.out)
        for problem in problems:
            print(f"schema drift: {problem}; run `intel-assets schema`", file=sys.stderr)
        return 1 if problems else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.schema.json"):
        old.unlink()
    for name, text in generated_schemas().items():
        (args.out / name).write_text(text)
    print(f"wrote {len(generated_schemas())} schemas to {args.out}")
    return 0
