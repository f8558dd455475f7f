"""Facts the statutory protections read: protected periods and statuses, as of the check."""
from __future__ import annotations

import datetime as dt

from service.facts.context import FactContext
from service.periods import nursing_period


def derive(request: dict, as_of: dt.date, context: FactContext) -> dict:
    employee = request["employee"]
    return {
        "employee.pregnancy.status": _known(employee.get("pregnancy", {}).get("status")),
        "employee.medical_treatment.status": _known(employee.get("medical_treatment", {}).get("status")),
        "derived.nursing_period.active": _nursing(employee, as_of, context),
    }


def _nursing(employee: dict, as_of: dt.date, context: FactContext) -> bool | None:
    children = employee.get("children")
    if children is None:
        return None
    return any(nursing_period(child["birth_date"], context.parameters).contains(as_of)
               for child in children)


def _known(status):
    return None if status in (None, "unknown") else status
