"""GET /v1/citations and `citations=refs`: the statute texts of a rule-set version, served once."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import one_of

CITATION_FORMS = ("full", "refs")

CITATIONS_FORM_DESCRIPTION = (
    "full (default): every citation of a finding carries its law's name and verbatim text. refs: "
    "citations carry ref, kind, role, article and item only; the texts of the answer's "
    "ruleset_version are at GET /v1/citations?version=..., cached for good. Also as the header "
    "`Prefer: citations=refs`, echoed in Preference-Applied.")


class CitationsFormArgsSchema(Schema):
    citations = fields.String(validate=one_of(CITATION_FORMS), metadata={"description": CITATIONS_FORM_DESCRIPTION})


class CitationsQueryArgsSchema(Schema):
    version = fields.String(validate=validate.Length(min=1, max=128), metadata={
        "description": "A rule-set version (ruleset_version of an answer); default: the version serving now."})


class CitationTextSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "law or policy"})
    law = fields.String(required=True)
    law_en = fields.String(required=True)
    article = fields.String(required=True)
    item = fields.String(required=True, allow_none=True)
    text = fields.String(required=True, metadata={"description": "The provision's verbatim text (Chinese)."})
    effective_from = fields.Date(required=True)
    effective_to = fields.Date(required=True, allow_none=True)


class CitationsSchema(Schema):
    ruleset_version = fields.String(required=True)
    citations = fields.Dict(keys=fields.String(), values=fields.Nested(CitationTextSchema), required=True,
                            metadata={"description": "Every provision the version can cite, by catalog ref."})
