"""What an action needs: the request fields the rules applicable to it read, from the rules.

Read off the compiled conditions (service/decide/conditions.py), never written by hand: for each
rule in force on the date that names the action, each alternative of its normal form, each fact
it tests. A derived fact stands for the request fields it is computed from (its vocabulary
`inputs`). What the action answers by itself is decided here and left out: `action.type`, and
the separation basis where the action fixes it (rules/classification/separation_basis.yaml). An
alternative that the action rules out (it tests another basis) reads nothing.

A field matters only when another has some value if, in every alternative that reads it, it
comes with the same other tests: those tests are its condition (`employee.pregnancy.status`
comes with `employee.gender: female` wherever it is read).
"""
from __future__ import annotations

import datetime as dt
import operator
import re
from dataclasses import dataclass

from service.decide.conditions import Alternative, Atom, FactRef
from service.decide.rulebook import RuleBook

_SEPARATION_BASIS = "derived.separation.basis"
_TEST = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "lte": operator.le,
         "gt": operator.gt, "gte": operator.ge,
         "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b}
# The Chinese may hold a path (见 classification/case_states.yaml): a slash with no space after it.
_BILINGUAL = re.compile(r"(?P<zh>[^/]*[\u3400-\u9fff](?:[^/]|/(?!\s))*?)\s*/\s+(?P<en>.*)")
_FIRST_CLAUSE = re.compile(r"[:;(]|\. |（")
_OPERATOR_WORDS = {
    "eq": ("为", "is"), "ne": ("不为", "is not"), "in": ("为下列之一", "is one of"),
    "not_in": ("不为下列任何一项", "is none of"), "lt": ("小于", "is less than"),
    "lte": ("不大于", "is at most"), "gt": ("大于", "is more than"), "gte": ("不小于", "is at least"),
}


class UnknownAction(ValueError):
    pass


@dataclass(frozen=True)
class Requirements:
    action: str
    as_of: dt.date
    answered: dict        # fact -> value the action itself gives
    rules: list[dict]
    fields: list[dict]


def answered_by_action(rulebook: RuleBook, action: str) -> dict:
    """The facts the action type alone decides."""
    out = {"action.type": action}
    basis = rulebook.context.classification.basis.fixed(action)
    if basis is not None:
        out[_SEPARATION_BASIS] = basis
    return out


def requirements(rulebook: RuleBook, action: str, as_of: dt.date) -> Requirements:
    if action not in rulebook.vocabulary["action.type"].values:
        raise UnknownAction(action)
    vocabulary = rulebook.vocabulary
    answered = answered_by_action(rulebook, action)
    applicable = rulebook.applicable(action, as_of)
    left = {rule.key: [a for a in (_left(alt, answered) for alt in rule.compiled.alternatives) if a is not None]
            for rule in applicable}
    raw = {rule.key: _co_tests(left[rule.key], vocabulary) for rule in applicable}
    # Read with no other test somewhere: needed whatever the other fields say.
    needed = {name for fields in raw.values() for name, (tests, _) in fields.items() if not tests}
    per_rule, conditions, readers = [], {}, {}
    for rule in applicable:
        fields = _gates(raw[rule.key], needed, vocabulary)
        per_rule.append({
            "rule_id": rule.id, "file": rule.file, "family": rule.family, "title": dict(rule.title),
            "verdict": rule.verdict, "ruled_out_by_action": not left[rule.key],
            "fields": [{"field": f, "only_when": [atom_doc(a, rulebook) for a in cond]}
                       for f, cond in fields.items()],
        })
        for f, cond in fields.items():
            conditions.setdefault(f, []).append(cond)
            readers.setdefault(f, []).append(rule.id)
    fields = []
    for name, conds in conditions.items():
        # Unconditional if any rule reads it unconditionally; else any of the rules' conditions.
        alternatives = [] if any(not c for c in conds) else list(dict.fromkeys(conds))
        area = next((a for a in rulebook.context.records.areas if name == a or name.startswith(a + ".")), None)
        fields.append({"field": name, **field_doc(name, rulebook), "read_by": list(dict.fromkeys(readers[name])),
                       "only_when": [[atom_doc(a, rulebook) for a in c] for c in alternatives],
                       "complete_record_area": area})
    fields.sort(key=lambda f: _field_order(f["field"]))
    return Requirements(action, as_of, answered, per_rule, fields)


def _left(alternative: Alternative, answered: dict) -> tuple[Atom, ...] | None:
    """The alternative's atoms the action does not decide; None if the action rules it out."""
    left = []
    for atom in alternative.atoms:
        if all(f in answered for f in atom.facts):
            value = answered[atom.value.name] if isinstance(atom.value, FactRef) else atom.value
            if not _TEST[atom.op](answered[atom.fact], value):
                return None
        else:
            left.append(atom)
    return tuple(left)


def request_fields(fact: str, vocabulary) -> tuple[str, ...]:
    """The request fields a fact is read from: itself, or a derived fact's inputs (itself when it
    declares none, so it is never silently dropped)."""
    spec = vocabulary[fact]
    if spec.source == "request":
        return (fact,)
    return spec.inputs or (fact,)


