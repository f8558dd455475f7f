"""The SLA sweep: steps overdue as of a day, each notified once per step and deadline (the
sweep itself: service/record/sla.py). The worker runs it every minute; POST /v1/sla/sweep and
`separation-guard sla sweep` run it on demand."""
from __future__ import annotations

import datetime as dt

from flask import Flask

from service.clock import utcnow
from service.record.sla import sweep


def sweep_overdue(app: Flask, as_of: dt.date) -> dict:
    """One sweep as of `as_of`, in one transaction. As of a day after today in China it is a dry
    run: it queues nothing and lists what it would."""
    with app.extensions["db_sessions"]() as session, session.begin():
        return sweep(session, app.extensions["rulebook"], as_of, utcnow())
