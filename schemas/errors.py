"""One JSON shape for every error the service returns."""
from __future__ import annotations

from marshmallow import Schema, fields


class FieldErrorSchema(Schema):
    path = fields.String(metadata={"description": "Dotted path of the offending field, e.g. employee.id"})
    reason = fields.String()


class ErrorSchema(Schema):
    code = fields.Integer()
    status = fields.String()
    message = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))


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
