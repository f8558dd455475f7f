"""Compile a rule's `when:` block into three-valued durable-rules conditions.

The legal team writes conditions in a small YAML language:

    when:                                   # rules/labor_law/lcl_41_economic_layoff.yaml
      derived.separation.basis: economic_layoff
      any:
        - derived.layoff.days_since_consultation: {lt: 30}
        - action.layoff.reported_to_labor_authority: false

A mapping is a conjunction; `all:` / `any:` take lists of mappings and `not:` one mapping. A
fact maps to a value (equality) or to operators: eq, ne, in, not_in, lt, lte, gt, gte. A value
may be another fact of the same type, `{fact: NAME}` (`derived.a: {lt: {fact: derived.b}}`): the
test is then unknown when either fact is missing.

Every test is three-valued: true, false, or unknown when its fact is missing (Kleene's strong
logic for all/any/not). Nothing here decides a case; it only translates. The compiler emits,
for the engine to decide:

- the *definite* match: the condition is true on the facts given;
- one *possible* match per alternative of the condition's disjunctive normal form: that
  alternative is true or unknown, i.e. it would hold for some values of the missing facts;
- with each, the same restricted to *unknown*: true or unknown, but not true. A check whose facts
  make an alternative true fires the definite match; its possible match would be one more action
  callback (a JSON round of the session each) saying nothing, so the engine is given this one
  (issue 23). It is one path per first absent fact (the facts before it true, that one absent,
  the rest true or unknown): the paths exclude each other, and durable-rules fires a rule once per
  `$or` branch that holds, so it still fires once. An alternative reading a range keeps the
  possible match, as a range may be unknown with both bounds given.

"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from functools import cached_property

from service.decide.suggest import did_you_mean
from service.decide.vocabulary import FactSpec, Vocabulary

OPERATORS = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte")
_ORDER = ("lt", "lte", "gt", "gte")
# not(f op v) is (f complement-op v) in Kleene's logic too: an unknown stays unknown.
_COMPLEMENT = {"eq": "ne", "ne": "eq", "in": "not_in", "not_in": "in",
               "lt": "gte", "gte": "lt", "lte": "gt", "gt": "lte"}
_ENGINE_ORDER = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_REMOVED = {
    "known": "unknown facts are handled by the three-valued logic: a deny or warn whose condition "
             "is unknown warns by itself, naming the missing facts",
    "unknown": "a missing fact makes the condition unknown, and the rule warns by itself; "
               "write the condition on the known values only",
    "ne_or_unknown": "write 'ne': a missing fact makes it unknown, which warns by itself",
    "in_or_unknown": "write 'in': a missing fact makes it unknown, which warns by itself",
}
# Alternatives in the normal form, per rule: each is one more engine condition.
MAX_ALTERNATIVES = 64


class ConditionError(Exception):
    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class FactRef:
    """The value of a test that compares a fact with another fact (`{fact: NAME}`)."""
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Atom:
    """One test of one fact, after `not` has been pushed down to it."""
    fact: str
    op: str
    value: object
    path: str           # where it is written: when.any[1].employee.gender.eq

    def negated(self) -> "Atom":
        return Atom(self.fact, _COMPLEMENT[self.op], self.value, self.path)

    @cached_property  # read by every check that finds the condition unknown; an atom never changes
    def facts(self) -> tuple[str, ...]:
        """The facts the test reads: its own, and the one it compares with."""
        return (self.fact, self.value.name) if isinstance(self.value, FactRef) else (self.fact,)


@dataclass(frozen=True)
class Alternative:
    """A conjunction of atoms: one term of the condition's disjunctive normal form."""
    atoms: tuple[Atom, ...]
    branches: frozenset[str]   # the `any` alternatives (paths) this term goes through

    @cached_property
    def facts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for a in self.atoms for f in a.facts))


@dataclass
class Compiled:
    definite: dict                          # engine condition: the condition is true
    alternatives: list[Alternative]         # the normal form
    possible: list[dict]                    # engine condition per alternative: true or unknown
    # Per alternative, what the engine is given: unknown (true or unknown, not true); the possible
    # match itself for an alternative reading a range.
    unknown: list[dict] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)   # the facts as written, in order
    reads: list[str] = field(default_factory=list)   # what the engine reads (a range's bounds)
    details: list[str] = field(default_factory=list)  # derived facts shown beside them in checked[]


def compile_condition(when, vocabulary: Vocabulary) -> Compiled:
    tree = _conjunction(when, vocabulary, "when", negate=False)
    alternatives = _normal_form(tree)
    if len(alternatives) > MAX_ALTERNATIVES:
        raise ConditionError("when", f"{len(alternatives)} alternatives once expanded (at most "
                                     f"{MAX_ALTERNATIVES}): split the rule")
    facts = list(dict.fromkeys(f for alt in alternatives for a in alt.atoms for f in a.facts))
    reads = list(dict.fromkeys(n for f in facts for n in (vocabulary[f].bounds or (f,))))
    return Compiled(definite=_definite(tree, vocabulary),
                    alternatives=alternatives,
                    possible=[_and([_possible(a, vocabulary[a.fact]) for a in alt.atoms]) for alt in alternatives],
                    unknown=[_unknown(alt, vocabulary) for alt in alternatives],
                    facts=facts, reads=reads,
                    details=list(dict.fromkeys(d for f in facts for d in vocabulary[f].details)))


