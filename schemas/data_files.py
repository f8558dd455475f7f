"""The format of the data files beside the rules: the fact vocabulary, legal parameters and the
working-day calendar. The loaders validate with these schemas, and rules/_schemas/ holds the
JSON Schemas generated from them for editors and CI (service/tools/json_schemas.py)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.rule_file import Bilingual

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"


def header_fields(api_version: str, kind: str) -> dict:
    """The fields every typed data file starts with (for a schema's Meta.include)."""
    return {"apiVersion": fields.String(required=True, validate=validate.Equal(api_version)),
            "kind": fields.String(required=True, validate=validate.Equal(kind)),
            "description": fields.String(required=True, validate=validate.Length(min=1))}
_REFS = fields.Raw(metadata={"description": "a catalog ref (e.g. FEM-7) or a list of them"})


class RequestFieldSchema(Schema):
    description = fields.String(metadata={"description": "the contract's text (OpenAPI), when it says more "
                                                         "than the fact's description"})
    required = fields.Boolean(metadata={"description": "required when the object holding it is given"})
    unknown = fields.Boolean(metadata={"description": "an enum: \"unknown\" is accepted and means the same "
                                                     "as leaving the field out"})
    values_of = fields.String(metadata={"description": "an int: its allowed values are every value of this "
                                                       "parameter's table, in every dated version"})


class FactSpecSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(("enum", "bool", "int", "number", "date", "string")))
    values = fields.Raw(metadata={"description": "an enum's values: a list, or the name of a list under enums"})
    source = fields.String(required=True, validate=validate.OneOf(("request", "derived")))
    sensitive = fields.Boolean()
    description = fields.String()
    description_zh = fields.String(validate=validate.Regexp(r"^[\s\S]*[\u3400-\u9fff]", error="write it in Chinese"),
                                   metadata={"description": "the whole description in Chinese, beside "
                                                            "`description` (中文名称 / English description)"})
    range = fields.List(fields.String(), validate=validate.Length(equal=2), metadata={
        "description": "a derived fact known only within bounds: the facts holding its lowest and highest value"})
    details = fields.List(fields.String(), metadata={
        "description": "derived facts shown beside this one in checked[] (the dates behind it)"})
    inputs = fields.List(fields.String(), metadata={
        "description": "the request fields a derived fact is computed from, named when it is missing"})
    defined_by = fields.List(fields.String(), metadata={
        "description": "catalog refs of the provisions defining the fact, cited as definitions"})
    derive = fields.Raw(metadata={
        "description": "a declared derivation (rules/README.md): days_between, working_days_between, months_between, "
                       "years_between, date_plus, min, max or compare, with its operands"})
    min = fields.Float(metadata={"description": "an int or number's lowest value the request accepts"})
    max = fields.Float(metadata={"description": "an int or number's highest value the request accepts"})
    request = fields.Nested(RequestFieldSchema, metadata={
        "description": "how the check request carries a source: request fact (the request schemas are built "
                       "from it)"})


class FactFileSchema(Schema):
    class Meta:
        include = {
            "apiVersion": fields.String(required=True, validate=validate.Equal("facts/v1")),
            "enums": fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")),
                                 values=fields.List(fields.String(), validate=validate.Length(min=1))),
            "facts": fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_.]*$")),
                                 values=fields.Nested(FactSpecSchema), required=True),
        }


class ParameterMetadataSchema(Schema):
    reference = _REFS
    unit = fields.String()
    note = fields.String()


class ParameterValueSchema(Schema):
    value = fields.Raw(required=True, allow_none=True)
    metadata = fields.Nested(ParameterMetadataSchema)


class ParameterFileSchema(Schema):
    """One legal value with its amendments, OpenFisca style: `values` keyed by the date each took effect."""
    description = fields.String(required=True, validate=validate.Length(min=1))
    documentation = fields.String()
    metadata = fields.Nested(ParameterMetadataSchema)
    values = fields.Dict(keys=fields.String(validate=validate.Regexp(_ISO_DATE, error="not an ISO date — write YYYY-MM-DD, with a two-digit month and day (2021-11-03)")),
                         values=fields.Nested(ParameterValueSchema), required=True,
                         validate=validate.Length(min=1))


def _day(**kwargs):
    return fields.String(validate=validate.Regexp(_ISO_DATE, error="not an ISO date YYYY-MM-DD"), **kwargs)


def _yes_no(**kwargs):
    return fields.Boolean(truthy={True}, falsy={False}, error_messages={"invalid": "must be true or false", "required": "must be true or false"}, **kwargs)


class _Year(fields.String):
    """A year key: YAML reads 2027 as a number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


class CalendarYearSchema(Schema):
    source = fields.String()
    complete = _yes_no(required=True)
    holidays = fields.List(_day(), load_default=list)
    workdays = fields.List(_day(), load_default=list)


class CalendarCorrectionSchema(Schema):
    date = _day(required=True)
    workday = _yes_no(required=True)
    note = fields.String(required=True, validate=validate.Length(min=1), error_messages={
        "required": "must say why the day is corrected"})


class CalendarFileSchema(Schema):
    description = fields.String()
    metadata = fields.Dict()
    years = fields.Dict(keys=_Year(validate=validate.Regexp(r"^\d{4}$", error="not a four-digit year")),
                        values=fields.Nested(CalendarYearSchema), load_default=dict)
    corrections = fields.List(fields.Nested(CalendarCorrectionSchema), load_default=list)


class NamesFileSchema(Schema):
    """rules/names/codes.yaml: each code's name in Chinese and English, table by table."""
    apiVersion = fields.String(required=True, validate=validate.Equal("names/v1"))
    description = fields.String(required=True, validate=validate.Length(min=1))
    names = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")),
                        # A code, or a request field's dotted path (table request_field).
                        values=fields.Dict(keys=fields.String(validate=validate.Regexp(
                                               r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")),
                                           values=fields.Nested(Bilingual)),
                        required=True)


class RecordAreaSchema(Schema):
    description = fields.Nested(Bilingual, required=True)
    absent_means = fields.Raw(required=True, metadata={
        "description": "what the request field stands for when absent and declared complete: an object of "
                       "its parts' values, or a list (an empty one: none)"})


class CompleteRecordFileSchema(Schema):
    """rules/records/complete_record.yaml: what an absent field means in an area declared complete."""
    apiVersion = fields.String(required=True, validate=validate.Equal("records/v1"))
    kind = fields.String(required=True, validate=validate.Equal("complete_record"))
    description = fields.String(required=True, validate=validate.Length(min=1))
    areas = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^employee(\.[a-z][a-z0-9_]*)+$")),
                        values=fields.Nested(RecordAreaSchema), required=True)
