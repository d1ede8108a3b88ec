"""Owns the rollout-gate shapes: RolloutPolicy, the evidence it reads, CriterionResult, GateVerdict.

Rates and shares are percentages (0..100); drift and slippage are basis points of the arrival
mid (as in contracts/parity.py); canary availability and error rate are fractions (0..1), as
Torghut's canary reports them. Every window is the ``n`` trading days (Monday-Friday, New York)
ending at the gate's ``as_of_day``, inclusive.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from intel_assets.contracts.rehearsal import RehearsalRecord
from intel_assets.contracts.risk_path import RiskPathResult

#: Phase numbers and what reaching each one allows.
PHASES: dict[int, str] = {
    0: "baseline frozen",
    1: "context contract verified",
    2: "paper: rejections and guardrails stable",
    3: "parity met: canary may start",
    4: "canary green and approved: live",
}
#: Probe budgets (seconds) = the README's domain budgets.
DEFAULT_PROBE_BUDGETS = {"technicals": 60, "regime": 60, "news": 300, "fundamentals": 86_400}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RolloutPolicy(_Model):
    """Exit-criteria thresholds of every phase (defaults documented per field)."""

    baseline_version: int | None = Field(
        default=None, ge=1, description="pin a baseline version (None = the newest)")
    contract_check_max_age_hours: float = Field(
        default=24.0, gt=0, description="the market_context_bundle check evaluations must be "
        "younger than this")
    probe_budgets_seconds: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_PROBE_BUDGETS),
        description="freshness budget per domain used by the stale-data probe")
    rejection_rate_tolerance_pp: float = Field(
        default=0.5, ge=0, description="the window's schema/validation rejection rate may exceed "
        "the baseline's by at most this many percentage points")
    stability_days: int = Field(default=7, ge=1, description="guardrail stability window "
                                "(trading days, none missing)")
    degraded_share_band_pp: float = Field(
        default=5.0, ge=0, description="each day's degraded-context share must lie within the "
        "baseline's +/- this many percentage points")
    min_guardrail_decisions_per_day: int = Field(
        default=1, ge=0, description="a day with fewer guardrail-consulted decisions is no "
        "evidence")
    parity_window_days: int = Field(default=5, ge=1, description="parity window (trading days)")
    parity_status_agreement_min_pct: float = Field(default=99.0, ge=0, le=100)
    parity_fill_drift_p95_max_bps: float = Field(default=5.0, ge=0)
    parity_duplicate_submissions_max: int = Field(default=0, ge=0)
    parity_slippage_gap_max_bps: float = Field(
        default=2.0, ge=0, description="|mean slippage lean - mean slippage alpaca| over the "
        "window (TCA drift budget)")
    canary_window_days: int = Field(default=5, ge=1, description="canary window (trading days)")
    canary_availability_min: float = Field(default=0.999, ge=0, le=1)
    canary_p99_latency_max_ms: float = Field(default=250.0, gt=0)
    canary_error_rate_max: float = Field(default=0.001, ge=0, le=1)
    canary_symbols: list[str] = Field(default_factory=list, description="the canary subset's "
                                      "symbols (INTEL_CANARY_SYMBOLS); empty: no canary set")
    canary_accounts: list[str] = Field(default_factory=lambda: ["paper"], description="the "
                                       "canary subset's Alpaca account labels "
                                       "(INTEL_CANARY_ACCOUNTS)")
    approval_phase: int = Field(default=4, ge=0, le=4, description="the phase an approval row "
                                "must name")
    rehearsal_max_age_days: int = Field(default=30, ge=1, description="the rollback rehearsal "
                                        "must be younger than this")

    def canary_subset(self) -> "CanarySubset":
        """The canary subset this policy accepts evidence from."""
        return CanarySubset(symbols=sorted(self.canary_symbols),
                            accounts=sorted(self.canary_accounts))


class EvidenceRef(_Model):
    """Where a number came from: an asset partition, a check evaluation, a table row or a probe."""

    kind: Literal["asset", "asset_check", "table", "probe", "config"]
    name: str = Field(description="asset key, check key, table name, probe or config name")
    key: str | None = Field(default=None, description="partition, row key or version")
    run_id: str | None = None
    at: AwareDatetime | None = None


class RejectionMetrics(_Model):
    """Schema/validation rejections among trade_decisions (see domain/rollout_metrics.py)."""

    decisions: int = 0
    schema_rejections: int = 0
    rate_pct: float | None = None
    by_code: dict[str, int] = Field(default_factory=dict)
    by_status: dict[str, int] = Field(default_factory=dict)


class ExecutionMetrics(_Model):
    """Torghut's executions: fill rate and the share of each non-filled status."""

    executions: int = 0
    filled: int = 0
    fill_rate_pct: float | None = None
    qty_fill_rate_pct: float | None = None
    by_status: dict[str, int] = Field(default_factory=dict)
    rejected_share_pct_by_status: dict[str, float] = Field(default_factory=dict)


