"""The daily re-check: every open case's next step decided again as of today in China, with the
employee facts kept for it, and HR told of each changed verdict (the re-check itself:
service/record/rechecks.py). The worker runs it once a day, after the SLA sweep."""
from __future__ import annotations

import datetime as dt

from flask import Flask

from service.flows.packs_live import rulebook_for
from service.record.rechecks import recheck_open_cases
from service.tenants import DEFAULT_TENANT


def recheck(app: Flask, as_of: dt.date, now: dt.datetime, tenant: str = DEFAULT_TENANT) -> dict:
    """One re-check of every open case, in one transaction, with the tenant's pack."""
    with app.extensions["db_sessions"]() as session, session.begin():
        return recheck_open_cases(session, as_of, now, rulebook=rulebook_for(app, tenant),
                                  keys=app.extensions["recheck_keys"])
