"""The separation case a check carries: its kind and its workflow events."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import one_of as _one_of
from schemas.action import ActorSchema
from schemas.fields import CASE_KINDS, EVENT_TYPES, FORMS, AwareDateTime, Identifier, Text


class CaseEventSchema(Schema):
    type = fields.String(required=True, validate=_one_of(EVENT_TYPES))
    at = AwareDateTime(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    form = fields.String(validate=_one_of(FORMS))
    note = Text(validate=validate.Length(max=2000))


class CaseSchema(Schema):
    id = Identifier(required=True)
    kind = fields.String(required=True, validate=_one_of(CASE_KINDS))
    # No default: a case sent without its events says nothing about its state (unknown), which
    # is not the same as a case in which nothing has happened yet (`events: []`).
    events = fields.List(fields.Nested(CaseEventSchema))
