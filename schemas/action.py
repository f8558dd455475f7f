"""The proposed action of a check request, and who acts."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import one_of as _one_of
from schemas.fields import ACTION_TYPES, ROLES


class ActorSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))
    role = fields.String(required=True, validate=_one_of(ROLES))
    department = fields.String(validate=validate.Length(min=1, max=128),
                               metadata={"description": "The actor's department, for approval-scope rules."})


class ActionSchema(Schema):
    type = fields.String(required=True, validate=_one_of(ACTION_TYPES))
    effective_date = fields.Date()
    actor = fields.Nested(ActorSchema)
