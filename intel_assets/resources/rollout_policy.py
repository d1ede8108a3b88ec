"""Owns RolloutPolicyResource: the rollout gate's thresholds as Dagster config and approval token.

Every threshold defaults to RolloutPolicy's documented default (contracts/gates.py), so the
two cannot drift apart. ``approval_token`` is INTEL_ROLLOUT_APPROVAL_TOKEN given as a Dagster
``EnvVar`` (read at run time, masked in the UI); the gate only ever uses its sha256 and never
logs it or puts it in metadata.
"""

from typing import Any, Optional

from dagster import ConfigurableResource
from pydantic import Field

from intel_assets.contracts.gates import RolloutPolicy
from intel_assets.domain.rollout_metrics import token_sha256

APPROVAL_TOKEN_ENV = "INTEL_ROLLOUT_APPROVAL_TOKEN"
_P = RolloutPolicy.model_fields


def _field(name: str):
    info = _P[name]
    default = info.get_default(call_default_factory=True)
    return Field(default=default, description=info.description or f"RolloutPolicy.{name}")


class RolloutPolicyResource(ConfigurableResource):
    """Exit-criteria thresholds per phase (RolloutPolicy) plus the approval token (EnvVar)."""

    baseline_version: Optional[int] = _field("baseline_version")
    contract_check_max_age_hours: float = _field("contract_check_max_age_hours")
    probe_budgets_seconds: dict[str, int] = _field("probe_budgets_seconds")
    rejection_rate_tolerance_pp: float = _field("rejection_rate_tolerance_pp")
    stability_days: int = _field("stability_days")
    degraded_share_band_pp: float = _field("degraded_share_band_pp")
    min_guardrail_decisions_per_day: int = _field("min_guardrail_decisions_per_day")
    parity_window_days: int = _field("parity_window_days")
    parity_status_agreement_min_pct: float = _field("parity_status_agreement_min_pct")
    parity_fill_drift_p95_max_bps: float = _field("parity_fill_drift_p95_max_bps")
    parity_duplicate_submissions_max: int = _field("parity_duplicate_submissions_max")
    parity_slippage_gap_max_bps: float = _field("parity_slippage_gap_max_bps")
    canary_window_days: int = _field("canary_window_days")
    canary_availability_min: float = _field("canary_availability_min")
    canary_p99_latency_max_ms: float = _field("canary_p99_latency_max_ms")
    canary_error_rate_max: float = _field("canary_error_rate_max")
    canary_symbols: list[str] = _field("canary_symbols")
    canary_accounts: list[str] = _field("canary_accounts")
    approval_phase: int = _field("approval_phase")
    rehearsal_max_age_days: int = _field("rehearsal_max_age_days")
    approval_token: Optional[str] = Field(
        default=None, description=f"{APPROVAL_TOKEN_ENV} as a Dagster EnvVar (never logged)")

    def policy(self) -> RolloutPolicy:
        """The thresholds as the pure RolloutPolicy (validated; the token is not part of it)."""
        return RolloutPolicy(**{name: getattr(self, name) for name in _P})

    def approval_token_sha256(self) -> str | None:
        """The sha256 of the configured approval token, or None when none is configured."""
        token = (self.approval_token or "").strip()
        return token_sha256(token) if token else None

    def with_approval_token(self, token: Any) -> "RolloutPolicyResource":
        """The same thresholds with ``token`` (a str or a Dagster EnvVar) as approval token."""
        return RolloutPolicyResource(**{name: getattr(self, name) for name in _P},
                                     approval_token=token)


__all__ = ["APPROVAL_TOKEN_ENV", "RolloutPolicyResource"]
