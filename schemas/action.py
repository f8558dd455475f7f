"""The proposed action of a check request, and who acts.

The structure only: the fields a rule reads (action.type, action.ground, action.actor.role...) are
declared in rules/facts/*.yaml and added when the rules load (schemas/request_contract.py)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema

from schemas.fields import Day, Identifier


class ActorSchema(Schema):
    id = Identifier(required=True)
    department = Identifier(metadata={"description": "The actor's department, for approval-scope rules."})


class LayoffSchema(Schema):
    consulted_on = Day(metadata={
        "description": "向工会或者全体职工说明情况之日 / Date the union or all staff were briefed and heard "
                       "(at least 30 days ahead, LCL-41)."})

    @validates_schema
    def _reduced_within_total(self, data, **kwargs):
        if "headcount_reduced" in data and "total_headcount" in data and data["headcount_reduced"] > data["total_headcount"]:
            raise ValidationError("must not exceed total_headcount", "headcount_reduced")


class ActionSchema(Schema):
    effective_date = Day(metadata={
        "description": "The day the separation takes effect (the last day of employment); default: as_of. "
                       "Notice periods and contract expiry are counted to it."})
    actor = fields.Nested(ActorSchema)
    notice_served_on = Day(metadata={
        "description": "书面通知送达劳动者本人之日 / Day the written Art. 40 notice reached the employee."})
    layoff = fields.Nested(LayoffSchema, metadata={"description": "Economic layoff procedure (LCL-41)."})
