"""GET /v1/notifications (polling), POST /v1/sla/sweep, and their commands (the worker,
service/tools/worker.py, runs both by itself)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from flask.views import MethodView
from sqlalchemy import select

from schemas.ledger import (NotificationPageSchema, NotificationQueryArgsSchema, SweepRequestSchema,
                            SweepResultSchema)
from schemas.fields import AsOf
from service.http.api import Blueprint
from service.http.examples import request_examples
from service.record import db
from service.clock import utcnow
from service.decide.evaluation import default_as_of
from service.record.models import Notification
from service.record.notifications import WebhookSettings, deliver_due, webhook_signer
from service.record.sla import sweep

blp = Blueprint("notifications", __name__, url_prefix="/v1", description="Notifications and the SLA sweep")


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationQueryArgsSchema(), location="query")
    @blp.response(200, NotificationPageSchema)
    @blp.doc(operationId="listNotifications")
    def get(self, args):
        """Notifications for a recipient, oldest first (poll with `after`)."""
        query = select(Notification)
        for arg, column in (("recipient_role", Notification.recipient_role),
                            ("recipient_id", Notification.recipient_id),
                            ("case_id", Notification.case_id), ("kind", Notification.kind),
                            ("status", Notification.status)):
            if arg in args:
                query = query.where(column == args[arg])
        if "after" in args:
            query = query.where(Notification.created_at > args["after"])
        with db.session() as session:
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
        with db.session() as session, session.begin():
            return sweep(session, body.get("as_of") or default_as_of())


def webhook_settings(app=None) -> WebhookSettings | None:
    config = (app or current_app).config
    if not config.get("WEBHOOK_URL"):
        return None
    webhook_signer(config["WEBHOOK_SECRET"])  # a bad secret is named now, not at the first delivery
    return WebhookSettings(url=config["WEBHOOK_URL"], secret=config["WEBHOOK_SECRET"],
                           max_attempts=int(config["WEBHOOK_MAX_ATTEMPTS"]),
                           backoff_seconds=float(config["WEBHOOK_BACKOFF_SECONDS"]))


notifications_cli = AppGroup("notifications", help="The notification outbox.")


@notifications_cli.command("deliver")
def deliver_command():
    """Deliver every due notification to WEBHOOK_URL once (the worker does this every few seconds)."""
    settings = webhook_settings()
    if settings is None:
        raise click.UsageError("WEBHOOK_URL is not set: notifications can only be polled.")
    counts = deliver_due(current_app.extensions["db_sessions"], settings, utcnow())
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


sla_cli = AppGroup("sla", help="Approval deadlines in working days.")


@sla_cli.command("sweep")
@click.option("--as-of", "as_of", help="Date to sweep as of (default: today in China).")
def sweep_command(as_of):
    """Find steps overdue as of a date and queue notifications (once per step and deadline)."""
    from service.tools.cli import serving_rulebook
    serving_rulebook()
    day = AsOf().deserialize(as_of) if as_of else default_as_of()
    with current_app.extensions["db_sessions"]() as session, session.begin():
        counts = sweep(session, day)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items() if k != "notifications" and (k != "dry_run" or v)))
    for planned in counts.get("notifications", ()):  # a dry run: what it would queue
        click.echo("would notify " + " ".join(f"{k}={v}" for k, v in planned.items()))
