"""A derived fact left unknown, and the request fields that decide it.

A derivation that gives up knows why: the maternity leave is unknown because the dystocia decides
it on that day, the probation because neither its end nor the EHR's flag is given. It returns
`Unknown(...)` naming those request fields (paths into the check request, e.g.
`employee.childbirth.dystocia`, `case.events`) instead of None. The fact stays absent, so the rules
see it as unknown; a warn names the fields, not the derived fact the EHR cannot send
(service/decide/verdicts.py `missing_facts`).

The fields named must together decide the fact (any values of them make it known, on that day),
and each must be one that can change it: name what is missing, not everything the fact reads.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unknown:
    fields: tuple[str, ...]

    def __init__(self, *fields: str) -> None:
        object.__setattr__(self, "fields", tuple(dict.fromkeys(fields)))


def known(value):
    """The value, or None for an Unknown: for a derivation that reads another one's result."""
    return None if isinstance(value, Unknown) else value
