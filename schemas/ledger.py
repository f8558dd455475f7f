"""The case ledger's contract: recording an event, reading a case, polling notifications."""
from __future__ import annotations

from marshmallow import Schema, fields, post_dump, validate

from schemas.check import ASSUMED_DESCRIPTION, AssumedSchema, FindingSchema, ReceiptSchema
from schemas.errors import FieldErrorSchema
from schemas.fields import CASE_KINDS, VERDICTS, AsOf, AwareDateTime, one_of
from schemas.request_contract import shipped


# The schema served is built from the rule set's vocabulary (schemas/request_contract.py, on the
# structure of schemas/requests.py).
CaseEventRequestSchema = shipped().event  # type: ignore[misc]


class CaseEventSchemaOut(Schema):
    seq = fields.Integer(required=True)
    accepted = fields.Boolean(required=True)
    type = fields.String(required=True)
    at = fields.String(required=True, metadata={"description": "RFC 3339 date-time"})
    received_at = fields.String(metadata={"description": "RFC 3339 date-time the declaration arrived, when given"})
    actor = fields.Dict(required=True)
    form = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    recorded_at = fields.String(required=True, metadata={"description": "RFC 3339 date-time"})
    decision_id = fields.String(required=True)
    client_key = fields.String(required=True)


class CaseStatusSchema(Schema):
    status = fields.String(required=True, metadata={"description": "open, submitted, approved, rejected, withdrawal_pending, "
                                                                   "withdrawn, void, offboarding, offboarded, archived "
                                                                   "(rules/classification/case_states.yaml)"})
    resignation = fields.String(required=True)
    withdrawal = fields.String(required=True)


class EmployeeFromSchema(Schema):
    event_seq = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The case event whose employee record was used; null when a check naming the case gave it."})
    decision_id = fields.String(required=True, allow_none=True, metadata={
        "description": "The decision whose request gave the facts (GET /v1/decisions/<id>); null when kept "
                       "before the case said so."})
    as_of = fields.String(required=True, allow_none=True, metadata={
        "description": "ISO 8601 date that decision was made as of."})
    recorded_at = fields.String(required=True, allow_none=True, metadata={
        "description": "RFC 3339 date-time the service received the facts."})


EMPLOYEE_FROM_DESCRIPTION = ("Only when the event left the employee record out: it was decided on the facts "
                             "the case keeps, and these are the decision and the event that gave them.")


class EventResultSchema(Schema):
    event = fields.Nested(CaseEventSchemaOut, required=True)
    decision_id = fields.String(required=True)
    verdict = fields.String(required=True, validate=one_of(VERDICTS))
    findings = fields.List(fields.Nested(FindingSchema), required=True)
    case = fields.Nested(CaseStatusSchema, required=True)
    receipt = fields.Nested(ReceiptSchema, required=True)
    assumed = fields.List(fields.Nested(AssumedSchema), metadata={"description": ASSUMED_DESCRIPTION})
    employee_from = fields.Nested(EmployeeFromSchema, metadata={"description": EMPLOYEE_FROM_DESCRIPTION})
    # A refusal (409) is answered through this schema too: it carries the error shape as well.
    code = fields.Integer(metadata={"description": "On a refusal (409) only, as in every error."})
    status = fields.String(metadata={"description": "On a refusal (409) only."})
    message = fields.String(metadata={"description": "On a refusal (409) only."})
    errors = fields.List(fields.Nested(FieldErrorSchema), metadata={
        "description": "On a refusal (409) only: empty, the event and not a field is refused."})

    @post_dump
    def _errors_with_a_refusal(self, data, **kwargs):
        if "code" in data:
            data.setdefault("errors", [])
        return data


_ONLY_WHEN_REFUSED = "Only when the rules refused the event, not when the case contradicts the request."


class EventConflictSchema(EventResultSchema):
    """409: refused by the rules (recorded: the error shape with everything a 201 carries), or the
    case contradicts the request (the error shape alone)."""

    event = fields.Nested(CaseEventSchemaOut, metadata={"description": _ONLY_WHEN_REFUSED})
    decision_id = fields.String(metadata={"description": _ONLY_WHEN_REFUSED})
    verdict = fields.String(validate=one_of(VERDICTS), metadata={"description": _ONLY_WHEN_REFUSED})
    findings = fields.List(fields.Nested(FindingSchema), metadata={"description": _ONLY_WHEN_REFUSED})
    case = fields.Nested(CaseStatusSchema, metadata={"description": _ONLY_WHEN_REFUSED})
    receipt = fields.Nested(ReceiptSchema, metadata={"description": _ONLY_WHEN_REFUSED})
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True, metadata={
        "description": "Empty: the event and not a field is refused."})


