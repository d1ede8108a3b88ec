"""Owns intel_rollout_signoffs: the append-only record of rollout sign-offs in Torghut's DB.

``intel_rollout_signoffs(id, kind, token_sha256, actor, at, phase, baseline_version, reason)``:
one row per event, ``kind`` 'approve' (an approver signs phase ``phase`` off on baseline
``baseline_version``) or 'revoke' (someone withdraws the token's approval, ``reason`` saying
why; it repeats the revoked approval's phase and baseline). A trigger refuses UPDATE, DELETE
and TRUNCATE: changing one's mind is a new event. Only the sha256 of a token is ever stored
(domain.rollout_metrics.token_sha256), never the token.

The **state** of a token is its latest event (by id, the append order): approved when that is
an approval, revoked when it is a revocation, unknown when it has none (approval_evidence).
The functions take a TorghutDb (RolloutDb delegates to them) and use one short connection each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from intel_assets.contracts.gates import ApprovalEvidence, SignoffEvent

if TYPE_CHECKING:
    from intel_assets.stores.torghut_db import TorghutDb

SIGNOFF_TABLE = "intel_rollout_signoffs"
SIGNOFF_DDL = (
    "CREATE TABLE IF NOT EXISTS intel_rollout_signoffs (id bigserial PRIMARY KEY, kind text NOT "
    "NULL CHECK (kind IN ('approve', 'revoke')), token_sha256 text NOT NULL CHECK (token_sha256 "
    "~ '^[0-9a-f]{64}$'), actor text NOT NULL CHECK (btrim(actor) <> ''), at timestamptz NOT "
    "NULL DEFAULT now(), phase integer NOT NULL CHECK (phase BETWEEN 0 AND 4), baseline_version "
    "integer CHECK (baseline_version >= 1), reason text NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS intel_rollout_signoffs_token ON intel_rollout_signoffs "
    "(token_sha256, id)",
    "DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = "
    "'intel_rollout_signoffs_append_only' AND tgrelid = 'intel_rollout_signoffs'::regclass) THEN "
    "CREATE OR REPLACE FUNCTION intel_rollout_signoffs_append_only() RETURNS trigger LANGUAGE "
    "plpgsql AS $f$ BEGIN RAISE EXCEPTION 'intel_rollout_signoffs is append-only (% refused): "
    "record a new sign-off with intel-assets rollout approve or revoke', TG_OP; END $f$; "
    "CREATE TRIGGER intel_rollout_signoffs_append_only BEFORE UPDATE OR DELETE ON "
    "intel_rollout_signoffs FOR EACH ROW EXECUTE FUNCTION intel_rollout_signoffs_append_only(); "
    "CREATE TRIGGER intel_rollout_signoffs_no_truncate BEFORE TRUNCATE ON intel_rollout_signoffs "
    "FOR EACH STATEMENT EXECUTE FUNCTION intel_rollout_signoffs_append_only(); END IF; END $do$",
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COLUMNS = "id, kind, token_sha256, actor, at, phase, baseline_version, reason"


class SignoffError(ValueError):
    """A sign-off that cannot be recorded as asked; the message says why and what to do."""


def _event(row: Sequence) -> SignoffEvent:
    return SignoffEvent(**dict(zip(_COLUMNS.split(", "), row)))


def _when(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def _check_digest(token_sha256: str) -> None:
    if not _SHA256.fullmatch(token_sha256 or ""):
        raise ValueError("token_sha256 must be 64 lowercase hex digits: pass "
                         "token_sha256(token), never the token itself")


def ensure_signoff_schema(db: TorghutDb) -> None:
    """Create intel_rollout_signoffs and its append-only trigger (idempotent)."""
    with db._cursor() as cur:
        for statement in SIGNOFF_DDL:
            cur.execute(statement)


def record_signoff(db: TorghutDb, kind: str, token_sha256: str, actor: str, *,
                   phase: int | None = None, baseline_version: int | None = None,
                   reason: str = "", at: datetime | None = None) -> SignoffEvent:
    """Append one event for the token with this sha256 (``at`` default: the database's now).

    * ``approve``: ``actor`` approves ``phase`` on ``baseline_version``; ``reason`` is a note.
    * ``revoke``: ``actor`` withdraws the token's approval for ``reason`` (required); the row
      repeats that approval's phase and baseline. SignoffError when the token has no approval or
      its latest event is already a revocation.
    """
    _check_digest(token_sha256)
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if kind not in ("approve", "revoke"):
        raise ValueError(f"kind must be 'approve' or 'revoke', not {kind!r}")
    if not actor:
        raise SignoffError("the name is empty: say who " + (
            "approves (--approver NAME)" if kind == "approve" else "revokes (--by NAME)"))
    if kind == "approve" and (phase is None or not 0 <= phase <= 4):
        raise SignoffError(f"an approval names a phase 0..4 (--phase N), not {phase}")
    if kind == "revoke" and not reason:
        raise SignoffError("a revocation says why (--reason TEXT)")
    with db._cursor() as cur:
        if kind == "revoke":
            # One revocation per approval even when two people revoke at the same moment.
            cur.execute(f"LOCK TABLE {SIGNOFF_TABLE} IN SHARE ROW EXCLUSIVE MODE")
            cur.execute(f"SELECT {_COLUMNS} FROM {SIGNOFF_TABLE} WHERE token_sha256 = %s ORDER "
                        "BY id DESC LIMIT 1", (token_sha256,))
            found = cur.fetchone()
            if found is None:
                raise SignoffError(f"the token with sha256 {token_sha256[:12]}... has no "
                                   "approval to revoke (does --token-env name the approved "
                                   "token?)")
            latest = _event(found)
            if latest.kind == "revoke":
                raise SignoffError(f"the token with sha256 {token_sha256[:12]}... is already "
                                   f"revoked by {latest.actor} at {_when(latest.at)}: "
                                   f"{latest.reason}")
            phase, baseline_version = latest.phase, latest.baseline_version
        cur.execute(f"INSERT INTO {SIGNOFF_TABLE} (kind, token_sha256, actor, at, phase, "
                    "baseline_version, reason) VALUES (%s, %s, %s, COALESCE(%s, now()), %s, %s, "
                    f"%s) RETURNING {_COLUMNS}",
                    (kind, token_sha256, actor, at, phase, baseline_version, reason))
        return _event(cur.fetchone())


def signoffs(db: TorghutDb, token_sha256: str) -> list[SignoffEvent]:
    """Every sign-off event of the token with this sha256, oldest first."""
    _check_digest(token_sha256)
    with db._cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM {SIGNOFF_TABLE} WHERE token_sha256 = %s ORDER BY id",
                    (token_sha256,))
        return [_event(r) for r in cur.fetchall()]


def approval_evidence(token_sha256: str | None,
                      events: Sequence[SignoffEvent]) -> ApprovalEvidence:
    """The gate's view of a token from its events (oldest first): its latest approval, and the
    revocation when the latest event is one. ``token_sha256`` None: no token is configured."""
    evidence = ApprovalEvidence(token_configured=token_sha256 is not None,
                                token_ref=token_sha256[:12] if token_sha256 else None)
    approvals = [e for e in events if e.kind == "approve"]
    if not approvals:
        return evidence
    approved = approvals[-1]
    update = dict(approved_by=approved.actor, approved_at=approved.at, phase=approved.phase,
                  baseline_version=approved.baseline_version)
    latest = events[-1]
    if latest.kind == "revoke":
        update.update(revoked_by=latest.actor, revoked_at=latest.at, revoke_reason=latest.reason)
    return evidence.model_copy(update=update)


__all__ = ["SIGNOFF_DDL", "SIGNOFF_TABLE", "SignoffError", "approval_evidence",
           "ensure_signoff_schema", "record_signoff", "signoffs"]
