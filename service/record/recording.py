"""Turn a decided check into its trail entry: what is kept, and what is only digested."""
from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app
from sqlalchemy.orm import Session

from service.record import trail
from service.decide.evaluation import Outcome
from service.record.privacy import redact_findings
from service.decide.rulebook import RuleBook

def process_type(rulebook: RuleBook, action_type: str, case_kind: str | None) -> str | None:
    """The case kind, or the process the action belongs to (classification/separation_basis.yaml)."""
    return case_kind or rulebook.context.classification.basis.process_of(action_type)


def record_decision(session: Session, *, rulebook: RuleBook, outcome: Outcome, request: dict,
                    received_at: dt.datetime, kind: str = "check", event: dict | None = None, case_kind: str | None = None,
                    body_extra: dict | None = None) -> trail.Appended:
    """Append the decision to the trail inside the caller's transaction."""
    return trail.append_all(session, [decision_entry(
        rulebook=rulebook, outcome=outcome, request=request, received_at=received_at, kind=kind, event=event,
        case_kind=case_kind, body_extra=body_extra)])[0]


def decision_entry(*, rulebook: RuleBook, outcome: Outcome, request: dict, received_at: dt.datetime,
                   kind: str = "check", event: dict | None = None, case_kind: str | None = None,
                   body_extra: dict | None = None) -> dict:
    """A decision's trail entry. `rulebook` is the one that decided: its vocabulary says which
    facts are sensitive."""
    action = request["action"]
    actor = action.get("actor") or {}
    case = request.get("case") or {}
    keep = current_app.config["TRAIL_FACT_VALUES"]
    findings = redact_findings(outcome.findings, rulebook.vocabulary.sensitive, keep=keep)
    checked = redact_findings(outcome.checked, rulebook.vocabulary.sensitive, keep=keep)
    body = {"findings": findings, "checked": checked, **(body_extra or {})}
    return trail.entry_values(
        kind=kind, entry_id=str(uuid.uuid4()), recorded_at=received_at, as_of=outcome.as_of,
        employee_id=request["employee"]["id"], case_id=case.get("id"),
        process_type=process_type(rulebook, action["type"], case_kind or case.get("kind")),
        action_type=action["type"], event_type=(event or {}).get("type"),
        actor_id=actor.get("id"), actor_role=actor.get("role"), client_id=_client_id(),
        verdict=outcome.verdict, rule_ids=[f["rule_id"] for f in outcome.findings],
        ruleset_version=outcome.ruleset_version, body=body,
        request_digest=trail.request_digest(current_app.config["TRAIL_DIGEST_KEY"].encode(), request))


def _client_id() -> str | None:
    from flask import g
    return getattr(g, "client_id", None)
