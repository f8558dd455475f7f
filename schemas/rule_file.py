"""The format of a rule file in rules/labor_law/ and rules/process/.

One file holds the rules of one provision or policy. The legal team edits these files;
this schema is what makes a typo a load error instead of a silent wrong answer.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

VERDICTS = ("deny", "warn", "obligation")
# An example states what the rule says: its own verdict, `unknown` (its condition is unknown: a
# warn naming the missing facts), or `none` (it is ruled out).
EXAMPLE_VERDICTS = VERDICTS + ("unknown", "dates_differ", "none")
CITATION_KINDS = ("law", "policy")
CITATION_ROLES = ("basis", "consequence", "definition")
NOTIFY = ("pending_approver", "escalation", "hr_owner")


class Bilingual(Schema):
    error_messages = {"type": "must be {zh: ..., en: ...}: the text in Chinese and in English"}
    zh = fields.String(required=True, validate=validate.Length(min=1))
    en = fields.String(required=True, validate=validate.Length(min=1))


class CitationRefSchema(Schema):
    """A rule cites by ref; the text lives once, in rules/citations/."""
    ref = fields.String(required=True, validate=validate.Length(min=1))
    # Why the citation is on the finding: the rule's own basis, the remedy an unlawful
    # separation exposes the employer to, or a definition the rule relies on.
    role = fields.String(load_default="basis", validate=validate.OneOf(CITATION_ROLES))


class CitationEntrySchema(Schema):
    """One entry of rules/citations/*.yaml: a provision's verbatim text and when it is in force."""
    law = fields.String(required=True, validate=validate.Length(min=1))
    law_en = fields.String(required=True, validate=validate.Length(min=1))
    article = fields.String(required=True, validate=validate.Length(min=1))
    item = fields.String(load_default=None, allow_none=True)
    text = fields.String(required=True, validate=validate.Length(min=1))
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(load_default=None, allow_none=True)
    source = fields.String(required=True, validate=validate.Length(min=1))
    note = fields.String()


class CitationFileSchema(Schema):
    apiVersion = fields.String(required=True, validate=validate.Equal("citations/v1"))
    kind = fields.String(required=True, validate=validate.OneOf(CITATION_KINDS))
    description = fields.String(required=True)
    citations = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9/\-.]*$")),
                            values=fields.Nested(CitationEntrySchema), required=True)


class ExampleSchema(Schema):
    # Bilingual like the rule's title: the legal team reads the Chinese on the rule page; the
    # English is the case's id in `rules test`, JUnit and a refused reload (so unique per rule).
    name = fields.Nested(Bilingual, required=True)
    request = fields.Dict(required=True)
    # The verdict this rule gives for the request: its own verdict, or `none` when it stays silent.
    expect = fields.String(required=True, validate=validate.OneOf(EXAMPLE_VERDICTS))


class RuleSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.\-]*$",
                                                               error="lower-case letters, digits, '.', '-', '_'"))
    title = fields.Nested(Bilingual, required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    actions = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(load_default=None, allow_none=True)
    citations = fields.List(fields.Nested(CitationRefSchema), required=True, validate=validate.Length(min=1))
    message = fields.Nested(Bilingual, required=True)
    # Wording for a check where the condition is unknown (a fact it needs is missing); without
    # it the finding says which facts are missing in a standard sentence.
    unknown_message = fields.Nested(Bilingual)
    when = fields.Dict(required=True)
    examples = fields.List(fields.Nested(ExampleSchema), required=True, validate=validate.Length(min=2))
    # Who the SLA sweep notifies when this rule fires on a case (once per step and deadline).
    notify = fields.List(fields.String(validate=validate.OneOf(NOTIFY)), load_default=list)

    @validates_schema
    def _dates_in_order(self, data, **kwargs):
        start, end = data.get("effective_from"), data.get("effective_to")
        if start and end and end < start:
            raise ValidationError("must not be before effective_from", "effective_to")

    @validates_schema
    def _example_names_unique(self, data, **kwargs):
        for lang in ("en", "zh"):
            seen = set()
            for index, example in enumerate(data.get("examples") or []):
                name = example["name"][lang]
                if name in seen:
                    raise ValidationError({index: {"name": {lang: [f"another example of this rule is named {name!r}"]}}},
                                          "examples")
                seen.add(name)

    @validates_schema
    def _examples_cover_both_sides(self, data, **kwargs):
        expects = {e["expect"] for e in data.get("examples", [])}
        if expects and ("none" not in expects or data.get("verdict") not in expects):
            raise ValidationError(f"need at least one example where the rule gives its verdict "
                                  f"({data.get('verdict')}) and one where it does not (none)", "examples")


class RuleFileSchema(Schema):
    apiVersion = fields.String(required=True, validate=validate.Equal("rules/v1"))
    description = fields.String(required=True)
    metadata = fields.Dict(load_default=dict)
    rules = fields.List(fields.Nested(RuleSchema), required=True, validate=validate.Length(min=1))

