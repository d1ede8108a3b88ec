"""Owns the risk-path regression check: a window's decisions replayed through the guardrail with
the market context off and on, proving the deterministic risk decision is never changed by the
context or the LLM (the LLM may only veto or stay shadow, never approve what risk rejected).

For every decision the check takes the risk answer Torghut recorded (``recorded_risk_decision``)
and, under each settings variant (``SETTINGS_VARIANTS``: shadow_only; fail_closed with
llm_fail_mode veto and pass_through; fail_closed/veto with TRADING_MARKET_CONTEXT_REQUIRED),
evaluates two layers:

* ``path``: the real path, ``guard_trade`` (risk check, rollback flag, fetch, policy), with the
  context **off** (``RolloutFlags(market_context_enabled=False)``, a client configured all the
  same) and **on** with each context source of ``CONTEXTS`` (a fresh high-quality bundle, a
  stale low-quality one, a bundle with a domain in ``error``, a failed fetch, no client). Every
  source counts its fetches.
* ``decide``: the policy alone, ``policy.decide(<that context>, risk decision)``, as if the context
  had been fetched whatever the risk answer: the policy itself must not let a context override a
  risk reject, even under a path that fetched too early.

Each outcome goes through ``GuardrailOutcome.final_action`` under every LLM verdict (none,
approve, veto, adjust). The rules (contracts/risk_path.RULES names them) are:

* ``deterministic_identical`` (every outcome): ``rejected_by == 'deterministic'`` exactly when the
  recorded risk decision rejected, with the context off and on alike.
* ``risk_rejected_final``: a risk-rejected decision's final action is ``reject`` in every
  combination under every verdict (``approve`` included).
* ``risk_rejected_not_fetched``: a risk-rejected decision's context is never fetched (path layer).
* ``off_not_fetched``: with the context off nothing is fetched (path layer; the rollback flag
  really stops the calls).
* ``llm_only_vetoes`` (every outcome): the final action is ``reject`` when the guardrail's action
  is ``reject`` or the review is enforced and the verdict is ``veto``, else ``submit``: the LLM
  can veto, or stay shadow (a skipped review ignores its verdict); it never submits a reject.
* ``context_cannot_approve`` (risk-approved decisions, same layer and settings): when context off
  rejects, context on rejects too. A reject of context off that is itself a guardrail block
  (``rejected_by 'guardrail'``: TRADING_MARKET_CONTEXT_REQUIRED with no context) is the context's
  own rule, not risk's, and is not carried over.
* ``context_reject_only_fail_closed_veto`` (risk-approved decisions): context on may reject what
  context off submits only under ``fail_closed`` with ``llm_fail_mode`` ``veto``, and only as a
  guardrail block (``rejected_by 'guardrail'`` with a reason). In ``shadow_only`` and in
  ``fail_closed``/``pass_through`` the guardrail's action with context on equals off's; only
  whether the LLM review runs may differ.

The actions compared between context off and on are the guardrail's (``outcome.action``), not the
final ones under one verdict: the review is skipped when a context blocks it (that is what
shadow means), so the same verdict does not apply in both.

The real policy counts its blocks in intel_assets.torghut.metrics as it always does: running the
check in a process moves those counters. Imports: contracts/, torghut/, domain/decisions.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Protocol

from intel_assets.contracts.decisions import REJECTED_STATUS, RISK_REASONS_FIELD
from intel_assets.contracts.risk_path import RULES, RiskPathResult, RiskPathViolation
from intel_assets.contracts.decisions import DecisionRow, parse_event_ts, schema_problem
from intel_assets.torghut.client import MarketContextResult
from intel_assets.contracts.guardrail import GUARDRAIL_FIELD
from intel_assets.torghut.flags import RolloutFlags
from intel_assets.torghut.guardrail import (
    ContextSource,
    DeterministicDecision,
    GuardrailOutcome,
    GuardrailPolicy,
    LLMVerdict,
    guard_trade,
)
from intel_assets.torghut.schema import TorghutMarketContextBundle
from intel_assets.torghut.settings import MarketContextSettings

#: decision_json's stage of a Torghut refusal (the name domain/rollout_metrics.py reads too) and
#: the stages that are the deterministic risk path's: schema, validation, risk.
REJECTION_STAGE_FIELD = "rejection_stage"
RISK_STAGES = ("schema", "validation", "risk")
LLM_VERDICTS: tuple[LLMVerdict | None, ...] = (None, "approve", "veto", "adjust")
LAYERS = ("path", "decide")
OFF = "off"
CONTEXT_OFF = RolloutFlags(market_context_enabled=False)
CONTEXT_ON = RolloutFlags(market_context_enabled=True)
SETTINGS_VARIANTS: dict[str, MarketContextSettings] = {
    "shadow_only": MarketContextSettings(),
    "fail_closed_veto": MarketContextSettings(fail_mode="fail_closed", llm_fail_mode="veto"),
    "fail_closed_pass_through": MarketContextSettings(fail_mode="fail_closed",
                                                      llm_fail_mode="pass_through"),
    "fail_closed_veto_required": MarketContextSettings(fail_mode="fail_closed",
                                                       llm_fail_mode="veto", required=True),
}
#: Where the probe bundles say they come from (they are synthetic, built by this check).
PROBE_SOURCE = "risk-path-probe"
_DOMAIN_BUDGETS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}

#: A context source of the check: (symbol, as_of) -> what one fetch answers.
ContextProbe = Callable[[str, datetime | None], MarketContextResult]
#: Builds the policy under test for one settings variant (GuardrailPolicy itself by default).
PolicyFactory = Callable[[MarketContextSettings], GuardrailPolicy]


class TradePath(Protocol):
    """guard_trade's signature: the whole consumer path for one trade."""

    def __call__(self, symbol: str, deterministic_decision: DeterministicDecision, *,
                 client: ContextSource | None, policy: GuardrailPolicy,
                 flags: RolloutFlags | None = None,
                 as_of: datetime | None = None) -> GuardrailOutcome: ...


