"""Fairness between tenants in the worker: the SLA sweep and the daily re-check take each
tenant's cases in turn, a batch at a time, each batch in its own transaction, in a session of
that tenant (under row-level security it sees that tenant's rows only).

A company with 100,000 open cases must not hold up one with ten (issue 22): every tenant's first
batch is decided before any tenant's second, so a run cut short by a budget has still visited
every tenant, and one tenant's slow batch holds no lock on another's rows.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.record.db import tenant_info
from service.record.models import Case

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


def cases_by_tenant(session: Session, tenant: str | None = None) -> dict[str, list[str]]:
    """Every case's id (of `tenant` only, when given), by tenant, in id order."""
    query = select(Case.tenant_id, Case.id).order_by(Case.tenant_id, Case.id)
    queues: dict[str, list[str]] = {}
    for tenant_id, case_id in session.execute(query if tenant is None else query.where(Case.tenant_id == tenant)):
        queues.setdefault(tenant_id, []).append(case_id)
    return queues


def run_fair(sessions, step: Callable[[Session, str, list[str]], dict], *, tenant: str | None = None,
             batch: int = BATCH, seconds: float | None = None, max_batches: int | None = None) -> dict:
    """Run `step(session, tenant, case ids)` over every tenant's cases (of `tenant` only, when
    given) in round-robin batches, each in its own transaction in a session of its tenant, and add
    up the counts it returns (numbers summed, lists joined). Stops after `seconds` or `max_batches`
    if given (`cut_short`: the rest waits for the next run, which starts again from every tenant's
    first case); the worker runs whole passes."""
    with sessions(**({} if tenant is None else {"info": tenant_info(tenant)})) as session:
        queues = cases_by_tenant(session, tenant)
    totals: dict = {}
    done, cut_short = 0, False
    deadline = None if seconds is None else time.monotonic() + seconds
    for tenant_id, case_ids in round_robin(queues, batch):
        if (max_batches is not None and done >= max_batches) or \
                (deadline is not None and time.monotonic() >= deadline):
            cut_short = True
            break
        with sessions(info=tenant_info(tenant_id)) as session, session.begin():
            counts = step(session, tenant_id, case_ids)
        done += 1
        for name, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, (int, list)):
                totals.setdefault(name, value)
            else:
                totals[name] = totals.get(name, type(value)()) + value
    totals.update(tenants=len(queues), batches=done)
    if cut_short:
        totals["cut_short"] = True
    return totals
