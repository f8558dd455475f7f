"""The separation case a check carries: its kind and its workflow events."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import one_of as _one_of
from schemas.action import ActorSchema
from schemas.fields import EVENT_TYPES, FORMS, AwareDateTime, Identifier, Text


class CaseEventSchema(Schema):
    type = fields.String(required=True, validate=_one_of(EVENT_TYPES))
    at = AwareDateTime(required=True)
    received_at = AwareDateTime(metadata={"description": (
        "When the declaration reached the other party (a posted letter's delivery, an e-mail's "
        "arrival); without it, `at` counts. Arrival decides whether a withdrawal came in time "
        "(Civil Code Arts. 137, 141).")})
    actor = fields.Nested(ActorSchema, required=True)
    form = fields.String(validate=_one_of(FORMS))
    note = Text(validate=validate.Length(max=2000))


class CaseSchema(Schema):
    id = Identifier(required=True)
    # No default: a case sent without its events says nothing about its state (unknown), which
    # is not the same as a case in which nothing has happened yet (`events: []`).
    events = fields.List(fields.Nested(CaseEventSchema))
