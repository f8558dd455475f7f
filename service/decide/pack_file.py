"""The shape of a pack's own file, rules/companies/<tenant>/pack.yaml: who the pack is for and the
company's settings that are not rules (webhook, regions of operation). Checked when the pack is
loaded and published as rules/_schemas/pack.schema.json (service/tools/json_schemas.py).

The webhook's secret is never in the pack: `secret_env` names the environment variable that holds
it, so a pack can be reviewed, versioned and recorded in the trail like any rule file."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from schemas.data_files import header_fields
from schemas.fields import CN_REGIONS

# A tenant id as service.tenants.TENANT_ID has it, and short enough for the answer's
# ruleset_version (<statutes>+<tenant>@<pack digest>) to fit the trail's 80-character column.
TENANT_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,42})$"


class WebhookSchema(Schema):
    class Meta:
        unknown = RAISE

    endpoint = fields.Url(required=True, schemes={"https"}, metadata={
        "description": "Where the company's notifications are delivered (https only)."})
    secret_env = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z][A-Z0-9_]*$", error="the NAME of an environment variable (upper-case letters, digits, '_'), "
                                    "never the secret itself"), metadata={
        "description": "The environment variable holding the webhook's signing secret (a reference, never the secret)."})


class PackFileSchema(Schema):
    class Meta:
        unknown = RAISE
        include = header_fields("pack/v1", "pack")

    tenant = fields.String(required=True, validate=validate.Regexp(TENANT_PATTERN), metadata={
        "description": "The tenant the pack is for: the folder's own name."})
    owner = fields.String(required=True, validate=validate.Length(min=1), metadata={
        "description": "Who at the company answers for the pack (a team, not a person's data)."})
    regions = fields.List(fields.String(validate=validate.OneOf(CN_REGIONS)), required=True,
                          validate=validate.Length(min=1), metadata={
                              "description": "Regions of operation, ISO 3166-2:CN codes."})
    webhook = fields.Nested(WebhookSchema, metadata={"description": "The company's notification endpoint."})
