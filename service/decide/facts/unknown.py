"""A derived fact left unknown, and the request fields that decide it.

A derivation that gives up knows why: the maternity leave is unknown because the dystocia decides
it on that day, the probation because neither its end nor the EHR's flag is given. It returns
`Unknown(...)` naming those request fields (paths into the check request, e.g.
`employee.childbirth.dystocia`, `case.events`) instead of None. The fact stays absent, so the rules
see it as unknown; a warn names the fields, not the derived fact the EHR cannot send
(service/decide/verdicts.py `missing_facts`). `Unknown()` with no field: nothing the request could
add decides it (a region whose rule is not encoded).

The fields named must together decide the fact (any values of them make it known, on that day),
and each must be one that can change it: name what is missing, not everything the fact reads.
Where finding them takes trying values, `Unknown(find=...)` defers it to a warn that asks.
"""
from __future__ import annotations

from typing import Callable, Iterable


class Unknown:
    __slots__ = ("_fields", "_find")

    def __init__(self, *fields: str, find: Callable[[], Iterable[str]] | None = None) -> None:
        self._fields = None if find is not None else tuple(dict.fromkeys(fields))
        self._find = find

    @property
    def fields(self) -> tuple[str, ...]:
        if self._fields is None:  # found once, the first time a warn or the trail asks
            self._fields = tuple(dict.fromkeys(self._find()))
            self._find = None
        return self._fields

    def __eq__(self, other) -> bool:
        return isinstance(other, Unknown) and self.fields == other.fields

    def __hash__(self) -> int:
        return hash(self.fields)

    def __repr__(self) -> str:
        return f"Unknown{self.fields!r}"
