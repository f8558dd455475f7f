"""GET /v1/decisions/<id>: a recorded decision, rendered again from its trail entry.

The entry keeps what varied (what the engine matched, the facts, placeholder values); the text
comes from the rule-set version's own entry, through verdicts.assemble, as the live answer was
made. The answer is the original one with sensitive fact values redacted exactly as the trail
stores them (service.record.privacy): the trail never had them.

Whoever writes the database can edit an entry; they cannot make its hash the one its receipt
signed. The verdict is assembled again from what the engine matched, never read from the entry's
verdict column; the receipt is the one over the hash the trail holds for the entry (its leaf, or
its queued hash while the writer's signature over it verifies), not over its content as it is now;
and `entry_intact` says whether the content still hashes to that.

A decision is read in the asking key's tenant's log only: another tenant's answers 404, exactly
as one that does not exist (docs/tenant-logs.md).
"""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import fields
from sqlalchemy import select

from schemas.check import CheckResultSchema
from schemas.fields import one_of
from service.flows.packs_live import serving_version
from service.http.api import Blueprint
from service.record import db
from service.record.models import TrailEntry, TrailLeaf, TrailPending
from service.record.recording import render_assumed, render_body
from service.record.rulesets import VERSIONS
from service.record.trail import Appended, hash_of, receipt_time
from service.tenants import DEFAULT_TENANT

blp = Blueprint("decisions", __name__, url_prefix="/v1", description="Recorded decisions")

DECISION_KINDS = ("check", "case_event", "event_refused")


class DecisionSchema(CheckResultSchema):
    received_at = fields.DateTime(required=True)
    kind = fields.String(required=True, validate=one_of(DECISION_KINDS),
                         metadata={"description": "check, case_event or event_refused"})
    employee_id = fields.String(required=True)
    case_id = fields.String(required=True, allow_none=True)
    action_type = fields.String(required=True)
    event_type = fields.String(required=True, allow_none=True)
    actor_id = fields.String(required=True, allow_none=True)
    actor_role = fields.String(required=True, allow_none=True)
    client_id = fields.String(required=True, allow_none=True)
    trail_seq = fields.Integer(required=True)
    entry_hash = fields.String(required=True, metadata={"description": "The hash of the entry's content: its leaf in the "
                                                                      "trail's tree"})
    entry_intact = fields.Boolean(required=True, metadata={
        "description": "Whether the entry still hashes to the hash its receipt signed (its leaf, or its queued "
                       "hash while not sealed yet). False: the entry was altered in the database, or was queued "
                       "again without its writer's signature; `trail verify` names it"})


@blp.route("/decisions/<string:decision_id>")
class DecisionView(MethodView):
    @blp.operation("getDecision", DecisionSchema)
    def get(self, decision_id):
        """A recorded decision, from the trail."""
        tenant = g.get("tenant", DEFAULT_TENANT)
        with db.read_session(tenant) as session:
            entry = session.scalar(select(TrailEntry).where(
                TrailEntry.tenant_id == tenant, TrailEntry.entry_id == decision_id,
                TrailEntry.kind.in_(DECISION_KINDS)))
            if entry is None:
                abort(404, message=f"No decision {decision_id}.")
            answer = render(session, entry)
            trusted = trusted_hash(session, entry)
        intact = trusted is not None and trusted == hash_of(entry)
        return {**answer, "entry_intact": intact, "received_at": entry.recorded_at, "kind": entry.kind,
                "employee_id": entry.employee_id, "case_id": entry.case_id, "action_type": entry.action_type, "event_type": entry.event_type,
                "actor_id": entry.actor_id, "actor_role": entry.actor_role, "client_id": entry.client_id,
                "trail_seq": entry.seq, "entry_hash": hash_of(entry)}


