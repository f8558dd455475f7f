"""POST /v1/checks: may the EHR do this to this employee, as of this date?"""
from __future__ import annotations

from flask import current_app, g, request as http_request
from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy.exc import SQLAlchemyError

from schemas.check import (CheckBatchRequestSchema, CheckBatchResultSchema, CheckRequestSchema,
                           CheckResultSchema)
from schemas.citations import CitationsFormArgsSchema
from service.http.api import Blueprint
from service.http.examples import request_examples
from service.record import db, trail
from service.clock import day_in_china, utcnow
from service.decide.evaluation import evaluate, with_declarations
from service.decide.records import declarations
from service.record.ledger import accepted_events, case_request
from service.record.models import Case
from service.record.recording import decision_entry

blp = Blueprint("checks", __name__, url_prefix="/v1", description="Pre-action compliance checks")


@blp.route("/checks")
class Checks(MethodView):
    @blp.arguments(CheckRequestSchema(), examples=request_examples("createCheck"))
    @blp.arguments(CitationsFormArgsSchema(), location="query", as_kwargs=True)
    @blp.response(200, CheckResultSchema)
    @blp.doc(operationId="createCheck")
    def post(self, request, **query):
        """Check a proposed separation action before the EHR carries it out.

        The verdict is the most severe finding: deny, warn, or allow when there is none.
        Every decision is written to the trail before it is returned.
        """
        return _answer(_decide([request])[0], query.get("citations"))


@blp.route("/checks:batch")
class CheckBatch(MethodView):
    @blp.arguments(CheckBatchRequestSchema(), examples=request_examples("createCheckBatch"))
    @blp.arguments(CitationsFormArgsSchema(), location="query", as_kwargs=True)
    @blp.response(200, CheckBatchResultSchema)
    @blp.doc(operationId="createCheckBatch")
    def post(self, batch, **query):
        """Up to 100 checks in one call, each with its own verdict and decision id.

        The batch is validated whole (a bad check is a 422 naming checks.<n>.<field>) and its
        decisions are recorded in one transaction: all of them, or none and a 503.
        """
        return _answer({"results": _decide(batch["checks"], batch=True)}, query.get("citations"))


# What a citation keeps when the caller takes the texts from GET /v1/citations instead.
_BY_REFERENCE = ("ref", "kind", "role", "article", "item")


def _answer(body: dict, form: str | None):
    """The answer, encoded once by orjson: it is plain data already, in the shape CheckResultSchema
    documents (tests/test_answers.py holds the two equal), so a marshmallow dump would only copy it.
    With citations=refs (query, or `Prefer: citations=refs`) findings cite by reference."""
    by_reference = (form or _preferred_form()) == "refs"
    if by_reference:
        for result in body.get("results", [body]):
            result["findings"] = [{**f, "citations": [{k: c[k] for k in _BY_REFERENCE} for c in f["citations"]]}
                                  for f in result["findings"]]
    response = current_app.json.response(body)  # service/http/jsonio.py: orjson, no dump
    if by_reference:
        response.headers["Preference-Applied"] = "citations=refs"
    if form is None:
        response.headers["Vary"] = "Prefer"
    return response


def _preferred_form() -> str | None:
    """RFC 7240: `Prefer: citations=refs`, among any other preferences."""
    for header in http_request.headers.getlist("Prefer"):
        for preference in header.split(","):
            name, _, value = preference.split(";")[0].strip().partition("=")
            if name.strip().lower() == "citations" and value.strip().strip('"') == "refs":
                return "refs"
    return None


def declared_areas(rulebook, areas: list[str] | None, where: str = "") -> list[tuple[str, str]]:
    """The complete-record declarations a request is decided under: its own, then its key's. An
    area the rule set does not know is refused (422 naming it); one the key declared is skipped
    (a rule-set change must not refuse a client's every request, and skipping assumes nothing)."""
    records = rulebook.context.records
    unknown = records.unknown(areas or ())
    if unknown:
        known = ", ".join(records.areas) or "none"
        abort(422, errors={f"{where}complete_record.{i}": [f"'{name}' is not an area a record can be declared "
                                                           f"complete in; known: {known}."] for i, name in unknown})
    key_areas = [a for a in getattr(g, "complete_record", ()) if a in records.areas]
    return declarations(areas, key_areas)


def _decide(requests: list[dict], batch: bool = False) -> list[dict]:
    rulebook = current_app.extensions["rulebook"]  # one version for the whole call
    received_at = utcnow()
    named = []  # checks that name a recorded case
    declared = [declared_areas(rulebook, r.pop("complete_record", None), f"checks.{n}." if batch else "")
                for n, r in enumerate(requests)]
    for request in requests:
        if "case_id" in request:
            request["case"] = _recorded_case(request.pop("case_id"), request["employee"]["id"])
            named.append(request)
    decided = [with_declarations(rulebook, r, d) for r, d in zip(requests, declared)]
    outcomes = [evaluate(rulebook, filled, assumed) for filled, assumed in decided]
    arrived_on = day_in_china(received_at)
    # A check as of a day before it arrives cannot have guided an action on that day: a what-if.
    retrospective = [o.as_of < arrived_on for o in outcomes]
    entries = [decision_entry(rulebook=rulebook, outcome=o, request=r, received_at=received_at,
                              body_extra={"retrospective": True} if past else None)
               for o, r, past in zip(outcomes, requests, retrospective)]
    try:
        recorded = trail.append_and_commit(db.engine(), entries)
    except SQLAlchemyError:
        current_app.logger.exception("could not record decision")
        abort(503, message="The decision could not be recorded; nothing was allowed. Retry later.")
    # The re-check goes on with the facts as decided, declared absences filled in.
    _remember_case_facts([(filled, e.entry_id) for (filled, _), r, e in zip(decided, requests, recorded)
                          if any(r is n for n in named)])
    key = current_app.extensions["trail_key"]
    return [{"decision_id": e.entry_id, "verdict": o.verdict, "as_of": o.as_of.isoformat(),
             "retrospective": past, "ruleset_version": o.ruleset_version, "findings": o.findings,
             "checked": o.checked, **({} if o.assumed is None else {"assumed": o.assumed}), "receipt": e.receipt(key)}
            for e, o, past in zip(recorded, outcomes, retrospective)]


def _remember_case_facts(named: list[tuple[dict, str]]) -> None:
    """A check naming a recorded case gives the facts its daily re-check uses, and its later
    events that leave them out (service/record/rechecks.py): (request, decision id) pairs."""
    if not named:
        return
    from service.record.rechecks import remember_employee
    try:
        with db.session() as session, session.begin():
            for request, decision_id in named:
                remember_employee(session, request["case"]["id"], request["employee"], utcnow(),
                                  decision_id=decision_id)
    except SQLAlchemyError:  # the decision is recorded and answered; the re-check keeps older facts
        current_app.logger.exception("could not keep the case's employee facts for its re-check")


def _recorded_case(case_id: str, employee_id: str) -> dict:
    with db.read_session() as session:
        case = session.get(Case, case_id)
        if case is None:
            abort(422, errors={"case_id": [f"No case {case_id} in the ledger."]})
        if case.employee_id != employee_id:
            abort(422, errors={"case_id": [f"Case {case_id} is about another employee."]})
        return case_request(case, accepted_events(session, case_id))