class CaseQueryArgsSchema(Schema):
    as_of = AsOf(metadata={"description": "Pending steps and findings as of this date; default: today."})


class CaseViewSchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True, validate=one_of(CASE_KINDS))
    employee_id = fields.String(required=True)
    hr_owner_id = fields.String(required=True, allow_none=True)
    manager_id = fields.String(required=True, allow_none=True)
    as_of = fields.Date(required=True)
    status = fields.Nested(CaseStatusSchema, required=True)
    events = fields.List(fields.Nested(CaseEventSchemaOut), required=True)
    pending = fields.Dict(required=True, metadata={"description": "The step awaiting a decision: its deadline in working "
                                                                  "days, whether it is overdue, whom to remind."})
    findings = fields.List(fields.Nested(FindingSchema), required=True)


NOTIFICATION_KINDS = ("status_changed", "event_refused", "step_overdue", "step_escalated", "recheck_changed")
# sending: claimed by a delivery pass that has not recorded its outcome yet.
NOTIFICATION_STATUSES = ("pending", "sending", "delivered", "dead")


class NotificationQueryArgsSchema(Schema):
    recipient_role = fields.String()
    recipient_id = fields.String()
    case_id = fields.String()
    kind = fields.String(validate=one_of(NOTIFICATION_KINDS))
    status = fields.String(validate=one_of(NOTIFICATION_STATUSES))
    after = AwareDateTime(metadata={"description": "Created after this time (RFC 3339, with offset)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class NotificationSchema(Schema):
    id = fields.String(required=True, metadata={"description": "Also the webhook-id of every delivery attempt"})
    created_at = fields.DateTime(required=True)
    kind = fields.String(required=True, validate=one_of(NOTIFICATION_KINDS), metadata={
        "description": "status_changed, event_refused, step_overdue (to the pending approver), step_escalated (a "
                       "working day later, to the step's escalate_to), recheck_changed (the daily re-check, to HR)"})
    case_id = fields.String(required=True, allow_none=True)
    employee_id = fields.String(required=True, allow_none=True)
    recipient_role = fields.String(required=True)
    recipient_id = fields.String(required=True, allow_none=True)
    payload = fields.Dict(required=True, metadata={"description": "Always a bilingual `message` {zh, en}, plus the case's details"})
    status = fields.String(required=True, validate=one_of(NOTIFICATION_STATUSES),
                           metadata={"description": ", ".join(NOTIFICATION_STATUSES)})
    attempts = fields.Integer(required=True)
    delivered_at = fields.DateTime(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)


class NotificationPageSchema(Schema):
    notifications = fields.List(fields.Nested(NotificationSchema), required=True)


class SweepRequestSchema(Schema):
    as_of = AsOf(metadata={"description": "Find steps overdue as of this date; default: today. A day after "
                                          "today in China is a dry run."})


class PlannedNotificationSchema(Schema):
    kind = fields.String()
    case_id = fields.String()
    recipient_role = fields.String()
    recipient_id = fields.String(allow_none=True)
    step = fields.String()
    due_on = fields.String(metadata={"description": "ISO 8601 date"})
    reason = fields.String(metadata={"description": "pending_approver, hr_owner or escalation"})


class SweepResultSchema(Schema):
    as_of = fields.Date(required=True)
    dry_run = fields.Boolean(required=True, metadata={"description": (
        "true when as_of is after today in China: nothing is queued or recorded, and `notifications` "
        "lists what a sweep on that day would queue (less what is queued already)")})
    cases_checked = fields.Integer(required=True)
    overdue_steps = fields.Integer(required=True)
    notifications_created = fields.Integer(required=True, metadata={"description": "Queued by this sweep (0 in a dry run)"})
    notifications = fields.List(fields.Nested(PlannedNotificationSchema), metadata={
        "description": "Only in a dry run: the notifications the sweep would queue"})