class GuardrailMetrics(_Model):
    """Market-context guardrail outcomes recorded in decision_json.market_context_guardrail."""

    decisions: int = 0
    observed: int = Field(default=0, description="decisions carrying a guardrail record")
    consulted: int = Field(default=0, description="observed and past the deterministic check")
    degraded: int = 0
    degraded_share_pct: float | None = None
    by_reason: dict[str, int] = Field(default_factory=dict)
    guardrail_rejections: int = 0


class BaselineSnapshot(_Model):
    """A frozen baseline (one intel_rollout_baselines row)."""

    version: int
    created_at: AwareDatetime
    run_id: str
    start_day: date
    end_day: date
    note: str = ""
    rejections: RejectionMetrics
    executions: ExecutionMetrics
    guardrail: GuardrailMetrics


class GuardrailDay(_Model):
    """One intel_guardrail_daily row: a day's rejection and guardrail metrics."""

    day: date
    run_id: str
    computed_at: AwareDatetime
    rejections: RejectionMetrics
    guardrail: GuardrailMetrics


class CheckEvaluation(_Model):
    """The latest completed evaluation of one asset check in the Dagster instance."""

    asset_key: str
    check_name: str
    passed: bool
    run_id: str
    evaluated_at: AwareDatetime
    partition: str | None = None
    description: str | None = None


class StaleProbe(_Model):
    """One domain of the stale-data probe: a fresh bundle vs one with this domain aged 2x budget."""

    domain: str
    budget_seconds: int
    fresh_age_seconds: int
    stale_age_seconds: int
    stale_state: str
    flag: str
    flagged_in_block: bool
    flagged_in_bundle: bool
    unflagged: list[str] = Field(default_factory=list)
    fresh_bundle_quality: float
    stale_bundle_quality: float


class ParityDay(_Model):
    """One day's parity evidence from its newest intel_parity_reports row."""

    day: date
    run_id: str
    generated_at: AwareDatetime
    compared: int
    status_agreed: int
    abs_drift_bps: list[float] = Field(default_factory=list)
    duplicate_submissions: int = 0
    slippage_count: dict[str, int] = Field(default_factory=dict)
    slippage_mean_bps: dict[str, float | None] = Field(default_factory=dict)
    evidence_problems: list[str] = Field(default_factory=list)


class CanarySubset(_Model):
    """The canary's symbols and Alpaca account labels (both upper/lower-case exact as Torghut
    writes them: symbols upper case, account labels as configured)."""

    symbols: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)

    def label(self) -> str:
        """``symbols AAPL, SPY; accounts paper`` (sorted)."""
        return (f"symbols {', '.join(sorted(self.symbols)) or '-'}; accounts "
                f"{', '.join(sorted(self.accounts)) or '-'}")


class LatencyHistogram(_Model):
    """Cumulative request counts per latency bucket upper bound (ms; "+Inf" last), as a
    Prometheus histogram counts them, with the count, sum and failed requests."""

    buckets: dict[str, int] = Field(default_factory=dict)
    count: int = 0
    sum_ms: float = 0.0
    failures: int = 0


class TelemetrySnapshot(_Model):
    """One scrape of a service's cumulative latency histograms (the LEAN runner's
    /v1/observability or the serving API's /metrics), per operation."""

    source: str
    url: str
    scraped_at: AwareDatetime
    operations: dict[str, LatencyHistogram] = Field(default_factory=dict)


class TelemetryWindow(_Model):
    """The difference of two scrapes of one source: what happened between ``start_at`` and
    ``end_at``. ``restarted``: a counter went down (the service restarted), so the window holds
    only what the end scrape counted since that restart."""

    source: str
    start_at: AwareDatetime | None
    end_at: AwareDatetime
    restarted: bool = False
    operations: dict[str, LatencyHistogram] = Field(default_factory=dict)

    def span(self) -> str:
        start = self.start_at.isoformat() if self.start_at and not self.restarted else \
            "service start"
        return f"{self.source} {start}..{self.end_at.isoformat()}"


