"""The daily re-check: every open case's next step decided again as of today in China, with the
employee facts kept for it, and HR told of each changed verdict (the re-check itself:
service/record/rechecks.py). The worker runs it once a day, after the SLA sweep."""
from __future__ import annotations

import datetime as dt

from flask import Flask

from service.flows.fair import run_fair
from service.record.rechecks import recheck_open_cases


def recheck(app: Flask, as_of: dt.date, now: dt.datetime, **budget) -> dict:
    """One re-check of every open case: each tenant's cases in turn, a batch per transaction
    (service/flows/fair.py; `budget`: its max_batches or seconds)."""
    rulebook, keys = app.extensions["rulebook"], app.extensions["recheck_keys"]
    counts = run_fair(app.extensions["db_sessions"], lambda session, tenant, case_ids: recheck_open_cases(
        session, as_of, now, rulebook=rulebook, keys=keys, tenant_id=tenant, case_ids=case_ids), **budget)
    ordered = {"as_of": as_of.isoformat(), "cases_checked": 0, "cases_skipped": 0, "verdicts_changed": 0,
               "notifications_created": 0}
    return {**ordered, **counts}
