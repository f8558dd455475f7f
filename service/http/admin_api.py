"""POST /v1/admin/rules/reload: put the rule files live now (service/flows/rules_live.py), or say
why not while the running version keeps serving. POST /v1/admin/rules/packs/<tenant>/reload: the
same for one company's pack (service/flows/packs_live.py)."""
from __future__ import annotations

import dataclasses
from http import HTTPStatus

from flask import current_app, g, jsonify
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields

from schemas.errors import FieldErrorSchema
from service.decide.packs import pack_folder
from service.flows.packs_live import reload_pack
from service.flows.rules_live import reload_rules
from service.tenants import DEFAULT_TENANT, valid_tenant
from service.http.api import Blueprint

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Administration")


class ReloadResultSchema(Schema):
    ok = fields.Boolean(required=True)
    version = fields.String(required=True, metadata={"description": "The rule-set version serving now"})
    previous = fields.String(required=True)
    problems = fields.List(fields.String(), required=True, metadata={"description": "Why a reload was refused"})


class ReloadRefusedSchema(ReloadResultSchema):
    """The project's error shape (code, status, message, errors), plus what is serving (not in a
    422 the request itself earns, which has the error shape alone)."""
    ok = fields.Boolean()
    version = fields.String(metadata={"description": "The rule-set version serving now"})
    previous = fields.String()
    problems = fields.List(fields.String(), metadata={"description": "Why the reload was refused"})
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True,
                         metadata={"description": "One per problem (path: the file) or failing case "
                                                  "(path: the example or fixture case)"})
    candidate = fields.String(metadata={"description": "The refused candidate's version (409 only)"})
    failing_cases = fields.List(fields.String(), metadata={"description": "The examples and fixture cases "
                                                                          "the candidate fails (409 only)"})


@blp.route("/rules/reload")
class Reload(MethodView):
    @blp.operation("reloadRules", ReloadResultSchema)
    @blp.alt_response(422, schema=ReloadRefusedSchema,
                      description="Refused, the rule files do not load: the previous version keeps serving")
    @blp.alt_response(409, schema=ReloadRefusedSchema,
                      description="Refused, the candidate fails some of its rule examples or fixture cases: "
                                  "the previous version keeps serving")
    def post(self):
        """Reload the rule files now; a bad edit is refused and the running version keeps serving.

        The candidate must load (else 422) and pass every rule example and fixture case (else 409).
        The statutes bind every company: only the deployment's own keys (the default tenant's) reload them.
        """
        if g.get("tenant", DEFAULT_TENANT) != DEFAULT_TENANT:
            abort(403, message="The statutes bind every company: only a key of the deployment (the default "
                               "tenant) reloads them; a company reloads its own pack (/v1/admin/rules/packs/<tenant>/reload).")
        result = reload_rules(current_app._get_current_object(), "admin endpoint")
        body = {"ok": result.ok, "version": result.version, "previous": result.previous,
                "problems": result.problems}
        if result.ok:
            return body, 200
        if result.candidate is not None:
            status, what = 409, (f"the candidate rule set {result.candidate} fails "
                                 f"{len(result.failing_cases)} rule example(s) or fixture case(s)")
            body.update(candidate=result.candidate, failing_cases=result.failing_cases)
        else:
            status, what = 422, f"the rule files do not load ({len(result.problems)} problem(s))"
        body.update(code=status, status=HTTPStatus(status).phrase, errors=result.errors,
                    message=f"Reload refused: {what}; still serving {result.version}.")
        # A Response of its own: the 200 schema would drop the error shape's fields.
        return jsonify(ReloadRefusedSchema().dump(body)), status


class PackReloadSchema(Schema):
    ok = fields.Boolean(required=True)
    tenant = fields.String(required=True)
    version = fields.String(allow_none=True, metadata={
        "description": "The pack version serving the tenant now (none: its pack was refused at start-up)"})
    previous = fields.String(allow_none=True)
    problems = fields.List(fields.String(), required=True, metadata={"description": "Why the pack was refused"})
    candidate = fields.String(metadata={"description": "The refused candidate's version (when it loaded)"})
    failing_cases = fields.List(fields.String())


@blp.route("/rules/packs/<string:tenant>/reload")
class PackReload(MethodView):
    @blp.response(200, PackReloadSchema)
    @blp.doc(operationId="reloadPack")
    @blp.alt_response(409, schema=PackReloadSchema,
                      description="Refused: the pack does not load or fails its gate; the tenant keeps its previous pack "
                                  "and other tenants are untouched")
    def post(self, tenant):
        """Reload one company's policy pack (rules/companies/TENANT/) now; other tenants are untouched.

        A company's key reloads its own pack only (another's answers 404, as a missing one); a key of
        the deployment (the default tenant) reloads any.

        The candidate must load and pass its own examples and fixtures plus the shared fixtures, with
        the statutes' findings unchanged (docs/policy-packs.md); a refusal is recorded in the tenant's trail.
        """
        asking = g.get("tenant", DEFAULT_TENANT)  # a company's key reloads its own pack; the deployment's, any
        if not valid_tenant(tenant) or asking not in (DEFAULT_TENANT, tenant) \
                or not pack_folder(current_app.config["RULES_DIR"], tenant).is_dir():
            abort(404, message=f"No policy pack for tenant {tenant} (rules/companies/{tenant}/).")
        result = reload_pack(current_app._get_current_object(), tenant, "admin endpoint")
        body = PackReloadSchema().dump(dataclasses.asdict(result))
        return (body, 200) if result.ok else (jsonify(body), 409)