# ---- the recorded risk decision -----------------------------------------------------------

def _guardrail_record(payload: Any) -> dict[str, Any] | None:
    record = payload.get(GUARDRAIL_FIELD) if isinstance(payload, dict) else None
    return record if isinstance(record, dict) else None


def recorded_risk_decision(row: DecisionRow) -> DeterministicDecision:
    """The deterministic risk answer Torghut recorded for a historical decision.

    Rejected, with these reasons, when any of (checked in this order, the first gives the
    reason; Torghut's ``decision_json.risk_reasons`` follow it):

    1. its guardrail record (``decision_json.market_context_guardrail``) says
       ``rejected_by == 'deterministic'`` (reason ``guardrail_record_deterministic``);
    2. ``status == 'rejected'`` and ``decision_json.rejection_stage`` is ``schema``,
       ``validation`` or ``risk`` (reason ``torghut_<stage>``);
    3. ``status == 'rejected'`` with no ``rejection_stage``, a non-empty ``risk_reasons`` list and
       no guardrail record saying ``rejected_by == 'guardrail'`` (reason ``torghut_rejected``):
       how Torghut 255d330fe records a risk rejection (``mark_rejected``), before guardrail
       records existed;
    4. ``decision_json`` breaks the intent schema (domain/decisions.schema_problem, the rules the
       rollout gate counts as schema/validation rejections; reason its code).

    Else approved: the deterministic path let it through, whatever happened later (a guardrail
    or LLM rejection, a broker's answer).
    """
    payload = row.decision_json if isinstance(row.decision_json, dict) else {}
    record = _guardrail_record(payload) or {}
    raw = payload.get(RISK_REASONS_FIELD)
    risk_reasons = tuple(str(r) for r in raw) if isinstance(raw, list) else ()
    stage = payload.get(REJECTION_STAGE_FIELD)
    refused = row.status == REJECTED_STATUS
    if record.get("rejected_by") == "deterministic":
        return DeterministicDecision(False, ("guardrail_record_deterministic", *risk_reasons))
    if refused and stage in RISK_STAGES:
        return DeterministicDecision(False, (f"torghut_{stage}", *risk_reasons))
    by_guardrail = record.get("rejected_by") == "guardrail"
    if refused and stage in (None, "") and risk_reasons and not by_guardrail:
        return DeterministicDecision(False, ("torghut_rejected", *risk_reasons))
    problem = schema_problem(row)
    if problem is not None:
        return DeterministicDecision(False, (problem[0],))
    return DeterministicDecision(True)


def decision_as_of(row: DecisionRow) -> datetime:
    """The decision's event time (decision_json.event_ts; the row's created_at when unreadable)."""
    payload = row.decision_json if isinstance(row.decision_json, dict) else {}
    return parse_event_ts(payload.get("event_ts")) or row.created_at


# ---- the context sources ------------------------------------------------------------------