# ---- parsing: YAML -> a tree of ("and" | "or", children) and atoms, `not` pushed down -------------
def _conjunction(block, vocab: Vocabulary, path: str, negate: bool):
    if not isinstance(block, dict) or not block:
        raise ConditionError(path, "expected a non-empty mapping of facts, 'all', 'any' or 'not'")
    parts = []
    for key, value in block.items():
        where = f"{path}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(where, "expected a non-empty list of conditions")
            items = [_conjunction(item, vocab, f"{where}[{i}]", negate) for i, item in enumerate(value)]
            # De Morgan: not(all) is any(not), not(any) is all(not).
            parts.append(_node("or" if (key == "any") != negate else "and", items, where if key == "any" else None))
        elif key == "not":
            parts.append(_conjunction(value, vocab, where, not negate))
        else:
            parts.extend(_fact_tests(key, value, vocab, where, negate))
    # A negated mapping is the disjunction of its negated entries.
    return parts[0] if len(parts) == 1 else _node("or" if negate else "and", parts, path if negate else None)


def _node(kind: str, children: list, branch_path: str | None):
    return (kind, children, branch_path)


def _fact_tests(name: str, test, vocab: Vocabulary, path: str, negate: bool) -> list[Atom]:
    if name not in vocab:
        raise ConditionError(path, f"unknown fact '{name}' (not in rules/facts/)"
                             + (did_you_mean(name, vocab.facts) or " — use a fact defined in rules/facts/"))
    if not isinstance(test, dict) or set(test) == {"fact"}:
        test = {"eq": test}
    if not test:
        raise ConditionError(path, "expected a value or at least one operator")
    spec = vocab[name]
    atoms = []
    for op, value in test.items():
        where = f"{path}.{op}"
        if op in _REMOVED:
            raise ConditionError(where, f"operator '{op}' is no longer needed: {_REMOVED[op]}")
        if op not in OPERATORS:
            raise ConditionError(where, f"unknown operator '{op}'; known: {', '.join(OPERATORS)}"
                                 + did_you_mean(op, OPERATORS))
        if isinstance(value, dict) and set(value) == {"fact"}:
            atoms.append(_compared(spec, op, value["fact"], vocab, where, negate))
            continue
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ConditionError(where, "expected a non-empty list")
            if spec.bounds:
                raise ConditionError(where, f"'{name}' is a range: compare it with eq, ne, lt, lte, gt, gte")
            value = tuple(_typed(spec, v, where) for v in value)
        else:
            value = _typed(spec, value, where)
            if op in _ORDER and not spec.ordered:
                raise ConditionError(where, f"'{op}' needs an int, number or date fact; '{name}' is {spec.type}")
        atom = Atom(name, op, value, where)
        atoms.append(atom.negated() if negate else atom)
    if negate and len(atoms) > 1:
        return [_node("or", atoms, path)]
    return atoms


def _compared(spec: FactSpec, op: str, other, vocab: Vocabulary, path: str, negate: bool) -> Atom:
    """A test of one fact against another: both of one type (an int against a number is fine),
    neither a range, an order only between ints, numbers or dates."""
    where = f"{path}.fact"
    if not isinstance(other, str) or other not in vocab:
        raise ConditionError(where, f"unknown fact '{other}' (not in rules/facts/)"
                             + (did_you_mean(str(other), vocab.facts) or " — use a fact defined in rules/facts/"))
    if op in ("in", "not_in"):
        raise ConditionError(path, f"'{op}' takes a list of values; compare with another fact with eq, ne, lt, "
                                   f"lte, gt or gte")
    theirs = vocab[other]
    if spec.bounds or theirs.bounds:
        raise ConditionError(where, f"'{spec.name if spec.bounds else other}' is a range: compare it with a value")
    numeric = {"int", "number"}
    if spec.type != theirs.type and not {spec.type, theirs.type} <= numeric:
        raise ConditionError(where, f"'{spec.name}' is {spec.type} and '{other}' is {theirs.type}: compare facts "
                                    f"of one type")
    if spec.type == "enum" and spec.values != theirs.values:
        raise ConditionError(where, f"'{spec.name}' and '{other}' take different values: compare enums of one list")
    if op in _ORDER and not spec.ordered:
        raise ConditionError(path, f"'{op}' needs an int, number or date fact; '{spec.name}' is {spec.type}")
    atom = Atom(spec.name, op, FactRef(other), path)
    return atom.negated() if negate else atom


def _typed(spec: FactSpec, value, path: str):
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    if not spec.accepts(value):
        allowed = f" (one of: {', '.join(spec.values)})" if spec.type == "enum" else ""
        hint = did_you_mean(value, spec.values) if spec.type == "enum" and isinstance(value, str) else ""
        raise ConditionError(path, f"{value!r} is not a valid {spec.type} for '{spec.name}'{allowed}{hint}")
    return value


