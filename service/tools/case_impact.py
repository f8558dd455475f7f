"""`rules diff` beyond the fixtures: the open cases whose next step's verdict would change under
the candidate rules.

Each open case's next step is decided under both rule sets exactly as the daily re-check
decides it (service/record/rechecks.py `decide_next_step`), on the same day, with the employee
facts the service keeps sealed for that re-check. Only case ids, steps, verdicts and rule ids
leave this module: the facts may be health facts (PIPL Art. 28) and are never printed, and an
error is named by its type alone, since its message could quote a fact. Nothing is written:
the re-check's own state (last verdict, notifications) is the worker's.

There are no tenants yet: one database is one tenant, so the report is one group.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.record.case_trail import LedgerDisagreement
from service.record.ledger import accepted_events
from service.record.models import Case, CaseRecheck
from service.record.recheck_keys import RecheckKeyError
from service.record.rechecks import decide_next_step, kept_employee


@dataclass
class NextStep:
    """A case's next step and its verdict under one rule set; step None when that rule set's
    case states close the case (nothing is left to decide)."""
    step: str | None
    verdict: str | None
    rule_ids: list[str] = field(default_factory=list)   # the findings that make the verdict
    error: str | None = None                            # the exception's type, never its text

    def shown(self) -> str:
        if self.error:
            return f"error ({self.error})"
        return "closed" if self.step is None else self.verdict


@dataclass
class CaseChange:
    case_id: str
    old: NextStep
    new: NextStep


@dataclass
class CaseImpact:
    as_of: dt.date
    open_cases: int                      # open under either rule set, decided under both
    changes: list[CaseChange]            # those whose verdict (or step) differs
    skipped: list[str]                   # case ids whose kept facts no configured key opens, or whose
                                         # case_events differ from the trail (service.record.case_trail)


def case_impact(session: Session, old_book, new_book, as_of: dt.date, progress=None, keys=None) -> CaseImpact:
    """Every case open under either rule set, its next step decided under both as of `as_of`.
    `keys`: the re-check keys that open the kept facts (default: the app's)."""
    keys = keys or current_app.extensions["recheck_keys"]
    cases = list(session.scalars(select(Case).order_by(Case.tenant_id, Case.id)))  # every tenant's
    changes, skipped, open_cases = [], [], 0
    for done, case in enumerate(cases, start=1):
        try:
            events = accepted_events(session, case.id, tenant_id=case.tenant_id)
        except LedgerDisagreement:  # its rows are not the trail's: decided on nothing, said so
            skipped.append(case.id)
            continue
        if not all(_closed(book, events) for book in (old_book, new_book)):
            open_cases += 1
            row = session.get(CaseRecheck, (case.tenant_id, case.id))
            try:
                employee = kept_employee(row, keys) if row is not None else None
            except RecheckKeyError:
                # Deciding without the facts could hide a deny they make: say it was not decided.
                skipped.append(case.id)
            else:
                old, new = (_next_step(book, case, events, employee, as_of) for book in (old_book, new_book))
                if (old.step, old.verdict, old.error) != (new.step, new.verdict, new.error):
                    changes.append(CaseChange(case.id, old, new))
        if progress is not None:
            progress(done, len(cases))
    return CaseImpact(as_of, open_cases, changes, skipped)


def _closed(book, events: list[dict]) -> bool:
    machine = book.context.classification.machine
    return machine.closed(machine.run(events))


def _next_step(book, case: Case, events: list[dict], employee: dict | None, as_of: dt.date) -> NextStep:
    if _closed(book, events):
        return NextStep(None, None)
    try:
        _, step, _, outcome = decide_next_step(book, case, events, employee, as_of)
    except Exception as exc:  # noqa: BLE001 (a rule set this code cannot decide with is that side's answer)
        return NextStep(None, None, error=type(exc).__name__)
    deciding = sorted({f["rule_id"] for f in outcome.findings if f["verdict"] == outcome.verdict})
    return NextStep(step, outcome.verdict, deciding)


def print_case_impact(impact: CaseImpact | None, not_compared: str | None, echo) -> None:
    if impact is None:
        echo(f"\nOpen cases: not compared ({not_compared}).")
        return
    echo(f"\nOpen cases whose next step's verdict changes ({len(impact.changes)} of {impact.open_cases} "
         f"open case(s), decided as of {impact.as_of.isoformat()} with the facts kept for their re-check):")
    for change in impact.changes:
        old, new = change.old, change.new
        step = old.step or new.step or ""
        if old.step and new.step and old.step != new.step:
            step = f"{old.step} -> {new.step}"
        echo(f"  {change.case_id:<24} {step:<32} {old.shown()}  ->  {new.shown()}")
        plus, minus = sorted(set(new.rule_ids) - set(old.rule_ids)), sorted(set(old.rule_ids) - set(new.rule_ids))
        if plus or minus:
            echo(f"        rules {' '.join('+' + r for r in plus)} {' '.join('-' + r for r in minus)}".rstrip())
    if impact.skipped:
        echo(f"  Not decided ({len(impact.skipped)}): no configured re-check key opens the facts kept for "
             f"{', '.join(impact.skipped)} (RECHECK_OLD_KEYS), or their case_events differ from the trail "
             "(trail verify names how).")
