"""One JSON shape for every error the service returns (400 to 503, from any endpoint)."""
from __future__ import annotations

from marshmallow import Schema, fields


class FieldErrorSchema(Schema):
    path = fields.String(required=True, metadata={
        "description": "What is at fault: the dotted path of a body field (employee.id, checks.0.as_of), "
                       "a query or path parameter by name, a header (Authorization, Content-Type), "
                       "or (body) for the body as a whole."})
    reason = fields.String(required=True)


class ErrorSchema(Schema):
    """Every error: 400 (not JSON we accept), 401 (no valid key), 403 (scope), 404, 405, 409 (a
    conflict with the case), 413 (body over the limit), 415 (not JSON), 422 (invalid fields), 429
    (too many refused requests), 500, 503 (nothing decided or recorded)."""

    code = fields.Integer(required=True, metadata={"description": "The HTTP status code"})
    status = fields.String(required=True, metadata={"description": "The HTTP status phrase"})
    message = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True, metadata={
        "description": "What in the request is at fault; empty when nothing in it is (404, 405, 409, 429, 5xx)."})
    # A 503 from a decision about a case whose case_events rows say other than its trail entries
    # (service.record.case_trail): nothing was decided; `trail verify` lists every difference.
    case_id = fields.String(metadata={"description": "503 only, when the case's rows in case_events (or its case "
                                                     "row) say other than the trail: the case."})
    seq = fields.Integer(allow_none=True, metadata={
        "description": "With case_id: the case's event (its seq) that differs; null when the case row does."})


def flatten_messages(messages, prefix: str = ""):
    """Turn marshmallow's nested error messages into (dotted path, reason) pairs."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from flatten_messages(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix, "; ".join(messages)
    elif isinstance(messages, list):
        for item in messages:
            yield from flatten_messages(item, prefix)
    else:
        yield prefix, str(messages)
