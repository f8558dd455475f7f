"""Compile a rule's `when:` block into a durable-rules condition.

The legal team writes conditions in a small YAML language:

    when:
      derived.separation.basis: {in: [with_notice, economic_layoff]}
      employee.gender: female
      any:
        - employee.pregnancy.status: pregnant
        - derived.nursing_period.active: true

A mapping is a conjunction. `all:` / `any:` take lists of such mappings. A fact maps to a
value (equality) or to operators: eq, ne, in, not_in, lt, lte, gt, gte, known, unknown,
ne_or_unknown, in_or_unknown.

Three-valued on purpose: `ne`, `not_in` and the comparisons hold only for a known value (an
unknown fact is not "not pregnant"). `ne_or_unknown` / `in_or_unknown` also hold when the fact
is unknown: a warning rule uses them to say "not known to be otherwise".

durable-rules accepts unknown operators silently and coerces "true" to true, so everything
is checked here against the fact vocabulary before the engine sees it. This module only
translates; it never evaluates a condition.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from service.vocabulary import Vocabulary

_ORDER_OPS = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
OPERATORS = ("eq", "ne", "in", "not_in", "known", "unknown", "ne_or_unknown", "in_or_unknown", *_ORDER_OPS)


class ConditionError(Exception):
    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class Compiled:
    condition: dict
    facts: list[str] = field(default_factory=list)          # every fact the condition reads
    unknown_tested: list[str] = field(default_factory=list)  # facts whose absence it tests

    def note(self, name: str, unknown: bool = False) -> None:
        if name not in self.facts:
            self.facts.append(name)
        if unknown and name not in self.unknown_tested:
            self.unknown_tested.append(name)


def compile_condition(when, vocabulary: Vocabulary) -> Compiled:
    out = Compiled(condition={})
    out.condition = _conjunction(when, vocabulary, out, "when")
    return out


def _conjunction(block, vocab: Vocabulary, out: Compiled, path: str) -> dict:
    if not isinstance(block, dict) or not block:
        raise ConditionError(path, "expected a non-empty mapping of facts, 'all' or 'any'")
    parts = []
    for key, value in block.items():
        where = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(where, "expected a non-empty list of conditions")
            items = [_conjunction(item, vocab, out, f"{where}[{i}]") for i, item in enumerate(value)]
            parts.append(items[0] if len(items) == 1 else {"$and" if key == "all" else "$or": items})
        else:
            parts.append(_fact_test(key, value, vocab, out, where))
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _fact_test(name: str, test, vocab: Vocabulary, out: Compiled, path: str) -> dict:
    if name not in vocab:
        raise ConditionError(path, f"unknown fact '{name}' (not in rules/facts/)")
    if not isinstance(test, dict):
        test = {"eq": test}
    if not test:
        raise ConditionError(path, "expected a value or at least one operator")
    spec = vocab[name]
    parts = []
    for op, value in test.items():
        where = f"{path}.{op}"
        if op not in OPERATORS:
            raise ConditionError(where, f"unknown operator '{op}'; known: {', '.join(OPERATORS)}")
        if op in ("known", "unknown"):
            if not isinstance(value, bool):
                raise ConditionError(where, "expected true or false")
            absent = value if op == "unknown" else not value
            out.note(name, unknown=absent)
            # Facts are never sent as null: an unknown fact is an absent attribute.
            parts.append({"$nex" if absent else "$ex": {name: 1}})
            continue
        if op in ("ne_or_unknown", "in_or_unknown"):
            out.note(name, unknown=True)
            values = value if op == "in_or_unknown" else [value]
            if not isinstance(values, list) or not values:
                raise ConditionError(where, "expected a non-empty list")
            typed = [_typed(spec, v, where) for v in values]
            known = ([{name: v} for v in typed] if op == "in_or_unknown"
                     else [{"$neq": {name: v}} for v in typed])
            parts.append({"$or": [{"$nex": {name: 1}}, *known]})
            continue
        out.note(name)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ConditionError(where, "expected a non-empty list")
            values = [_typed(spec, v, where) for v in value]
            if op == "in":  # durable-rules has no $in
                tests = [{name: v} for v in values]
                parts.append(tests[0] if len(tests) == 1 else {"$or": tests})
            else:
                tests = [{"$neq": {name: v}} for v in values]
                parts.append(tests[0] if len(tests) == 1 else {"$and": tests})
            continue
        value = _typed(spec, value, where)
        if op == "eq":
            parts.append({name: value})
        elif op == "ne":
            parts.append({"$neq": {name: value}})
        else:
            if not spec.ordered:
                raise ConditionError(where, f"'{op}' needs an int or date fact; '{name}' is {spec.type}")
            parts.append({_ORDER_OPS[op]: {name: value}})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _typed(spec, value, path: str):
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    if not spec.accepts(value):
        allowed = f" (one of: {', '.join(spec.values)})" if spec.type == "enum" else ""
        raise ConditionError(path, f"{value!r} is not a valid {spec.type} for '{spec.name}'{allowed}")
    return value
