"""A plain-Python interpreter of the durable-rules condition dicts RuleEngine receives.

Benchmark-only: it measures what durable-rules costs over the simplest evaluation of the same
compiled conditions. The service must never import it (it has no lock, no catch-all, none of
the engine's validation). Semantics follow what the engine does (probed in bench_engine.py's
agreement check over the whole mix):

- `{"a.b": v}` equality on the dotted path; `$neq`, `$lt`, `$lte`, `$gt`, `$gte` hold only when
  the attribute is present (an absent fact is unknown, never "not equal");
- `$ex` / `$nex`: present / absent;  `$and` / `$or`: lists.
"""
from __future__ import annotations

import operator

_MISSING = object()

_COMPARE = {"$neq": operator.ne, "$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}


def _flatten(node: dict, prefix: str, out: dict) -> dict:
    """The nested fact as {"a.b": value}: one pass per check, then every test is one dict lookup."""
    for key, value in node.items():
        name = prefix + key
        if isinstance(value, dict):
            _flatten(value, name + ".", out)
        else:
            out[name] = value
    return out


def compile_condition(condition: dict):
    """Turn one condition dict into a closure flat_fact -> bool."""
    if len(condition) != 1:
        return _all([compile_condition({k: v}) for k, v in condition.items()])
    (key, value), = condition.items()
    if key == "$and":
        return _all([compile_condition(c) for c in value])
    if key == "$or":
        return _any([compile_condition(c) for c in value])
    if key == "$ex":
        (name, _), = value.items()
        return lambda fact: name in fact
    if key == "$nex":
        (name, _), = value.items()
        return lambda fact: name not in fact
    if key in _COMPARE:
        (name, literal), = value.items()
        op = _COMPARE[key]

        def compare(fact):
            found = fact.get(name, _MISSING)
            return found is not _MISSING and op(found, literal)
        return compare
    if key.startswith("$"):
        raise ValueError(f"operator {key} is not used by the service's compiler")

    def equal(fact):
        found = fact.get(key, _MISSING)
        return found is not _MISSING and found == value
    return equal


def _all(tests):
    def conjunction(fact):
        for test in tests:
            if not test(fact):
                return False
        return True
    return conjunction


def _any(tests):
    def disjunction(fact):
        for test in tests:
            if test(fact):
                return True
        return False
    return disjunction


class PlainRules:
    """Same constructor argument and `fire` result as service.decide.engine.RuleEngine."""

    def __init__(self, conditions: dict[str, dict]):
        self._tests = [(key, compile_condition(condition)) for key, condition in conditions.items()]

    def fire(self, fact: dict) -> list[str]:
        flat = _flatten(fact, "", {})
        return [key for key, test in self._tests if test(flat)]