def _block(domain: str, as_of: datetime, state: str, age: int, quality: float) -> dict[str, Any]:
    budget = _DOMAIN_BUDGETS[domain]
    if state == "error":
        return {"domain": domain, "state": "error", "maxFreshnessSeconds": budget,
                "sourceCount": 0, "qualityScore": 0.0, "riskFlags": [f"{domain}_error"]}
    moment = (as_of - timedelta(seconds=age)).isoformat()
    return {"domain": domain, "state": state, "asOf": moment, "freshnessSeconds": age,
            "maxFreshnessSeconds": budget, "sourceCount": 1, "qualityScore": quality,
            "payload": {"probe": state}, "citations": [{"source": PROBE_SOURCE,
                                                       "publishedAt": moment}],
            "riskFlags": [] if state == "ok" else [f"{domain}_{state}"]}


@lru_cache(maxsize=4096)
def probe_bundle(symbol: str, as_of: datetime, kind: str) -> TorghutMarketContextBundle:
    """A synthetic bundle, parsed by Torghut's strict schema, for ``symbol`` as of ``as_of``:
    ``fresh`` (every domain ok, 5 s old, quality 0.9), ``stale_low_quality`` (every domain stale,
    1 h old, quality 0.2) or ``domain_error`` (fresh, news in error)."""
    if kind == "fresh":
        blocks = {d: _block(d, as_of, "ok", 5, 0.9) for d in _DOMAIN_BUDGETS}
        age, quality = 5, 0.9
    elif kind == "stale_low_quality":
        blocks = {d: _block(d, as_of, "stale", 3600, 0.2) for d in _DOMAIN_BUDGETS}
        age, quality = 3600, 0.2
    elif kind == "domain_error":
        blocks = {d: _block(d, as_of, "error" if d == "news" else "ok", 5, 0.9)
                  for d in _DOMAIN_BUDGETS}
        age, quality = 5, 0.7
    else:
        raise ValueError(f"unknown probe bundle kind {kind!r}")
    flags = sorted({flag for block in blocks.values() for flag in block["riskFlags"]})
    return TorghutMarketContextBundle.model_validate({
        "contextVersion": "torghut.market-context.v1", "symbol": symbol,
        "asOfUtc": as_of.isoformat(), "freshnessSeconds": age, "qualityScore": quality,
        "sourceCount": sum(block["sourceCount"] for block in blocks.values()),
        "riskFlags": flags, "domains": blocks})


def _moment(as_of: datetime | None) -> datetime:
    return as_of if as_of is not None else datetime.now(timezone.utc)


def fresh_context(symbol: str, as_of: datetime | None = None) -> MarketContextResult:
    """A fetch answering a fresh, high-quality bundle."""
    return MarketContextResult(symbol, "ok", probe_bundle(symbol, _moment(as_of), "fresh"))


def stale_context(symbol: str, as_of: datetime | None = None) -> MarketContextResult:
    """A fetch answering a stale, low-quality bundle."""
    return MarketContextResult(symbol, "ok",
                               probe_bundle(symbol, _moment(as_of), "stale_low_quality"))


def domain_error_context(symbol: str, as_of: datetime | None = None) -> MarketContextResult:
    """A fetch answering a bundle with a domain in ``error``."""
    return MarketContextResult(symbol, "ok", probe_bundle(symbol, _moment(as_of), "domain_error"))


def fetch_error_context(symbol: str, as_of: datetime | None = None) -> MarketContextResult:
    """A failed fetch (a timeout)."""
    return MarketContextResult(symbol, "unavailable", reason="timeout",
                               detail="risk-path probe: the fetch timed out", attempts=1)


#: The context sources with the context on; None = no client (TRADING_MARKET_CONTEXT_URL unset).
CONTEXTS: dict[str, ContextProbe | None] = {
    "fresh": fresh_context, "stale_low_quality": stale_context,
    "domain_error": domain_error_context, "fetch_error": fetch_error_context, "no_client": None,
}


@dataclass
class RecordingSource:
    """A context source (guard_trade's client) that answers through ``probe`` and counts fetches."""

    probe: ContextProbe
    fetches: list[tuple[str, datetime | None]] = field(default_factory=list)

    def fetch(self, symbol: str, as_of: datetime | None = None) -> MarketContextResult:
        self.fetches.append((symbol, as_of))
        return self.probe(symbol, as_of)


# ---- the check ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Evaluated:
    combination: str
    outcome: GuardrailOutcome | None
    fetches: int | None  # None: the layer does not fetch (decide)
    error: str | None = None


