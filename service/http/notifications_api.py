"""GET /v1/notifications (polling) and POST /v1/sla/sweep (service/flows/sla_sweep.py; the
worker, service/tools/worker.py, sweeps and delivers by itself)."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from sqlalchemy import select

from schemas.ledger import (NotificationPageSchema, NotificationQueryArgsSchema, SweepRequestSchema,
                            SweepResultSchema)
from service.http.api import Blueprint
from service.http.examples import request_examples
from service.record import db
from service.decide.evaluation import default_as_of
from service.record.models import Notification
from service.flows.sla_sweep import sweep_overdue
from service.tenants import DEFAULT_TENANT

blp = Blueprint("notifications", __name__, url_prefix="/v1", description="Notifications and the SLA sweep")


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationQueryArgsSchema(), location="query")
    @blp.response(200, NotificationPageSchema)
    @blp.doc(operationId="listNotifications")
    def get(self, args):
        """Notifications for a recipient, oldest first (poll with `after`)."""
        tenant = g.get("tenant", DEFAULT_TENANT)
        query = select(Notification).where(Notification.tenant_id == tenant)  # never another tenant's
        for arg, column in (("recipient_role", Notification.recipient_role),
                            ("recipient_id", Notification.recipient_id),
                            ("case_id", Notification.case_id), ("kind", Notification.kind),
                            ("status", Notification.status)):
            if arg in args:
                query = query.where(column == args[arg])
        if "after" in args:
            query = query.where(Notification.created_at > args["after"])
        with db.read_session(tenant) as session:
            rows = list(session.scalars(query.order_by(Notification.created_at, Notification.id)
                                        .limit(args["limit"])))
        return {"notifications": rows}


@blp.route("/sla/sweep")
class SlaSweep(MethodView):
    @blp.arguments(SweepRequestSchema(), examples=request_examples("runSlaSweep"))
    @blp.response(200, SweepResultSchema)
    @blp.doc(operationId="runSlaSweep")
    def post(self, body):
        """Find steps overdue as of a date and notify once per step and deadline.

        As of a day after today in China it is a dry run: it queues nothing and lists what it would.
        """
        return sweep_overdue(current_app._get_current_object(), body.get("as_of") or default_as_of(),
                             tenant=g.get("tenant", DEFAULT_TENANT))
