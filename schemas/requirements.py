"""GET /v1/requirements: what an action needs, read off the rules that apply to it on a date."""
from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields as ma  # `fields` is also a field name here

from schemas.check import BilingualSchema, RULE_VERDICTS
from schemas.fields import ACTION_TYPES, AsOf, one_of


class RequirementsQueryArgsSchema(Schema):
    action = ma.String(required=True, validate=one_of(ACTION_TYPES),
                           metadata={"description": "The action type a check would carry (action.type)."})
    as_of = AsOf(metadata={"description": "The rules in force on this date; default: today in China."})


class WordingSchema(Schema):
    """Text in Chinese and English where the rule set has both: a field the vocabulary describes in
    English only has `en` alone, a code without a name neither."""
    zh = ma.String()
    en = ma.String()


class ConditionTestSchema(Schema):
    fact = ma.String(metadata={"description": "The fact tested (a request field, or a derived fact)."})
    op = ma.String(metadata={"description": "eq, ne, in, not_in, lt, lte, gt or gte"})
    value = ma.Raw(metadata={"description": "The value compared with (a list for in and not_in)."})
    text = ma.Nested(WordingSchema, metadata={"description": "The test in words."})
    computed_from = ma.List(ma.String(), metadata={
        "description": "For a derived fact: the request fields it is computed from."})


_ONLY_WHEN = ("Empty: the field matters whatever the others say. Otherwise it matters only when all the "
              "tests of one of these lists hold; elsewhere the rules reading it cannot apply, whatever its value.")


class ContractPartSchema(Schema):
    name = ma.String()
    type = ma.String()
    values = ma.List(ma.String())
    required = ma.Boolean(metadata={"description": "Required when the object is given."})


class RequiredFieldSchema(Schema):
    field = ma.String(metadata={"description": "The request field, as a dotted path (employee.pregnancy.status)."})
    description = ma.Nested(WordingSchema)
    type = ma.String(allow_none=True, metadata={
        "description": "enum, bool, int, number, date, string, object or list"})
    values = ma.List(ma.Raw(), metadata={"description": "An enum's allowed values."})
    source = ma.String(metadata={"description": (
        "request; or derived: a computed fact that declares no request fields of its own yet (its "
        "computed_from is empty): send what its description names")})
    sensitive = ma.Boolean(metadata={"description": "Sensitive personal information (PIPL Art. 28)."})
    computed_from = ma.List(ma.String())
    parts = ma.List(ma.Nested(ContractPartSchema), metadata={
        "description": "An object's (or a list's items') own fields."})
    read_by = ma.List(ma.String(), metadata={"description": "The rules that read it."})
    only_when = ma.List(ma.List(ma.Nested(ConditionTestSchema)), metadata={"description": _ONLY_WHEN})
    complete_record_area = ma.String(allow_none=True, metadata={"description": (
        "The area of the record a complete-record declaration (complete_record) covers it in: declared, an "
        "absent value is read as none. Null: it must be sent to be known.")})


class RuleFieldSchema(Schema):
    field = ma.String(required=True)
    only_when = ma.List(ma.Nested(ConditionTestSchema), required=True, metadata={
        "description": "Empty: always read by this rule; else only when all these hold."})


class RuleNeedsSchema(Schema):
    rule_id = ma.String(required=True)
    file = ma.String(required=True, metadata={"description": "The rule file (rules/...), one subject per file."})
    family = ma.String(required=True)
    title = ma.Nested(BilingualSchema, required=True)
    verdict = ma.String(required=True, validate=one_of(RULE_VERDICTS), metadata={"description": "deny, warn or obligation"})
    ruled_out_by_action = ma.Boolean(required=True, metadata={
        "description": "The action itself rules the rule out (it tests another legal basis): it reads nothing."})
    fields = ma.List(ma.Nested(RuleFieldSchema), required=True)


class RequirementsSchema(Schema):
    action = ma.String(required=True)
    action_name = ma.Nested(WordingSchema, required=True)
    as_of = ma.Date(required=True)
    ruleset_version = ma.String(required=True)
    answered_by_action = ma.Dict(required=True, metadata={
        "description": "Facts the action type decides by itself (the legal basis of an Art. 40 termination): "
                       "nothing to send for them."})
    always = ma.List(ma.String(), required=True, metadata={
        "description": "Fields every check carries whatever its action (the contract requires them)."})
    fields = ma.List(ma.Nested(RequiredFieldSchema), required=True, metadata={
        "description": "Every request field the rules read, once each: what to send."})
    rules = ma.List(ma.Nested(RuleNeedsSchema), required=True, metadata={
        "description": "Each rule in force on as_of that applies to the action (as in a check's `checked`), "
                       "with the fields it reads."})
