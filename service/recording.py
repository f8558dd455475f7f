"""Turn a decided check into its trail entry: what is kept, and what is only digested."""
from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app
from sqlalchemy.orm import Session

from service import trail
from service.evaluation import Outcome
from service.privacy import redact_findings
from service.rulebook import RuleBook
from service.rulesets import by_id
from service.verdicts import PLACEHOLDER

# The separation process an action belongs to, when no case says so.
_PROCESS_OF_ACTION = {
    "submit_resignation": "resignation", "withdraw_resignation": "resignation",
    "approve_resignation": "resignation", "approve_withdrawal": "resignation",
    "reject_withdrawal": "resignation", "accept_resignation": "resignation",
    "terminate_for_cause": "employer_termination", "terminate_with_notice": "employer_termination",
    "terminate_economic_layoff": "employer_termination", "non_renewal_at_expiry": "non_renewal",
    "mutual_agreement_termination": "mutual_agreement",
}


def process_type(action_type: str, case_kind: str | None) -> str | None:
    return case_kind or _PROCESS_OF_ACTION.get(action_type)


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
    facts are sensitive, and its version entry holds the text the findings are rendered from."""
    action = request["action"]
    actor = action.get("actor") or {}
    case = request.get("case") or {}
    body = {**decision_body(rulebook, outcome, current_app.config["TRAIL_FACT_VALUES"]), **(body_extra or {})}
    return trail.entry_values(
        kind=kind, entry_id=str(uuid.uuid4()), recorded_at=received_at, as_of=outcome.as_of,
        employee_id=request["employee"]["id"], case_id=case.get("id"),
        process_type=process_type(action["type"], case_kind or case.get("kind")),
        action_type=action["type"], event_type=(event or {}).get("type"),
        actor_id=actor.get("id"), actor_role=actor.get("role"), client_id=_client_id(),
        verdict=outcome.verdict, rule_ids=[f["rule_id"] for f in outcome.findings],
        ruleset_version=outcome.ruleset_version, body=body,
        request_digest=trail.request_digest(current_app.config["TRAIL_DIGEST_KEY"].encode(), request))


def decision_body(rulebook: RuleBook, outcome: Outcome, keep: str) -> dict:
    """What varies per check, by reference to the rule set's version entry (service.rulesets):
    which rules gave which verdict, the facts they read (redacted: service.privacy) and the
    values that fill their messages' placeholders. service.decisions renders it back."""
    sensitive = rulebook.vocabulary.sensitive
    facts: dict = {}
    for f in redact_findings(outcome.findings, sensitive, keep=keep):
        facts.update(f["facts"])
    # A finding is [its rule id's position in the entry's rule_ids, verdict(, outcome)]: the ids
    # are in the entry once, and the order of the findings is the answer's.
    position = {rule_id: n for n, rule_id in enumerate(sorted({f["rule_id"] for f in outcome.findings}))}
    body: dict = {"findings": [[position[f["rule_id"]], f["verdict"], *([f["outcome"]] if "outcome" in f else [])]
                               for f in outcome.findings]}
    checked = getattr(outcome, "checked", None)
    if checked is not None:
        for c in redact_findings([c for c in checked if isinstance(c.get("facts"), dict)], sensitive, keep=keep):
            facts.update(c["facts"])
        body["checked"] = [[c["rule_id"], c["outcome"]] for c in checked]
    fill = {}
    rules = rules_by_id(rulebook)
    for rule_id in {f["rule_id"] for f in outcome.findings}:
        for rule in rules.get(rule_id, ()):
            for text in rule.message.values():
                for name in PLACEHOLDER.findall(text):
                    if name in outcome.facts.values and facts.get(name, _ABSENT) != outcome.facts.values[name]:
                        fill[name] = outcome.facts.values[name]
    body["facts"] = facts
    if fill:
        body["fill"] = fill  # placeholders are never sensitive (checked when the rules load)
    if keep != "non_sensitive":
        body["keep"] = keep
    return body


_ABSENT = object()
_BY_ID: dict[str, dict] = {}


def rules_by_id(rulebook: RuleBook) -> dict[str, list]:
    """A rule book's rules by id (every dated version), computed once per version."""
    found = _BY_ID.get(rulebook.version)
    if found is None:
        found = _BY_ID[rulebook.version] = by_id(rulebook.rules.values())
        if len(_BY_ID) > 8:
            _BY_ID.pop(next(iter(_BY_ID)))
    return found


def _client_id() -> str | None:
    from flask import g
    return getattr(g, "client_id", None)