class CanaryDay(_Model):
    """A day's canary SLOs of the LEAN route for the canary subset (canary_slo[day]): measured
    from Torghut's executions rows and the scraped telemetry windows (domain/canary_slo.py).
    A figure is None when its source gave no evidence that day (``problems`` says why)."""

    day: date
    run_id: str
    computed_at: AwareDatetime
    subset: CanarySubset
    lean_expected: int = 0
    lean_served: int = 0
    fallbacks_by_reason: dict[str, int] = Field(default_factory=dict)
    outside_subset: int = 0
    outside_subset_symbols: list[str] = Field(default_factory=list)
    availability: float | None = None
    runner_requests: int | None = None
    runner_failures: int | None = None
    error_rate: float | None = None
    runner_p99_ms: float | None = None
    context_requests: int | None = None
    context_p99_ms: float | None = None
    p99_latency_ms: float | None = None
    runner_window: str = ""
    context_window: str = ""
    problems: list[str] = Field(default_factory=list)


class SignoffEvent(_Model):
    """One intel_rollout_signoffs row: an approval or a revocation of a rollout token, recorded by
    the token's sha256 only (append-only: a changed mind is a new event)."""

    id: int | None = Field(default=None, description="the row's id (append order)")
    kind: Literal["approve", "revoke"]
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    actor: str = Field(min_length=1, description="who approved or revoked")
    at: AwareDatetime
    phase: int = Field(ge=0, le=4, description="the phase approved (a revocation: the revoked "
                       "approval's)")
    baseline_version: int | None = Field(default=None, ge=1, description="the baseline version "
                                         "approved (a revocation: the revoked approval's)")
    reason: str = Field(default="", description="the approver's note or why it was revoked")


class ApprovalEvidence(_Model):
    """The configured approval token's state in intel_rollout_signoffs (its latest event), never
    the token itself. ``approved_*``/``phase``/``baseline_version``: its latest approval;
    ``revoked_*``: set when its latest event is a revocation of that approval."""

    token_configured: bool
    token_ref: str | None = Field(default=None, description="first 12 hex of the token's sha256")
    approved_by: str | None = None
    approved_at: AwareDatetime | None = None
    phase: int | None = None
    baseline_version: int | None = None
    revoked_by: str | None = None
    revoked_at: AwareDatetime | None = None
    revoke_reason: str | None = None


class GateEvidence(_Model):
    """Everything the gate reads, gathered before any rule runs (None/empty = not found)."""

    as_of_day: date
    evaluated_at: AwareDatetime
    baseline: BaselineSnapshot | None = None
    contract_checks: dict[str, CheckEvaluation | None] = Field(default_factory=dict)
    stale_probe: list[StaleProbe] = Field(default_factory=list)
    guardrail_days: list[GuardrailDay] = Field(default_factory=list)
    parity_days: list[ParityDay] = Field(default_factory=list)
    canary_days: list[CanaryDay] = Field(default_factory=list)
    approval: ApprovalEvidence | None = None
    risk_path: RiskPathResult | None = Field(default=None, description="the risk-path check over "
                                             "the baseline window's decisions")
    rehearsal: RehearsalRecord | None = Field(default=None, description="the latest rollback "
                                              "rehearsal")


class CriterionResult(_Model):
    """One exit criterion: pass/fail, the measured number against its threshold, the evidence."""

    id: str
    phase: int
    title: str
    passed: bool
    missing_evidence: bool = False
    measured: float | None = None
    threshold: float | None = None
    comparison: Literal[">=", "<=", "==", ">", "present"] = "present"
    unit: str = ""
    message: str
    evidence: list[EvidenceRef] = Field(default_factory=list)


class GateVerdict(_Model):
    """The highest phase whose criteria, and all lower phases' criteria, pass (-1: none)."""

    as_of_day: date
    evaluated_at: datetime
    phase_reached: int
    criteria: list[CriterionResult]
    policy: RolloutPolicy

    def phase_passed(self, phase: int) -> bool:
        """True when every criterion of ``phase`` passed."""
        return all(c.passed for c in self.criteria if c.phase == phase)

    def blockers(self) -> list[CriterionResult]:
        """The failing criteria of the first phase not reached (what to fix next)."""
        return [c for c in self.criteria if c.phase == self.phase_reached + 1 and not c.passed]


__all__ = ["DEFAULT_PROBE_BUDGETS", "PHASES", "ApprovalEvidence", "BaselineSnapshot", "CanaryDay",
           "CanarySubset", "LatencyHistogram", "TelemetrySnapshot", "TelemetryWindow",
           "CheckEvaluation", "CriterionResult", "EvidenceRef", "ExecutionMetrics",
           "GateEvidence", "GateVerdict", "GuardrailDay", "GuardrailMetrics", "ParityDay",
           "RejectionMetrics", "RolloutPolicy", "SignoffEvent", "StaleProbe"]