def trusted_hash(session, entry: TrailEntry) -> str | None:
    """The hash the trail holds for an entry: its leaf's, or while it waits in the queue the hash
    its writer queued with a valid signature; None when there is neither (refused, or tampered)."""
    leaf = session.scalar(select(TrailLeaf.hash).where(TrailLeaf.tenant_id == entry.tenant_id,
                                                       TrailLeaf.seq == entry.seq))
    if leaf is not None:
        return leaf.hex()
    queued = session.get(TrailPending, (entry.tenant_id, entry.seq))
    key = current_app.extensions["trail_key"]
    if queued is None or queued.hash is None or queued.signature is None or not key.verify(key.receipt_text(
            decision_id=entry.entry_id, entry_hash=queued.hash.hex(), recorded_at=receipt_time(entry.recorded_at)),
            queued.signature):
        return None
    return queued.hash.hex()


def render(session, entry: TrailEntry) -> dict:
    """The answer a decision entry records, as the live path rendered it (sensitive values redacted)."""
    answer = _rendered(session, entry)
    if "matched" in entry.body:
        trusted = trusted_hash(session, entry)
        if trusted is not None:  # no receipt for a hash the trail does not hold
            answer["receipt"] = _receipt(entry, trusted)
    return answer


def summary(session, entry: TrailEntry, checked: bool = False) -> dict | None:
    """A decision entry read as a decision: its verdict, each finding's rule, verdict, outcome and
    facts by name, with `checked` each rule checked with its outcome; None for an entry that is no
    decision, or one whose rule-set version is not in the trail (a listing still lists it, with
    its body; GET /v1/decisions/<id> answers 500 for it). Sensitive values stay as the trail keeps
    them ("[sensitive]", "[not kept]")."""
    if entry.kind not in DECISION_KINDS or not entry.body:
        return None
    if "matched" in entry.body and _rulebook_of(session, entry) is None:
        return None
    answer = _rendered(session, entry)
    return {"decision_id": entry.entry_id, "verdict": answer["verdict"],
            "findings": [{"rule_id": f["rule_id"], "verdict": f["verdict"], "outcome": f["outcome"],
                          "title": f.get("title"), "facts": f.get("facts", {}),
                          "missing_facts": f.get("missing_facts", [])} for f in answer["findings"]],
            **({"checked": [{"rule_id": c["rule_id"], "verdict": c["verdict"], "outcome": c["outcome"]}
                            for c in answer.get("checked", [])]} if checked else {})}


def _rendered(session, entry: TrailEntry) -> dict:
    base = {"decision_id": entry.entry_id, "verdict": entry.verdict, "as_of": entry.as_of,
            "retrospective": bool(entry.body.get("retrospective")), "ruleset_version": entry.ruleset_version}
    body = entry.body
    if "matched" not in body:  # written before 0005: kept whole
        return {**base, "findings": body["findings"], "checked": body.get("checked", [])}
    rulebook = _rulebook_of(session, entry)
    if rulebook is None:
        abort(500, message=f"Rule-set version {entry.ruleset_version} is not in the trail.")
    answer = {**base, **render_body(body, entry.as_of, entry.action_type, rulebook)}
    if "assumed" in body:
        answer["assumed"] = render_assumed(body, rulebook)
    return answer


def _rulebook_of(session, entry: TrailEntry):
    """The rule set that decided the entry, or None when its version is not in the trail."""
    serving = serving_version(current_app, entry.ruleset_version)  # the statutes' or a pack's
    if serving is not None:
        return serving
    # A replaced version is read from the log that holds it: the statutes' is the default log's, a
    # pack's its company's. They hold rule files and policy texts, never a company's records, so
    # they are read across logs (under row-level security the request's session sees its own only).
    with db.read_session() as versions:
        return VERSIONS.rulebook(versions, entry.ruleset_version)


def _receipt(entry: TrailEntry, trusted: str) -> dict:
    """The receipt the answer carried: Ed25519 signatures are deterministic (RFC 8032), so
    signing the same text again gives the same receipt."""
    return Appended(entry.seq, entry.entry_id, trusted, entry.recorded_at).receipt(current_app.extensions["trail_key"])
