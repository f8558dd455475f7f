"""Derive the facts a check is decided on, as of the request's date.

Rules compare simple values; the date arithmetic that turns birthdays, contracts and case
events into those values lives here, one module per rule family. Nothing here reads the
clock: `as_of` comes from the request. A fact the request does not give (or gives as
"unknown") is left out, never guessed: rules see an absent fact as unknown. A derived fact left
out is kept in `Facts.decided_by` with the request fields that decide it (facts/unknown.py).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from service.decide import derivations as declared
from service.decide.facts import labor_law, process
from service.decide.facts.separation import basis_decided_by, separation_basis
from service.decide.facts.context import FactContext
from service.decide.facts.unknown import Unknown

__all__ = ["Facts", "FactContext", "Unknown", "derive_facts"]


@dataclass(frozen=True)
class Facts:
    as_of: dt.date
    values: dict  # dotted fact name -> value; absent means unknown
    given: frozenset = frozenset()  # the request's field paths (employee.children, case, ...)
    # fact name -> catalog refs of the regional provisions its value rested on (a Shanghai birth
    # past the national 98 days: REG-SH-ML); a finding reading the fact cites them.
    rested_on: dict = field(default_factory=dict)
    # Derived fact (or range) left unknown -> Unknown: the request fields that decide it
    # (facts/unknown.py; `.fields`, found when a warn asks).
    decided_by: dict = field(default_factory=dict)

    def engine_fact(self) -> dict:
        """The nested document asserted into durable-rules."""
        doc: dict = {"check": {"as_of": self.as_of.isoformat()}}
        for name, value in self.values.items():
            node = doc
            *parents, leaf = name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = _engine_number(value)
        return doc


def _engine_number(value):
    # The engine's JSON parser cannot read exponents (json.dumps writes 1e-07): fixed point.
    if isinstance(value, float):
        return float(f"{value:.4f}")
    return value


def derive_facts(request: dict, as_of: dt.date, context: FactContext, on: dt.date | None = None) -> Facts:
    """`on`: the day the employee's date-dependent statuses are judged (default as_of); the law,
    and the engine's `check.as_of`, stay those of as_of."""
    action = request["action"]
    values: dict = {}
    decided_by: dict = {}
    # Request facts are copied as they are: every one the vocabulary declares (rules/facts/).
    for name, path in context.vocabulary.request_facts:
        put(values, name, labor_law.request_value(request, path))
    basis = separation_basis(context.classification, action["type"], request.get("case"), action.get("ground"))
    derived = {"derived.separation.basis": basis if basis is not None else Unknown(
        *basis_decided_by(context.classification, action["type"], request.get("case"), action.get("ground")))}
    rested: dict = {}
    derived.update(labor_law.derive(request, as_of, context, on, rested))
    derived.update(process.derive(request, as_of, context))
    for name, value in derived.items():
        put(values, name, value, decided_by)
    # Then the derivations the vocabulary declares, which may read any fact above.
    declared.evaluate(context.vocabulary.derivations, values, decided_by, context.vocabulary, as_of, context)
    return Facts(as_of=as_of, values=values, given=frozenset(_paths(request)), decided_by=decided_by,
                 rested_on={name: refs for name, refs in rested.items() if name in values})


def _paths(node: dict, prefix: str = ""):
    """Every field path of the request: what it told the service (lists are not descended)."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if value is not None and value != "unknown":
            yield path
            if isinstance(value, dict):
                yield from _paths(value, f"{path}.")


def put(values: dict, name: str, value, decided_by: dict | None = None) -> None:
    if isinstance(value, Unknown):
        if decided_by is not None:
            decided_by[name] = value
    elif value is not None:
        values[name] = value
