"""The proposed action of a check request, and who acts."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import one_of as _one_of
from schemas.fields import ACTION_TYPES, ROLES, Day, Identifier, StrictBoolean, StrictInteger


class ActorSchema(Schema):
    id = Identifier(required=True)
    role = fields.String(required=True, validate=_one_of(ROLES))
    department = Identifier(
                               metadata={"description": "The actor's department, for approval-scope rules."})


# The statutory ground an action relies on: article and item of the Labor Contract Law
# (art39_2 = Art. 39 item 2), or statutory_retirement (Implementing Regulation Art. 21).
GROUNDS = (
    "art37", "art37_probation",
    *(f"art38_{i}" for i in range(1, 7)), "art38_para2",
    *(f"art39_{i}" for i in range(1, 7)),
    *(f"art40_{i}" for i in range(1, 4)),
    *(f"art41_{i}" for i in range(1, 5)),
    "statutory_retirement",
)


class LayoffSchema(Schema):
    consulted_on = Day(metadata={
        "description": "向工会或者全体职工说明情况之日 / Date the union or all staff were briefed and heard "
                       "(at least 30 days ahead, LCL-41)."})
    reported_to_labor_authority = StrictBoolean(metadata={
        "description": "裁减人员方案已向劳动行政部门报告 / The layoff plan was reported to the labour authority (LCL-41)."})
    headcount_reduced = StrictInteger(validate=validate.Range(min=1, max=10_000_000), metadata={
        "description": "裁减人员总数 / How many employees the layoff plan lets go: an economic layoff needs 20 or more, "
                       "or 10% or more of total_headcount (LCL-41 para 1)."})
    total_headcount = StrictInteger(validate=validate.Range(min=1, max=10_000_000), metadata={
        "description": "企业职工总数 / Total headcount of the enterprise (LCL-41 para 1)."})
    others_in_role_retained = StrictBoolean(metadata={
        "description": "同岗位有其他人员被留用 / Others in the same role are kept while this employee is let go "
                       "(LCL-41 para 2: the retention priorities)."})
    longer_fixed_term = StrictBoolean(metadata={
        "description": "固定期限劳动合同期限较长 / The employee's fixed-term contract is longer than those of the people "
                       "kept in the same role (LCL-41 para 2 item 1)."})

    @validates_schema
    def _reduced_within_total(self, data, **kwargs):
        if "headcount_reduced" in data and "total_headcount" in data and data["headcount_reduced"] > data["total_headcount"]:
            raise ValidationError("must not exceed total_headcount", "headcount_reduced")


class ActionSchema(Schema):
    type = fields.String(required=True, validate=_one_of(ACTION_TYPES),
                         metadata={"description": "The action the EHR is about to take."})
    effective_date = Day(metadata={
        "description": "The day the separation takes effect (the last day of employment); default: as_of. "
                       "Notice periods and contract expiry are counted to it."})
    actor = fields.Nested(ActorSchema)
    ground = fields.String(validate=_one_of(GROUNDS), metadata={
        "description": "解除或终止的法定理由 / Statutory ground: art39_1..6 (dismissal for cause), art40_1..3 "
                       "(with notice), art41_1..4 (economic layoff), art37 or art37_probation (the employee's own "
                       "resignation with notice, no ground needed), art38_1..6 or art38_para2 (the employee's "
                       "termination for the employer's fault), statutory_retirement (LCLIR-21). For "
                       "execute_offboarding of an employer_termination case it decides the legal basis."})
    union_notified = StrictBoolean(metadata={
        "description": "已事先将理由通知工会 / The union was told the reasons in advance (LCL-43)."})
    notice_served_on = Day(metadata={
        "description": "书面通知送达劳动者本人之日 / Day the written Art. 40 notice reached the employee."})
    pay_in_lieu = StrictBoolean(metadata={
        "description": "额外支付一个月工资代替提前通知 / One month's wage paid instead of 30 days' notice (LCL-40, LCLIR-20)."})
    agreement_signed = StrictBoolean(metadata={
        "description": "已签订书面解除协议 / A written termination agreement is signed (LCL-36)."})
    initiated_by = fields.String(validate=_one_of(("employer", "employee")), metadata={
        "description": "提出方 / Who proposed a mutual termination: the employer owes severance if it did (LCL-46(2))."})
    renewal_offer = fields.String(validate=_one_of(("none", "same_or_better_terms", "lower_terms")), metadata={
        "description": "续订要约 / At expiry: none (the employer does not renew), same_or_better_terms (offered and "
                       "the employee declined: no severance, LCL-46(5)), lower_terms (offered on lower terms)."})
    reasons_stated = StrictBoolean(metadata={
        "description": "已向劳动者说明理由 / The employer has told the employee its reasons for terminating: required "
                       "for a termination in probation (LCL-21)."})
    layoff = fields.Nested(LayoffSchema, metadata={"description": "Economic layoff procedure (LCL-41)."})
