"""The flask-smorest Api: one JSON error shape for every 4xx and 5xx, and strict JSON bodies.

Every error answers {"code", "status", "message", "errors": [{"path", "reason"}]}; `errors` is
always there. It names the fields at fault (400, 422), the header (401, 403: Authorization; 415:
Content-Type) or the body as a whole (413: "(body)"); it is empty where no part of the request is
at fault (404, 405, 409, 429, 500, 503).
"""
from __future__ import annotations

import logging

import flask_smorest
from apispec import APISpec, BasePlugin
from flask import current_app, request
from flask_smorest import Api as _Api
from flask_smorest import abort
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeoutError
from marshmallow.exceptions import SCHEMA
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from schemas.errors import ErrorSchema, flatten_messages
from schemas.fields import IDENTIFIER_MAX, control_character_in, is_identifier
from service.http.bodies import ChunkedBodyReader, refuse_unreadable_body
from service.http.jsonio import InvalidJson, loads_strict

log = logging.getLogger(__name__)


class JsonBodyParser(FlaskParser):
    """webargs reads bodies with the standard library, which a 5,000-deep body or a 5,000-digit
    number crashes (a 500); this one reads them with orjson and names the field a refusal is in."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        if not raw.strip():
            return core.missing
        try:
            return loads_strict(raw)
        except InvalidJson as exc:
            abort(400, message=f"The body is not JSON the service accepts: {exc.path} {exc.reason}.",
                  errors={exc.path: [exc.reason]})


    def _get_schema(self, argmap, req):
        """A request schema built from the vocabulary (schemas/request_contract.py) is the serving
        rule set's own: a request field its facts declare is accepted once that set is live (a
        reload), not only after a restart. The OpenAPI document shows the contract the service
        started with."""
        schema = super()._get_schema(argmap, req)
        rulebook = current_app.extensions.get("rulebook")
        if rulebook is None:
            return schema
        from schemas.request_contract import shipped
        served, live = shipped(), rulebook.request_contract
        for part in ("check", "batch", "event"):
            if type(schema) is getattr(served, part):
                built = getattr(live, part)
                return schema if built is type(schema) else built()
        return schema


class Blueprint(flask_smorest.Blueprint):
    """Every API blueprint: its arguments are read by JsonBodyParser (Api refuses any other)."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def operation(self, operation_id: str, answer=None, *, status: int = 200, body=None, examples=None,
                  query=None, query_as_kwargs: bool = False, **doc):
        """An operation declared once: its operationId, its answer (schema and success code), the
        body and query arguments it reads, and any other OpenAPI `doc`. The view is given the body,
        then the query arguments (as keywords with `query_as_kwargs`), then the path's."""
        def declare(view):
            view = self.doc(operationId=operation_id, **doc)(view)
            if answer is not None:
                view = self.response(status, answer)(view)
            if query is not None:
                view = self.arguments(query, location="query", as_kwargs=query_as_kwargs)(view)
            if body is not None:
                view = self.arguments(body, examples=examples)(view)
            return view
        return declare


