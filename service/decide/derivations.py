"""Derivations a lawyer can declare: a derived fact's `derive:` in rules/facts/*.yaml.

A small, closed set, evaluated here and nowhere else, so that a company policy needing a
computed fact needs no Python:

    derive: {days_between: [FROM, TO]}           int: calendar days from FROM to TO (negative if before)
    derive: {working_days_between: [FROM, TO]}   int: working days after FROM up to and including TO
                                                 (rules/calendar/; 0 when TO is not after FROM)
    derive: {months_between: [FROM, TO]}         int: whole months from FROM to TO (Civil Code art. 202)
    derive: {years_between: [FROM, TO]}          int: whole years completed from FROM on TO
    derive: {date_plus: {date: FACT, parameter: NAME}}
                                                 date: FACT plus the parameter in force on as_of
                                                 (unit day, week, month or year)
    derive: {min: [A, B, ...]} / {max: [...]}    the least / greatest, of the operands' one type
    derive: {compare: [A, OP, B]}                bool: A OP B, OP one of eq ne lt lte gt gte

An operand is a fact of the vocabulary, or `as_of` (the day the check is decided as of). FROM,
TO and the date of date_plus are dates. Every derivation is three-valued like the rules: an
operand that is unknown makes the result unknown, naming the request fields that decide it (a
request fact names itself, a derived one what decides it). A year missing from the working
calendar makes it unknown naming nothing: never guessed (POL-SLA-6.2).

`check(vocabulary, parameters)` says what is wrong with the declarations (rules lint and the
start-up gate report it on the fact's line); `evaluate(...)` computes them, after the Python
derivations (service/decide/facts/), in an order where an operand is computed before its use.
"""
from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from service.decide.facts.unknown import Unknown
from service.decide.parameters import ParameterNotInForce
from service.decide.periods import add_months, completed_years, whole_months_between
from service.decide.suggest import did_you_mean
from service.decide.workdays import CalendarYearMissing

AS_OF = "as_of"
BETWEEN = ("days_between", "working_days_between", "months_between", "years_between")
KINDS = (*BETWEEN, "date_plus", "min", "max", "compare")
COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lte": operator.le,
               "gt": operator.gt, "gte": operator.ge}
_PERIOD_UNITS = {"day": 0, "week": 0, "month": 1, "year": 12}  # months per unit (0: counted in days)


@dataclass(frozen=True)
class Derivation:
    fact: str
    kind: str
    operands: tuple[str, ...]   # fact names, or as_of
    op: str = ""                # compare
    parameter: str = ""         # date_plus


class DerivationError(Exception):
    def __init__(self, fact: str, path: str, reason: str):
        super().__init__(f"fact {fact}: {reason}")
        self.fact, self.path, self.reason = fact, path, reason


def parse(fact: str, raw) -> Derivation:
    """The shape of one `derive:` (names and types are checked by `check`)."""
    where = "derive"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise DerivationError(fact, where, f"derive is one of {', '.join(KINDS)}, with its operands")
    (kind, args), = raw.items()
    where = f"derive.{kind}"
    if kind not in KINDS:
        raise DerivationError(fact, where, f"unknown derivation '{kind}'; known: {', '.join(KINDS)}"
                              + did_you_mean(str(kind), KINDS))
    if kind == "date_plus":
        if not (isinstance(args, dict) and set(args) == {"date", "parameter"}
                and all(isinstance(v, str) for v in args.values())):
            raise DerivationError(fact, where, "date_plus takes {date: FACT, parameter: NAME}")
        return Derivation(fact, kind, (args["date"],), parameter=args["parameter"])
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise DerivationError(fact, where, f"{kind} takes a list of fact names")
    if kind == "compare":
        if len(args) != 3 or args[1] not in COMPARISONS:
            raise DerivationError(fact, where, f"compare takes [FACT, OP, FACT], OP one of {', '.join(COMPARISONS)}"
                                  + (did_you_mean(args[1], COMPARISONS) if len(args) == 3 else ""))
        return Derivation(fact, kind, (args[0], args[2]), op=args[1])
    if kind in BETWEEN and len(args) != 2:
        raise DerivationError(fact, where, f"{kind} takes two dates: [FROM, TO]")
    if kind in ("min", "max") and len(args) < 2:
        raise DerivationError(fact, where, f"{kind} takes two facts or more")
    return Derivation(fact, kind, tuple(args))


def declared(vocabulary) -> dict[str, Derivation]:
    """The declared derivations, by fact (those whose shape is right; `check` reports the others)."""
    out = {}
    for name, spec in vocabulary.facts.items():
        if spec.derive is not None:
            try:
                out[name] = parse(name, spec.derive)
            except DerivationError:
                pass
    return out


def check(vocabulary, parameters) -> list[DerivationError]:
    """Every problem of the declared derivations: shape, operands, types, parameters, cycles."""
    problems: list[DerivationError] = []
    good: dict[str, Derivation] = {}
    for name, spec in vocabulary.facts.items():
        if spec.derive is None:
            continue
        try:
            derivation = parse(name, spec.derive)
            _check_one(derivation, spec, vocabulary, parameters)
        except DerivationError as exc:
            problems.append(exc)
        else:
            good[name] = derivation
    try:
        _order(good)
    except CycleError as exc:
        cycle = exc.args[1]
        problems.append(DerivationError(cycle[0], "derive", "derivations that need each other: "
                                        + " -> ".join(cycle)))
    return problems


