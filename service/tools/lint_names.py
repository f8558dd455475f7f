"""`rules lint`: what the pages need to show the rule files in Chinese and English (warnings).

A fact without `description_zh`, or a field a rule example uses that has no name (neither a fact
nor in the `request_field` table of rules/names/codes.yaml), still loads and decides; but the rule
page would show that text in one language only. Said here, where the legal team looks, rather
than only by a test (tests/test_catalog_pages.py holds the shipped rules to it).
"""
from __future__ import annotations

import yaml

from service.decide.names import NAMES_FILE
from service.http.rule_examples import example_fields, field_label
from service.decide.rule_lines import _child, _Lines
from service.decide.problem_lines import WARNING, Issue


def page_names(checked, lines: _Lines) -> list:
    """Warnings for `checked` (a validated rule folder: vocabulary, names, rules)."""
    if checked.vocabulary is None or checked.names is None:
        return []   # the vocabulary or the names file is broken: lint reports that already
    out = []
    defined_in = _fact_files(checked.root, lines)
    for name, spec in checked.vocabulary.facts.items():
        if not spec.description_zh:
            file = defined_in.get(name, "facts/")
            out.append(Issue(WARNING, file, lines.line(file, None, f"facts.{name}") if name in defined_in else None,
                             None, f"facts.{name}.description_zh",
                             "no description in Chinese: the rule pages show this fact's description in English only"))
    for rule in checked.rules:
        for index, example in enumerate(rule.examples):
            unnamed = sorted(p for p in example_fields(example["request"]) if not field_label(checked, p))
            for path in unnamed:
                where = f"examples.{index}.request.{path}"
                out.append(Issue(WARNING, rule.file, lines.line(rule.file, rule.id, f"examples.{index}.request",
                                                                 rule.index),
                                 rule.id, where, f"example '{example['name']['en']}': the request field {path} has "
                                                 f"no name: add it to {NAMES_FILE} under request_field"))
    return out


def _fact_files(root, lines: _Lines) -> dict[str, str]:
    out = {}
    for path in sorted((root / "facts").glob("*.yaml")):
        rel = f"facts/{path.name}"
        index = lines.index(rel)
        facts_node = _child(index.root, "facts") if index and index.root is not None else None
        if isinstance(facts_node, yaml.MappingNode):
            for key_node, _ in facts_node.value:
                out.setdefault(key_node.value, rel)
    return out
