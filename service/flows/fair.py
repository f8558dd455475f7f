"""Fairness between tenants in the worker: the SLA sweep and the daily re-check take each
tenant's open cases in turn, a batch at a time, each batch in its own transaction.

A company with 100,000 open cases must not hold up one with ten (issue 22): every tenant's first
batch is decided before any tenant's second, so a run cut short by its budget has still visited
every tenant, and one tenant's slow batch holds no lock on another's rows.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.record.models import Case
from service.tenants import DEFAULT_TENANT

BATCH = 50  # cases per transaction: short enough that a sweep never holds a tenant's cases long


def round_robin(queues: dict[str, list], batch: int = BATCH) -> Iterator[tuple[str, list]]:
    """(tenant, up to `batch` of its items), one tenant after another in tenant order, round after
    round, until every queue is empty."""
    cursors = {tenant: 0 for tenant in sorted(queues) if queues[tenant]}
    while cursors:
        for tenant in list(cursors):
            start = cursors[tenant]
            yield tenant, queues[tenant][start:start + batch]
            if start + batch >= len(queues[tenant]):
                del cursors[tenant]
            else:
                cursors[tenant] = start + batch


def cases_by_tenant(session: Session) -> dict[str, list[str]]:
    """Every case's id, by tenant, in id order."""
    tenant = getattr(Case, "tenant_id", None)
    if tenant is None:  # before tenants: one company
        return {DEFAULT_TENANT: list(session.scalars(select(Case.id).order_by(Case.id)))}
    queues: dict[str, list[str]] = {}
    for tenant_id, case_id in session.execute(select(tenant, Case.id).order_by(tenant, Case.id)):
        queues.setdefault(tenant_id, []).append(case_id)
    return queues


def cases_of(tenant: str, case_ids: list[str]):
    """The Case rows of one batch, as a select the sweeps iterate."""
    query = select(Case).where(Case.id.in_(case_ids)).order_by(Case.id)
    if hasattr(Case, "tenant_id"):
        query = query.where(Case.tenant_id == tenant)
    return query


def run_fair(sessions, step: Callable[[Session, str, object], dict], *, batch: int = BATCH,
             seconds: float | None = None, max_batches: int | None = None) -> dict:
    """Run `step(session, tenant, select of the batch's cases)` over every tenant's cases in
    round-robin batches, each in its own transaction, and add up the counts it returns (numbers
    summed, lists joined). Stops after `seconds` or `max_batches` if given (`cut_short`: the rest
    waits for the next run, which starts again from every tenant's first case); the worker runs
    whole passes."""
    with sessions() as session:
        queues = cases_by_tenant(session)
    totals: dict = {"tenants": len([q for q in queues.values() if q]), "batches": 0, "cut_short": False}
    deadline = None if seconds is None else time.monotonic() + seconds
    for tenant, case_ids in round_robin(queues, batch):
        if (max_batches is not None and totals["batches"] >= max_batches) or \
                (deadline is not None and time.monotonic() >= deadline):
            totals["cut_short"] = True
            break
        with sessions() as session, session.begin():
            counts = step(session, tenant, cases_of(tenant, case_ids))
        totals["batches"] += 1
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, (int, list)):
                totals.setdefault(name, value)
            else:
                totals[name] = totals.get(name, type(value)()) + value
    return totals