def _run(combination: str, call: Callable[[], GuardrailOutcome],
         source: RecordingSource | None, fetches: bool) -> _Evaluated:
    try:
        outcome = call()
    except Exception as exc:  # noqa: BLE001  a regression may raise: a violation, not a crash
        return _Evaluated(combination, None, None, f"{type(exc).__name__}: {exc}")
    count = (len(source.fetches) if source is not None else 0) if fetches else None
    return _Evaluated(combination, outcome, count)


def _describe(outcome: GuardrailOutcome) -> str:
    return (f"action {outcome.action}, rejected_by {outcome.rejected_by}, llm_review "
            f"{outcome.llm_review}, reason {outcome.reason}")


@dataclass
class _Findings:
    limit: int
    violations: list[RiskPathViolation] = field(default_factory=list)
    by_rule: Counter = field(default_factory=Counter)

    def add(self, decision_id: str, combination: str, expected: str, got: str, rule: str) -> None:
        self.by_rule[rule] += 1
        if len(self.violations) < self.limit:
            self.violations.append(RiskPathViolation(decision_id=decision_id,
                                                     combination=combination,
                                                     expected=expected, got=got, rule=rule))


def _check_outcome(found: _Findings, decision_id: str, rejected: bool, ev: _Evaluated,
                   is_off: bool) -> None:
    """The rules on one outcome alone (deterministic, fetches, every verdict)."""
    outcome = ev.outcome
    assert outcome is not None
    if (outcome.rejected_by == "deterministic") != rejected:
        found.add(decision_id, ev.combination,
                  "rejected_by deterministic" if rejected else "rejected_by not deterministic",
                  _describe(outcome), "deterministic_identical")
    if ev.fetches:
        if rejected:
            found.add(decision_id, ev.combination, "0 fetches", f"{ev.fetches} fetches",
                      "risk_rejected_not_fetched")
        if is_off:
            found.add(decision_id, ev.combination, "0 fetches", f"{ev.fetches} fetches",
                      "off_not_fetched")
    for verdict in LLM_VERDICTS:
        where = f"{ev.combination}/llm={verdict or 'none'}"
        try:
            final = outcome.final_action(verdict)
        except Exception as exc:  # noqa: BLE001  a planted regression may raise: recorded
            found.add(decision_id, where, "a final action", f"{type(exc).__name__}: {exc}",
                      "evaluated")
            continue
        if rejected and final != "reject":
            found.add(decision_id, where, "reject (risk rejected)",
                      f"{final} ({_describe(outcome)})", "risk_rejected_final")
        vetoes = outcome.llm_review == "enforced" and verdict == "veto"
        expected = "reject" if outcome.action == "reject" or vetoes else "submit"
        if final != expected:
            found.add(decision_id, where, expected, f"{final} ({_describe(outcome)})",
                      "llm_only_vetoes")


def _check_on_vs_off(found: _Findings, decision_id: str, settings: MarketContextSettings,
                     off: GuardrailOutcome, ev: _Evaluated) -> None:
    """The rules comparing a risk-approved decision's outcome with context on to off's."""
    on = ev.outcome
    assert on is not None
    if off.action == "reject" and off.rejected_by != "guardrail" and on.action != "reject":
        found.add(decision_id, ev.combination, f"reject, as with context off ({_describe(off)})",
                  _describe(on), "context_cannot_approve")
    if off.action == "submit" and on.action != "submit":
        allowed = (settings.fail_mode == "fail_closed" and settings.llm_fail_mode == "veto"
                   and on.action == "reject" and on.rejected_by == "guardrail"
                   and bool(on.reason))
        if not allowed:
            found.add(decision_id, ev.combination,
                      "submit, as with context off (a context reject only under fail_closed/veto "
                      "as a guardrail block with a reason)", _describe(on),
                      "context_reject_only_fail_closed_veto")


def _summary(n: int, rejected: int, combos: int, found: _Findings, settings: Iterable[str],
             contexts: Iterable[str]) -> str:
    scope = (f"settings {', '.join(settings)}; context off and {', '.join(contexts)}; LLM "
             f"verdicts none/approve/veto/adjust; layers path (guard_trade) and decide")
    if n == 0:
        return ("Risk-path check: no decisions in the window, so no evidence that the "
                "deterministic risk decision is unchanged by the market context: not passed.")
    head = (f"Risk-path check over {n} decisions ({rejected} risk-rejected, {n - rejected} "
            f"risk-approved), {combos} combinations ({scope}): ")
    total = sum(found.by_rule.values())
    if not total:
        return head + ("passed. The deterministic risk decision was identical with the context "
                       "off and on for every decision; no risk-rejected decision was submitted "
                       "under any LLM verdict or had its context fetched; nothing was fetched "
                       "with the context off; the context and the LLM only vetoed or stayed "
                       "shadow.")
    rules = ", ".join(f"{rule} {count}" for rule, count in sorted(found.by_rule.items()))
    first = found.violations[0]
    return head + (f"FAILED with {total} violations ({rules}). First: decision "
                   f"{first.decision_id} in {first.combination}: expected {first.expected}, "
                   f"got {first.got} (rule {first.rule}: {RULES.get(first.rule, '')}).")


