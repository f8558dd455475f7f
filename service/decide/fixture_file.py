"""The shape of a fixture file and of a testdata file (fixtures/), checked when they are read and
published as JSON Schemas in rules/_schemas/ (service/tools/json_schemas.py).

Requests stay free mappings here: a case's request is checked by the service's own request
schema when it runs (with its `testdata:` references resolved), so an invalid one fails that
case and says which field.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from schemas.fields import VERDICTS

def _rule_list(description: str) -> fields.List:
    return fields.List(fields.String(), metadata={"description": description})


class ExpectedSchema(Schema):
    """What a check must give. Only the rules named are compared."""

    class Meta:
        unknown = RAISE   # a misspelt key would assert nothing

    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS),
                            metadata={"description": "The answer's verdict."})
    fired = _rule_list("Rules that give their verdict (deny, warn or obligation): fired, or dates_differ "
                       "(fired on one of the two judgment days). Each deny or warn must be necessary: "
                       "switched off, the verdict changes or no settled finding of its verdict is left.")
    unknown = _rule_list("Rules that warn only because facts are missing (outcome unknown).")
    cleared = _rule_list("Rules checked and ruled out by the facts given.")
    exactly = _rule_list("The complete set of deny and warn rules of the answer (fired or unknown), for a case "
                         "whose point is the whole set. Rules under it are asserted as under `fired`.")
    rule_ids = _rule_list("The older spelling of `exactly`.")
    obligations = _rule_list("The complete set of obligations of the answer.")
    citations = fields.List(fields.String(), metadata={"description": "Citation refs the answer must cite (among others)."})
    missing_facts = fields.List(fields.String(), metadata={
        "description": "Facts the answer must name as missing (among others); [] asserts none is missing."})
    independent = _rule_list("Fired rules that each give the verdict on their own: switched off together by the "
                             "mutation check.")
    as_of = fields.String(metadata={"description": "The as_of the answer must report (YYYY-MM-DD)."})


class StepSchema(Schema):
    class Meta:
        unknown = RAISE

    request = fields.Dict(required=True, metadata={"description": "The check's request (the story's case is added)."})
    expected = fields.Nested(ExpectedSchema, required=True)
    now = fields.Raw(metadata={"description": "The moment of this step, if not the case's."})
    record = fields.Dict(metadata={"description": "A case event the later steps carry."})


class CaseSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, metadata={
        "description": "A sentence with the date and the expected result; the case's id (file::name)."})
    now = fields.Raw(metadata={"description": "The moment of the case (ISO 8601), if not the suite's."})
    request = fields.Dict(metadata={"description": "The check's request; `employee`/`actor` may be "
                                                   "`{testdata: NAME, ...}` (fixtures/testdata)."})
    expected = fields.Nested(ExpectedSchema)
    case = fields.Dict(metadata={"description": "A story's case (id, kind, events) its steps carry."})
    steps = fields.List(fields.Nested(StepSchema), metadata={"description": "A story: checks in order."})


class FixtureFileSchema(Schema):
    class Meta:
        unknown = RAISE

    description = fields.String(metadata={"description": "What the suite is about."})
    now = fields.Raw(metadata={"description": "The moment every case is decided at (ISO 8601), unless it gives its own."})
    base = fields.Dict(metadata={"description": "Anchors the cases of this file merge (`<<: *name`)."})
    x_anchors = fields.List(fields.Raw(), data_key="x-anchors", metadata={
        "description": "Anchors the cases of this file refer to (`*name`), as a list."})
    cases = fields.List(fields.Nested(CaseSchema), required=True, validate=validate.Length(min=1))


class TestdataFileSchema(Schema):
    """fixtures/testdata/*.yaml: employees and actors several fixture files share, by name."""

    class Meta:
        unknown = RAISE

    description = fields.String(metadata={"description": "What the parties are."})
    employees = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")),
                            values=fields.Dict(), metadata={
                                "description": "Employees by name: a request's `employee: {testdata: NAME}`."})
    actors = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")),
                         values=fields.Dict(), metadata={
                             "description": "Actors by name: an action's or event's `actor: {testdata: NAME}`."})

