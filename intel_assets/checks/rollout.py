"""Owns the rollout gate's asset checks (one ERROR check per criterion) and contract-check evidence.

rollout_gate emits every check when it materializes (the verdict is computed once); a failing
criterion, including one without evidence, is a failed ERROR check whose description names the
measured number and the threshold (or what evidence is missing). The checks are not blocking:
nothing downstream waits on the gate, and a gate below phase 4 is an answer, not a crash.
"""

from datetime import datetime, timezone

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DagsterInstance,
    MetadataValue,
)

from intel_assets.contracts.gates import CheckEvaluation, CriterionResult, GateVerdict
from intel_assets.dagster_internals import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES
from intel_assets.domain.gates import CRITERIA

ROLLOUT_GATE = "rollout_gate"


def rollout_check_specs(asset: str = ROLLOUT_GATE) -> list[AssetCheckSpec]:
    """One AssetCheckSpec per exit criterion (named by its id, e.g. p3_status_agreement)."""
    return [AssetCheckSpec(cid, asset=asset, description=f"Phase {phase} exit criterion: {title}."
                           " Fails (ERROR) below the threshold or without evidence.")
            for cid, (phase, title) in CRITERIA.items()]


def criterion_metadata(criterion: CriterionResult) -> dict:
    """Metadata of one criterion's check: phase, measured vs threshold, evidence refs."""
    metadata = {"phase": criterion.phase, "passed": criterion.passed,
                "missing_evidence": criterion.missing_evidence,
                "comparison": criterion.comparison, "unit": criterion.unit,
                "evidence": MetadataValue.json([e.model_dump(mode="json")
                                                for e in criterion.evidence])}
    if criterion.measured is not None:
        metadata["measured"] = MetadataValue.float(criterion.measured)
    if criterion.threshold is not None:
        metadata["threshold"] = MetadataValue.float(criterion.threshold)
    return metadata


def rollout_check_results(verdict: GateVerdict, asset: str = ROLLOUT_GATE
                          ) -> list[AssetCheckResult]:
    """The AssetCheckResult of every criterion of ``verdict``."""
    return [AssetCheckResult(asset_key=AssetKey(asset), check_name=c.id, passed=c.passed,
                             severity=AssetCheckSeverity.ERROR, description=c.message,
                             metadata=criterion_metadata(c))
            for c in verdict.criteria]


def latest_check_evaluation(instance: DagsterInstance, asset: str, check_name: str
                            ) -> CheckEvaluation | None:
    """The latest completed evaluation of ``asset``'s check ``check_name`` (None: never)."""
    key = AssetCheckKey(AssetKey(asset), check_name)
    records = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES))
    if not records or records[0].event is None:
        return None
    record = records[0]
    evaluation = record.event.asset_check_evaluation
    if evaluation is None:
        return None
    return CheckEvaluation(
        asset_key=AssetKey(asset).to_user_string(), check_name=check_name,
        passed=evaluation.passed, run_id=record.run_id,
        evaluated_at=datetime.fromtimestamp(record.event.timestamp, timezone.utc),
        partition=record.partition, description=evaluation.description)


__all__ = ["ROLLOUT_GATE", "criterion_metadata", "latest_check_evaluation",
           "rollout_check_results", "rollout_check_specs"]
