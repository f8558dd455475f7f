"""POST /v1/checks: may the EHR do this to this employee, as of this date?"""
from __future__ import annotations

from flask import current_app, g, request as http_request
from flask.views import MethodView
from flask_smorest import abort

from schemas.check import (CheckBatchRequestSchema, CheckBatchResultSchema, CheckRequestSchema,
                           CheckResultSchema)
from schemas.citations import CitationsFormArgsSchema
from service.http.api import Blueprint
from service.http.examples import request_examples
from service.decide.records import declarations
from service.flows.check import CheckRefused, NotRecorded, check
from service.http.auth import refuse_roles_not_granted
from service.tenants import DEFAULT_TENANT

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
    """The checks flow (service/flows/check.py), its refusals as HTTP errors."""
    refuse_roles_not_granted([r["action"]["actor"]["role"] for r in requests
                              if (r["action"].get("actor") or {}).get("role")])
    rulebook = current_app.extensions["rulebook"]
    declared = [declared_areas(rulebook, r.pop("complete_record", None), f"checks.{n}." if batch else "")
                for n, r in enumerate(requests)]
    try:
        return check(current_app._get_current_object(), requests, declared, getattr(g, "client_id", None),
                     tenant=g.get("tenant", DEFAULT_TENANT))
    except CheckRefused as exc:
        abort(422, errors=exc.errors)
    except NotRecorded:
        abort(503, message="The decision could not be recorded; nothing was allowed. Retry later.")
