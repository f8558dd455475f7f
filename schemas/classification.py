"""The format of the legal classification tables in rules/classification/.

Shapes only: which action, event, state or basis names are known is checked against the fact
vocabulary when the rule book loads (service/decide/classification.py), because the vocabulary is data.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.data_files import header_fields
from schemas.rule_file import Bilingual

_NAME = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="lower-case letters, digits and '_'")
FROM_CASE, FROM_GROUND, FROM_CASE_STATE, UNKNOWN = "from_case", "from_ground", "from_case_state", "unknown"
STEPS = ("opens", "approves", "rejects")


def _name(**kwargs):
    return fields.String(validate=_NAME, **kwargs)


def _cite(**kwargs):
    """Catalog refs of the provisions a value rests on (their text is in rules/citations/)."""
    return fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1), **kwargs)


def _file(kind: str) -> dict:
    return header_fields("classification/v1", kind)


# ---- separation_basis.yaml ---------------------------------------------------------------------
class ActionBasisSchema(Schema):
    process = _name(metadata={"description": "the case kind the action belongs to"})
    basis = _name(required=True, metadata={"description": "a separation basis, from_case or unknown"})
    cite = _cite()


class CaseKindBasisSchema(Schema):
    basis = _name(required=True, metadata={"description": "a separation basis, from_ground, from_case_state or unknown"})
    cite = _cite()


class GroundSchema(Schema):
    article = _name(required=True)
    basis = _name(required=True)
    employer_case = fields.String(validate=validate.Equal(UNKNOWN),
                                  metadata={"description": "unknown: not a ground an employer's case carries"})
    cite = _cite(required=True)


class SeparationBasisFileSchema(Schema):
    class Meta:
        include = {**_file("separation_basis"),
                   "actions": fields.Dict(keys=_name(), values=fields.Nested(ActionBasisSchema), required=True),
                   "case_kinds": fields.Dict(keys=_name(), values=fields.Nested(CaseKindBasisSchema), required=True),
                   "no_case": fields.Nested(CaseKindBasisSchema, required=True),
                   "grounds": fields.Dict(keys=_name(), values=fields.Nested(GroundSchema), required=True)}

    @validates_schema
    def _cited(self, data, **kwargs):
        for name, row in data.get("actions", {}).items():
            if row["basis"] not in ("none", FROM_CASE, UNKNOWN) and not row.get("cite"):
                raise ValidationError("a basis needs the provision it rests on (cite)", f"actions.{name}.cite")
        for name, row in data.get("case_kinds", {}).items():
            if row["basis"] not in (FROM_GROUND, FROM_CASE_STATE, UNKNOWN) and not row.get("cite"):
                raise ValidationError("a basis needs the provision it rests on (cite)", f"case_kinds.{name}.cite")


# ---- written_form.yaml ------------------------------------------------------------------------
class FormSchema(Schema):
    legal_form = _name(required=True)
    cite = _cite(required=True)


class WrittenFormFileSchema(Schema):
    class Meta:
        include = {**_file("written_form"),
                   "forms": fields.Dict(keys=_name(), values=fields.Nested(FormSchema), required=True),
                   "not_recorded": _name(required=True)}


# ---- case_states.yaml -------------------------------------------------------------------------
_STATE_TEST = fields.Raw(metadata={"description": "a state name, or a list of them"})


class StateTestSchema(Schema):
    """A test of the case's state: each record's state is one of the values given."""
    resignation = _STATE_TEST
    withdrawal = _STATE_TEST
    event = fields.String(validate=_NAME, metadata={"description": "such an event is recorded (status only)"})

    @validates_schema
    def _names(self, data, **kwargs):
        for record in ("resignation", "withdrawal"):
            value = data.get(record)
            values = value if isinstance(value, list) else [value]
            if record in data and not (values and all(isinstance(v, str) and v for v in values)):
                raise ValidationError("a state name or a non-empty list of them", record)


class ArrivalSchema(Schema):
    simultaneous_first = fields.List(_name(), required=True)
    cite = _cite(required=True)


class EventSchema(Schema):
    action = _name(required=True)
    request = _name()
    step = fields.String(validate=validate.OneOf(STEPS))

    @validates_schema
    def _together(self, data, **kwargs):
        if ("request" in data) != ("step" in data):
            raise ValidationError("request and step go together", "step")


class TransitionSchema(Schema):
    event = _name(required=True)
    when = fields.Nested(StateTestSchema, load_default=dict)
    set = fields.Dict(keys=fields.String(validate=validate.OneOf(("resignation", "withdrawal"))),
                      values=_name(), required=True, validate=validate.Length(min=1))
    cite = _cite()


class LegalEffectSchema(Schema):
    when = fields.Nested(StateTestSchema, required=True)
    basis = _name(required=True)
    awaits_decision = fields.Boolean(load_default=True)
    cite = _cite(required=True)
    effect = fields.Nested(Bilingual, required=True)


class StatusSchema(Schema):
    status = _name(required=True)
    when = fields.Nested(StateTestSchema, required=True)
    closed = fields.Boolean(load_default=False)


class RecordsSchema(Schema):
    resignation = fields.List(_name(), required=True, validate=validate.Length(min=1))
    withdrawal = fields.List(_name(), required=True, validate=validate.Length(min=1))


class CaseStatesFileSchema(Schema):
    class Meta:
        include = {**_file("case_states"),
                   "arrival": fields.Nested(ArrivalSchema, required=True),
                   "events": fields.Dict(keys=_name(), values=fields.Nested(EventSchema), required=True),
                   "decides": fields.Dict(keys=_name(), values=_name(), required=True),
                   "records": fields.Nested(RecordsSchema, required=True),
                   "transitions": fields.List(fields.Nested(TransitionSchema), required=True),
                   "withdrawal_timing": fields.Dict(keys=_name(), values=_name(), required=True),
                   "legal_effect": fields.List(fields.Nested(LegalEffectSchema), required=True,
                                               validate=validate.Length(min=1)),
                   "status": fields.List(fields.Nested(StatusSchema), required=True,
                                         validate=validate.Length(min=1))}

    @validates_schema
    def _last_lines_catch_all(self, data, **kwargs):
        for table in ("legal_effect", "status"):
            rows = data.get(table) or []
            if rows and rows[-1]["when"]:
                raise ValidationError("the last line must hold always (when: {})", f"{table}.{len(rows) - 1}.when")