# ---- the normal form ---------------------------------------------------------------------------
def _normal_form(tree) -> list[Alternative]:
    if isinstance(tree, Atom):
        return [Alternative((tree,), frozenset())]
    kind, children, branch_path = tree
    if kind == "or":
        out = []
        for i, child in enumerate(children):
            mark = frozenset({f"{branch_path}[{i}]"}) if branch_path else frozenset()
            out += [Alternative(alt.atoms, alt.branches | mark) for alt in _normal_form(child)]
            if len(out) > MAX_ALTERNATIVES:
                return out
        return out
    out = [Alternative((), frozenset())]
    for child in children:
        out = [Alternative(a.atoms + b.atoms, a.branches | b.branches)
               for a, b in itertools.product(out, _normal_form(child))]
        if len(out) > MAX_ALTERNATIVES:
            return out
    return out


# ---- engine conditions -------------------------------------------------------------------------
def _and(parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _or(parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _definite(tree, vocab: Vocabulary) -> dict:
    if isinstance(tree, Atom):
        return _true(tree, vocab[tree.fact])
    kind, children, _ = tree
    parts = [_definite(child, vocab) for child in children]
    return _and(parts) if kind == "and" else _or(parts)


def _possible(atom: Atom, spec: FactSpec) -> dict:
    """The atom is true or unknown: its fact is missing, or some value it may have passes."""
    guard = spec.bounds[0] if spec.bounds else atom.fact
    if isinstance(atom.value, FactRef):  # either fact missing
        return {"$or": [{"$nex": {guard: 1}}, {"$nex": {atom.value.name: 1}}, _may(atom, spec)]}
    return {"$or": [{"$nex": {guard: 1}}, _may(atom, spec)]}


def _unknown(alternative: Alternative, vocab: Vocabulary) -> dict:
    """The alternative is true or unknown but not true: one of its facts is absent.

    Where `_may` is `_true` (no range), an atom that is true or unknown with its fact given is
    true, so "not true" is "a fact absent". Written as one path per first absent fact, so that
    no two paths hold at once. A range may be unknown with both bounds given: its possible match.
    It has more and/or than the possible match: the rule book gives the engine the possible match
    instead where it would pass the engine's limit (engine.MAX_GATES)."""
    facts = alternative.facts
    if any(vocab[atom.fact].bounds for atom in alternative.atoms):
        return _and([_possible(a, vocab[a.fact]) for a in alternative.atoms])
    paths = []
    for i, name in enumerate(facts):
        # Facts before `name` given, `name` absent: a test reading only given facts must hold, one
        # reading `name` is unknown, one reading a later fact is true or unknown.
        before = set(facts[:i])
        parts = [{"$nex": {name: 1}}]
        for atom in alternative.atoms:
            if name not in atom.facts:
                parts.append(_true(atom, vocab[atom.fact]) if before.issuperset(atom.facts)
                             else _possible(atom, vocab[atom.fact]))
        paths.append(_and(parts))
    return _or(paths)


def _true(atom: Atom, spec: FactSpec) -> dict:
    """The atom holds for certain. No engine test matches an absent attribute (not even $neq)."""
    name, op, value = atom.fact, atom.op, atom.value
    if isinstance(value, FactRef):
        # `$m` reads the other fact of the same document; an absent one would compare as if it
        # were there, so it must exist.
        other = {"$m": value.name}
        test = {name: other} if op == "eq" else {"$neq": {name: other}} if op == "ne" \
            else {_ENGINE_ORDER[op]: {name: other}}
        return {"$and": [{"$ex": {value.name: 1}}, test]}
    if spec.bounds:
        low, high = spec.bounds  # no test matches an absent high: it is never definitely below anything
        return {
            "eq": _and([{low: value}, {high: value}]),
            "ne": _or([{"$lt": {high: value}}, {"$gt": {low: value}}]),
            "lt": {"$lt": {high: value}}, "lte": {"$lte": {high: value}},
            "gt": {"$gt": {low: value}}, "gte": {"$gte": {low: value}},
        }[op]
    if op == "eq":
        return {name: value}
    if op == "ne":
        return {"$neq": {name: value}}
    if op == "in":  # durable-rules has no $in
        return _or([{name: v} for v in value])
    if op == "not_in":
        return _and([{"$neq": {name: v}} for v in value])
    return {_ENGINE_ORDER[op]: {name: value}}


def _may(atom: Atom, spec: FactSpec) -> dict:
    """The fact is known and the atom holds for at least one value it may have."""
    if not spec.bounds:
        return _true(atom, spec)
    low, high = spec.bounds
    value = atom.value
    unbounded = {"$nex": {high: 1}}
    return {
        "eq": {"$and": [{"$lte": {low: value}}, {"$or": [unbounded, {"$gte": {high: value}}]}]},
        "ne": {"$or": [unbounded, {"$neq": {low: value}}, {"$neq": {high: value}}]},
        "lt": {"$lt": {low: value}}, "lte": {"$lte": {low: value}},
        "gt": {"$or": [unbounded, {"$gt": {high: value}}]}, "gte": {"$or": [unbounded, {"$gte": {high: value}}]},
    }[atom.op]