def risk_path_check(rows: Iterable[DecisionRow], *,
                    policy_factory: PolicyFactory = GuardrailPolicy,
                    settings_variants: Mapping[str, MarketContextSettings] | None = None,
                    contexts: Mapping[str, ContextProbe | None] | None = None,
                    trade_path: TradePath = guard_trade,
                    max_violations: int = 100) -> RiskPathResult:
    """Replay ``rows`` (the baseline window's trade_decisions) through the guardrail with the
    context off and on (module docstring: layers, combinations, rules).

    ``policy_factory`` builds the policy of each settings variant (``GuardrailPolicy`` by
    default; a test plants a regression with a subclass); ``trade_path`` is the path under test
    (``guard_trade``); ``settings_variants`` and ``contexts`` default to ``SETTINGS_VARIANTS`` and
    ``CONTEXTS``. ``violations`` lists the first ``max_violations``; ``violation_count`` and
    ``violations_by_rule`` count them all. Passed: at least one decision and no violation.
    """
    variants = dict(SETTINGS_VARIANTS if settings_variants is None else settings_variants)
    sources = dict(CONTEXTS if contexts is None else contexts)
    if not variants:
        raise ValueError("risk_path_check needs at least one settings variant")
    if OFF in sources:
        raise ValueError(f"{OFF!r} names the context-off run; give the context source another name")
    found = _Findings(limit=max(0, max_violations))
    n = rejected_n = combos = 0
    for row in rows:
        n += 1
        decision_id = str(row.id)
        decision = recorded_risk_decision(row)
        rejected = not decision.approved
        rejected_n += rejected
        symbol, as_of = row.symbol, decision_as_of(row)
        for s_name, settings in variants.items():
            policy = policy_factory(settings)
            for layer in LAYERS:
                evaluated: list[_Evaluated] = []
                for c_name in (OFF, *sources):
                    probe = fresh_context if c_name == OFF else sources[c_name]
                    combination = f"{layer}/{s_name}/{c_name}"
                    if layer == "path":
                        source = RecordingSource(probe) if probe is not None else None
                        flags = CONTEXT_OFF if c_name == OFF else CONTEXT_ON
                        call = (lambda source=source, flags=flags: trade_path(  # noqa: E731
                            symbol, decision, client=source, policy=policy, flags=flags,
                            as_of=as_of))
                        evaluated.append(_run(combination, call, source, fetches=True))
                    else:
                        result = (MarketContextResult.disabled(symbol) if c_name == OFF
                                  else probe(symbol, as_of) if probe is not None else None)
                        evaluated.append(_run(combination, lambda result=result: policy.decide(
                            result, decision), None, fetches=False))
                    combos += len(LLM_VERDICTS)
                for ev in evaluated:
                    if ev.outcome is None:
                        found.add(decision_id, ev.combination, "an outcome", str(ev.error),
                                  "evaluated")
                        continue
                    _check_outcome(found, decision_id, rejected, ev,
                                   is_off=ev is evaluated[0])
                off = evaluated[0].outcome
                if not rejected and off is not None:
                    for ev in evaluated[1:]:
                        if ev.outcome is not None:
                            _check_on_vs_off(found, decision_id, settings, off, ev)
    total = sum(found.by_rule.values())
    return RiskPathResult(
        decisions_checked=n, risk_rejected=rejected_n, risk_approved=n - rejected_n,
        combinations_evaluated=combos, violation_count=total,
        violations_by_rule=dict(sorted(found.by_rule.items())), violations=found.violations,
        passed=n > 0 and total == 0,
        summary=_summary(n, rejected_n, combos, found, variants, sources))


__all__ = ["CONTEXTS", "CONTEXT_OFF", "CONTEXT_ON", "ContextProbe", "LAYERS", "LLM_VERDICTS",
           "OFF", "PROBE_SOURCE", "PolicyFactory", "RISK_STAGES", "RecordingSource",
           "SETTINGS_VARIANTS", "TradePath", "decision_as_of", "domain_error_context",
           "fetch_error_context", "fresh_context", "probe_bundle", "recorded_risk_decision",
           "risk_path_check", "stale_context"]