def _co_tests(alternatives: list[tuple[Atom, ...]], vocabulary) -> dict[str, tuple[tuple, int]]:
    """Each field the rule reads: the tests that come with it in every alternative reading it,
    and where it is first read in the condition as written."""
    out: dict[str, tuple[tuple, int]] = {}
    position = 0
    for atoms in alternatives:
        reads = {a: tuple(dict.fromkeys(n for f in a.facts for n in request_fields(f, vocabulary))) for a in atoms}
        for atom, names in reads.items():
            for name in names:
                others = tuple(_key(o) for o, n in reads.items() if name not in n)
                if name not in out:
                    out[name] = (others, position)
                else:
                    out[name] = (tuple(o for o in out[name][0] if o in others), out[name][1])
                position += 1
    return out


def _gates(fields: dict[str, tuple[tuple, int]], needed: set, vocabulary) -> dict[str, tuple[Atom, ...]]:
    """Each field's condition: the tests that come with it, on fields that are settled first. Two
    fields tested together each come with the other (a union that exists and was not notified):
    the one needed anyway, else the one the condition tests first, is the other's condition."""
    def rank(name):
        return (name not in needed, fields[name][1] if name in fields else -1)

    out = {}
    for name, (tests, _) in fields.items():
        out[name] = tuple(_atom(t) for t in tests
                          if all(g != name and rank(g) < rank(name) for g in request_fields(t[0], vocabulary)))
    return out


def _key(atom: Atom):
    return (atom.fact, atom.op, atom.value)


def _atom(key) -> Atom:
    fact, op, value = key
    return Atom(fact, op, value, "")


def atom_doc(atom: Atom, rulebook: RuleBook) -> dict:
    """One test, as data and in words."""
    vocabulary = rulebook.vocabulary
    spec = vocabulary[atom.fact]
    name = short_name(atom.fact, vocabulary)
    values = list(atom.value) if isinstance(atom.value, tuple) else [atom.value]
    named = [_value_name(atom.fact, v, rulebook) for v in values]
    text = {}
    for i, lang in enumerate(("zh", "en")):
        subject = f"{name[lang]} ({atom.fact})" if name.get(lang) else atom.fact
        shown = ("、" if lang == "zh" else ", ").join(
            f"{n[i]} ({v})" if n and n[i] != v else _plain(v) for v, n in zip(values, named))
        text[lang] = f"{subject} {_OPERATOR_WORDS[atom.op][i]} {shown}"
    value = {"fact": atom.value.name} if isinstance(atom.value, FactRef) else atom.value
    out = {"fact": atom.fact, "op": atom.op, "value": values if atom.op in ("in", "not_in") else value,
           "text": text}
    if spec.source == "derived":
        out["computed_from"] = list(spec.inputs)
    return out


def _plain(value) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def _value_name(fact: str, value, rulebook: RuleBook):
    """A value's (zh, en) names from rules/names/codes.yaml: the table that names every value of
    the fact (action types, roles, statuses), when there is one."""
    spec = rulebook.vocabulary[fact]
    if spec.type != "enum" or not isinstance(value, str):
        return None
    for codes in rulebook.names.tables.values():
        if all(v in codes for v in spec.values):
            return codes.get(value)
    return None


def split_description(text: str) -> dict:
    """A vocabulary or contract description, "中文 / English", as {zh, en}."""
    text = " ".join((text or "").split())
    found = _BILINGUAL.match(text)
    if found:
        return {"zh": found["zh"].strip(), "en": found["en"].strip()}
    return {"en": text} if text else {}


def short_name(fact: str, vocabulary) -> dict:
    """A fact's name in a sentence: its description's first clause, in each language."""
    described = split_description(vocabulary[fact].description)
    return {lang: _FIRST_CLAUSE.split(text, 1)[0].strip().rstrip(".") for lang, text in described.items()}


def field_doc(name: str, rulebook: RuleBook) -> dict:
    """What a field is: described by the vocabulary if it is a fact, by the request contract
    otherwise (schemas/), with its type and allowed values."""
    from schemas.fields_doc import contract_field

    vocabulary = rulebook.vocabulary
    contract = contract_field(name)
    if name in vocabulary:
        spec = vocabulary[name]
        doc = {"description": split_description(spec.description), "type": spec.type,
               "values": list(spec.values), "sensitive": spec.sensitive,
               "source": "request" if spec.source == "request" else "derived"}
        if spec.source == "derived":
            doc["computed_from"] = list(spec.inputs)
        if contract is not None and not doc["description"]:
            doc["description"] = split_description(contract["description"])
        return doc
    from service.decide.sensitive import sensitive_field

    if contract is None:
        return {"description": {}, "type": None, "values": [], "source": "request",
                "sensitive": sensitive_field(name, vocabulary)}
    doc = {"description": split_description(contract["description"]), "type": contract["type"],
           "values": contract["values"], "source": "request", "sensitive": sensitive_field(name, vocabulary)}
    if contract.get("parts"):
        doc["parts"] = contract["parts"]
    return doc


def _field_order(name: str):
    top = name.split(".", 1)[0]
    return ({"employee": 0, "employer": 1, "action": 2, "case": 3}.get(top, 4), name)


def answer(rulebook: RuleBook, action: str, as_of: dt.date) -> dict:
    """The answer of GET /v1/requirements, and what the page shows."""
    from schemas.fields_doc import required_paths

    found = requirements(rulebook, action, as_of)
    names = rulebook.names.pair("action_type", action)
    return {"action": action, "action_name": {"zh": names[0], "en": names[1]} if names else {},
            "as_of": as_of, "ruleset_version": rulebook.version, "answered_by_action": found.answered,
            "always": list(required_paths()), "fields": found.fields, "rules": found.rules}