# What a request may be refused with besides its operation's own answers, and when.
_AUTHENTICATED = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 429: "TOO_MANY_REQUESTS"}
_WITH_BODY = {400: "BAD_REQUEST", 413: "REQUEST_ENTITY_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}
_ALWAYS = {500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE"}  # 404 and 405 answer no operation


class ErrorResponsesPlugin(BasePlugin):
    """Documents, on every operation, the refusals that can answer it, each in the Error shape."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            extra = dict(_ALWAYS)
            if path.startswith("/v1/"):
                extra.update(_AUTHENTICATED)
            if method in ("post", "put", "patch"):
                extra.update(_WITH_BODY)
            for code, name in extra.items():
                if code not in responses and str(code) not in responses:
                    responses[code] = name


class ContractSpec(APISpec):
    """The document as served. A request body refuses fields it does not know (additionalProperties:
    false, from the schemas' unknown=RAISE); an answer never says so: the v1 contract adds fields
    to answers, and a strict client generated from `false` would refuse them."""

    def to_dict(self) -> dict:
        document = super().to_dict()
        components = document.get("components", {}).get("schemas", {})
        answered = set()
        for item in document.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict):
                    _referenced(operation.get("responses", {}), components, answered)
        _referenced(document.get("components", {}).get("responses", {}), components, answered)
        for name in answered:
            if components[name].get("additionalProperties") is False:
                del components[name]["additionalProperties"]
        return document


def _referenced(node, components: dict, found: set) -> None:
    """The names of the component schemas `node` refers to, directly or through another."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                _referenced(components.get(name), components, found)
        for value in node.values():
            _referenced(value, components, found)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, components, found)


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app=None, *, spec_kwargs=None, **kwargs):
        spec_kwargs = dict(spec_kwargs or {})
        spec_kwargs.setdefault("extra_plugins", [ErrorResponsesPlugin()])
        super().__init__(app, spec_kwargs=spec_kwargs, **kwargs)

    def _init_spec(self, **kwargs):
        super()._init_spec(**kwargs)
        self.spec.__class__ = ContractSpec  # flask-smorest builds a plain APISpec; this one serves it

    def init_app(self, app, *, spec_kwargs=None):
        super().init_app(app, spec_kwargs=spec_kwargs)
        app.before_request(_refuse_control_characters_in_the_url)
        app.wsgi_app = ChunkedBodyReader(app.wsgi_app, app)
        app.before_request(refuse_unreadable_body)

    def register_blueprint(self, blp, *, parameters=None, **options):
        if not isinstance(blp.ARGUMENTS_PARSER, JsonBodyParser):
            # flask-smorest's own parser reads bodies with the standard library: see JsonBodyParser.
            raise TypeError(f"blueprint {blp.name!r}: build it with service.http.api.Blueprint, "
                            "not flask_smorest.Blueprint")
        return super().register_blueprint(blp, parameters=parameters, **options)

    def _register_error_handlers(self):
        super()._register_error_handlers()
        # Anything unexpected is a 500, never an answer: fail closed.
        self._app.register_error_handler(Exception, self.handle_unexpected)

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        message = data.get("message") or _message_of(error)
        messages = data.get("errors") or data.get("messages")
        if messages:
            errors = [{"path": _strip_location(path), "reason": reason} for path, reason in flatten_messages(messages)]
            message = data.get("message") or "The request is not valid."
        else:
            errors = _default_errors(error.code, message)
        headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        return {"code": error.code, "status": error.name, "message": message, "errors": errors}, error.code, headers

    def handle_unexpected(self, error: Exception):
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        if _database_unavailable(error):
            # The database is down or unreachable (from any query: the API key lookup, a read, the
            # trail): nothing was decided or recorded, so 503 like a decision that could not be
            # recorded, never a 500 that reads as our bug.
            log.exception("database unavailable: %s", type(error).__name__)
            return self.handle_http_exception(ServiceUnavailable(
                "The database is unavailable; nothing was decided or allowed. Retry later."))
        log.exception("unhandled error: %s", type(error).__name__)
        return self.handle_http_exception(InternalServerError())


def body_limit_message() -> str:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return f"The body is larger than the {limit // 1024} KiB limit ({limit} bytes)."


def _message_of(error: HTTPException) -> str:
    if error.code == 413:
        return body_limit_message()  # werkzeug's own text does not say what the limit is
    return error.description


def _default_errors(code: int, message: str) -> list[dict]:
    subject = {400: "(body)", 413: "(body)", 415: "Content-Type", 401: "Authorization", 403: "Authorization"}
    return [{"path": subject[code], "reason": message}] if code in subject else []


def _refuse_control_characters_in_the_url():
    """A case id in the path, or a query value, with a control character is refused like one in
    a body (no database stores NUL in text): 422 naming the parameter. An id in the path is an
    identifier like one in a body (1 to 128 characters): a longer one is 422, not a 404 on
    SQLite and an overflowing column on PostgreSQL."""
    errors = {name: ["must be printable text (no control or format characters)"]
              for name, value in (request.view_args or {}).items()
              if isinstance(value, str) and not is_identifier(value)}
    errors.update({name: [f"must be at most {IDENTIFIER_MAX} characters"]
                   for name, value in (request.view_args or {}).items()
                   if isinstance(value, str) and len(value) > IDENTIFIER_MAX and name not in errors})
    errors.update({"(query)" if control_character_in(name) else name: ["must not contain control characters"]
                   for name, value in request.args.items(multi=True)
                   if control_character_in(name) or control_character_in(value)})
    if errors:
        abort(422, errors=errors)


def _database_unavailable(error: Exception) -> bool:
    """A lost or refused connection, or no pooled connection in time; not a bad query (that stays a 500)."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _strip_location(path: str) -> str:
    # webargs nests messages under where they came from ("json.employee.id"), and marshmallow
    # puts an object's own error (not an object, or a rule across its fields) under "_schema":
    # the path names the object (employee.family), never marshmallow's key.
    parts = [part for part in path.split(".") if part != SCHEMA]
    if parts[:1] in (["json"], ["query"], ["view_args"], ["headers"]):
        parts = parts[1:]
    return ".".join(parts) or "(body)"