def _check_one(d: Derivation, spec, vocabulary, parameters) -> None:
    where = f"derive.{d.kind}"
    types = []
    for operand in d.operands:
        if operand == AS_OF:
            types.append("date")
        elif operand not in vocabulary:
            raise DerivationError(d.fact, where, f"unknown fact '{operand}' (not in rules/facts/)"
                                  + (did_you_mean(operand, [*vocabulary.facts, AS_OF])
                                     or " — use a fact defined in rules/facts/, or as_of"))
        elif vocabulary[operand].bounds:
            raise DerivationError(d.fact, where, f"'{operand}' is a range: derive from its bounds instead")
        else:
            types.append(vocabulary[operand].type)
    if d.kind in BETWEEN or d.kind == "date_plus":
        wrong = [o for o, t in zip(d.operands, types) if t != "date"]
        if wrong:
            raise DerivationError(d.fact, where, f"{d.kind} takes dates; '{wrong[0]}' is not a date")
    if d.kind in ("min", "max", "compare"):
        if len(set(types)) != 1:
            raise DerivationError(d.fact, where, f"{d.kind} takes facts of one type; got {', '.join(types)}")
        if (d.kind != "compare" or d.op not in ("eq", "ne")) and types[0] not in ("int", "number", "date"):
            raise DerivationError(d.fact, where, f"{d.kind} needs an int, number or date; got {types[0]}")
    if d.kind == "date_plus":
        if d.parameter not in parameters:
            raise DerivationError(d.fact, f"{where}.parameter", f"unknown parameter '{d.parameter}'"
                                  + (did_you_mean(d.parameter, list(parameters))
                                     or " — name a file under rules/labor_law/parameters/ by its dotted path"))
        unit = parameters.unit(d.parameter)
        if unit not in _PERIOD_UNITS:
            raise DerivationError(d.fact, f"{where}.parameter", f"parameter '{d.parameter}' has unit {unit!r}; "
                                  f"date_plus needs one of {', '.join(_PERIOD_UNITS)}")
    result = {"date_plus": "date", "compare": "bool"}.get(d.kind, "int" if d.kind in BETWEEN else types[0])
    if spec.type != result:
        raise DerivationError(d.fact, "type", f"{d.kind} gives a {result}; the fact is declared type {spec.type}")
    if spec.source != "derived":
        raise DerivationError(d.fact, "source", "a fact with derive: is source: derived")


def _order(derivations: dict[str, Derivation]) -> list[Derivation]:
    graph = {name: {o for o in d.operands if o in derivations} for name, d in derivations.items()}
    return [derivations[name] for name in TopologicalSorter(graph).static_order()]


def evaluate(derivations: dict[str, Derivation], values: dict, decided_by: dict, vocabulary, as_of: dt.date,
             context) -> dict:
    """The declared facts: value, or Unknown naming the request fields that decide it. `values`
    and `decided_by` are the facts derived so far (Facts.values, Facts.decided_by); each result is
    added to them, so that a later derivation may read it."""
    out = {}
    for d in _order(derivations):
        result = _one(d, values, decided_by, vocabulary, as_of, context)
        out[d.fact] = result
        if isinstance(result, Unknown):
            decided_by[d.fact] = result
        elif result is not None:
            values[d.fact] = result
    return out


def _one(d: Derivation, values: dict, decided_by: dict, vocabulary, as_of: dt.date, context):
    got, missing = [], []
    for operand in d.operands:
        if operand == AS_OF:
            got.append(as_of)
        elif operand in values:
            value = values[operand]
            got.append(dt.date.fromisoformat(value) if vocabulary[operand].type == "date" else value)
        else:  # unknown in, unknown out: named by what decides the operand
            missing.append(decided_by.get(operand) or Unknown(
                *([operand] if vocabulary[operand].source == "request" else [])))
    if missing:  # the fields are found when a warn asks (an operand's own may be deferred)
        return Unknown(find=lambda: [f for unknown in missing for f in unknown.fields])
    try:
        return _compute(d, got, as_of, context)
    except (CalendarYearMissing, ParameterNotInForce):
        return Unknown()  # a year nobody has entered, a period not yet in force: never guessed


def _compute(d: Derivation, got: list, as_of: dt.date, context):
    if d.kind == "days_between":
        return (got[1] - got[0]).days
    if d.kind == "working_days_between":
        return context.calendar.working_days_between(got[0], got[1])
    if d.kind == "months_between":
        return whole_months_between(got[0], got[1])
    if d.kind == "years_between":
        return completed_years(got[0], got[1]) if got[1] >= got[0] else -completed_years(got[1], got[0])
    if d.kind == "compare":
        return COMPARISONS[d.op](got[0], got[1])
    if d.kind in ("min", "max"):
        found = (min if d.kind == "min" else max)(got)
        return found.isoformat() if isinstance(found, dt.date) else found
    # date_plus: the period in force on the day the check is decided as of (the law applied)
    amount = context.parameters.get(d.parameter, on=as_of)
    unit = context.parameters.unit(d.parameter)
    if _PERIOD_UNITS[unit]:
        return add_months(got[0], amount * _PERIOD_UNITS[unit]).isoformat()
    return (got[0] + dt.timedelta(days=amount * (7 if unit == "week" else 1))).isoformat()
