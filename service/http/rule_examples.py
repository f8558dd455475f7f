"""What the rule pages show of the vocabulary and of a rule's examples, in Chinese and English:
a field's label, a fact's description, and an example's request as a table of its facts (not
its JSON), with what the example expects.

Labels come from the rule files, never from here: a fact's from its vocabulary entry
(rules/facts/*.yaml: `description` "中文 / English", `description_zh` the full Chinese), a request
field that is not a fact (as_of, employee.id, case.events...) from the `request_field` table of
rules/names/codes.yaml. tests/test_pages.py checks every field an example uses has both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from service.decide.requirements import split_description

# A name before its explanation: "Due date: the N-th working day..." -> "Due date".
_FIRST_CLAUSE = re.compile(r"[:;]\s|\.\s")
_TRAILING_ASIDE = re.compile(r"\s*\([^()]*\)$")   # "Pregnancy status ("unknown" counts as missing)"
# Request fields whose values are codes with a name (rules/names/codes.yaml table).
NAMED_VALUES = {"action.type": "action_type", "action.actor.role": "role", "case.kind": "process_type",
                "case.events.type": "event_type", "case.events.form": "form", "case.events.actor.role": "role"}
# What an example's `expect` says about the rule's outcome (the _macros.html outcome names).
EXPECTED_OUTCOME = {"deny": "fired", "warn": "fired", "obligation": "fired", "none": "cleared",
                    "unknown": "unknown", "dates_differ": "dates_differ"}


def field_label(rulebook, path: str) -> tuple[str, str] | None:
    """(中文, English) naming a request field or a fact; None when the rule files name it nowhere."""
    spec = rulebook.vocabulary.facts.get(path)
    if spec is not None:
        described = split_description(spec.description)
        if described.get("zh") and described.get("en"):
            english = _FIRST_CLAUSE.split(described["en"], 1)[0].rstrip(".")
            return described["zh"], _TRAILING_ASIDE.sub("", english) or english
    return rulebook.names.pair("request_field", path)


def fact_description(spec) -> dict:
    """{zh, en}: the fact's whole description in each language (its Chinese label when the
    vocabulary has no `description_zh` for it)."""
    described = split_description(spec.description)
    return {"zh": spec.description_zh or described.get("zh", ""), "en": described.get("en", "")}


def facts_read(rulebook, versions) -> list[dict]:
    """The facts the versions of a rule read, once each, in the order they first read them."""
    names = dict.fromkeys(name for version in versions for name in version.compiled.facts)
    out = []
    for name in names:
        spec = rulebook.vocabulary.facts.get(name)
        out.append({"name": name, "label": field_label(rulebook, name),
                    "source": spec.source if spec else None,
                    "description": fact_description(spec) if spec else {"zh": "", "en": ""}})
    return out


@dataclass
class Row:
    """One fact of an example's request: its dotted path, label and value. A list of objects
    (case events, children, sick leaves) is a table of its own: `columns` and `items`."""
    path: str
    label: tuple[str, str] | None
    value: object = None
    names: str | None = None               # the codes.yaml table naming its value, if any
    key: str = ""                          # a column's key in the items (path.key is its path)
    columns: list[Row] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)


def example_rows(rulebook, request: dict) -> list[Row]:
    """The request of a rule example as rows, as_of first, nested objects flattened to dotted paths."""
    rows = []
    for path, value in _flatten("", request):
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            flat = [dict(_flatten("", item)) for item in value]
            columns = list(dict.fromkeys(key for item in flat for key in item))
            rows.append(Row(path, field_label(rulebook, path), value,
                            columns=[Row(f"{path}.{c}", field_label(rulebook, f"{path}.{c}"),
                                         names=NAMED_VALUES.get(f"{path}.{c}"), key=c) for c in columns],
                            items=flat))
        else:
            rows.append(Row(path, field_label(rulebook, path), value, names=NAMED_VALUES.get(path)))
    rows.sort(key=lambda row: row.path != "as_of")  # stable: the request's own order otherwise
    return rows


def example_fields(request: dict) -> set[str]:
    """Every dotted path an example's table names (list items' fields as path.field)."""
    out = set()
    for path, value in _flatten("", request):
        out.add(path)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    out.update(f"{path}.{key}" for key, _ in _flatten("", item))
    return out


def expectation(example: dict) -> dict:
    return {"verdict": example["expect"], "outcome": EXPECTED_OUTCOME.get(example["expect"])}


def _flatten(prefix: str, value):
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    else:
        yield prefix, value
