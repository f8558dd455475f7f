"""`rules lint`: every check load_rulebook makes (shared code: rulebook.validate_rules), without
building the engine, plus what only a reviewer needs: the file LINE of each problem, gaps between
the dated versions of a rule, example requests the contract refuses, request facts the contract
does not have, and conditions that can never hold (read from the compiler's own normal form).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from marshmallow import ValidationError, fields as ma_fields

from schemas.errors import flatten_messages
from schemas.fields_doc import field_at
from schemas.request_contract import clashes
from service.decide.conditions import Atom, FactRef
from service.decide.classification import Classification
from service.decide.rulebook import Rule, rule_counts, rule_files, validate_rules, versions_by_id
from service.decide.vocabulary import Vocabulary

from service.decide.problem_lines import (  # noqa: F401 -- read here by lint's callers
    ERROR, WARNING, Issue, PlacedProblem, place_problems)
from service.decide.problem_lines import place as _issue
from service.decide.rule_lines import _Lines, _child
from service.tools.lint_names import page_names

@dataclass
class LintReport:
    root: Path
    issues: list[Issue]
    rules_checked: int = 0            # distinct rule ids
    rule_versions_checked: int = 0    # their dated versions

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def lint(root: Path | str) -> LintReport:
    """Every problem of the rule set under root, each with file and line. Never builds the engine."""
    root = Path(root)
    lines = _Lines(root)
    checked = validate_rules(root)
    issues = [_issue(p, lines) for p in checked.problems]
    vocabulary = checked.vocabulary
    if vocabulary is not None:
        schema = _request_schema(checked)
        issues += _request_facts(vocabulary, root, lines, schema)
        issues += _examples(checked.rules, lines, schema)
        issues += _gaps(checked.rules, lines)
        issues += page_names(checked, lines)   # what the pages need in both languages
        for rule in checked.rules:
            issues += never_fires(rule, vocabulary, lines,
                                  classification=checked.context.classification if checked.context else None)
    issues += _unread_files(root)
    issues.sort(key=lambda i: (i.file, i.line or 0, i.severity, i.reason))
    counts = rule_counts(checked.rules)
    return LintReport(root, _dedupe(issues), counts["rules"], counts["rule_versions"])


def _dedupe(issues: list[Issue]) -> list[Issue]:
    """One message per mistake: the same problem in several rules of a file (a YAML anchor they
    share) is reported once, at its first line, naming the other rules."""
    first: dict[tuple, int] = {}
    out: list[Issue] = []
    also: dict[int, list[str]] = {}
    for issue in issues:
        key = (issue.severity, issue.file, issue.field, issue.reason)
        if key not in first:
            first[key] = len(out)
            out.append(issue)
        elif issue.rule_id and issue != out[first[key]]:
            also.setdefault(first[key], []).append(f"{issue.rule_id} (line {issue.line})" if issue.line else issue.rule_id)
    for index, others in also.items():
        issue = out[index]
        out[index] = replace(issue, reason=f"{issue.reason} (the same in rule {', '.join(dict.fromkeys(others))})")
    return out


def _gaps(rules: list[Rule], lines: _Lines) -> list[Issue]:
    out = []
    for rule_id, versions in versions_by_id(rules).items():
        for earlier, later in zip(versions, versions[1:]):
            if earlier.effective_to is not None and earlier.effective_to + dt.timedelta(days=1) < later.effective_from:
                gap_from = earlier.effective_to + dt.timedelta(days=1)
                gap_to = later.effective_from - dt.timedelta(days=1)
                out.append(Issue(WARNING, later.file, _version_line(lines, later, "effective_from"), rule_id,
                                 "effective_from",
                                 f"gap: no version of this rule is in force from {gap_from} to {gap_to} "
                                 f"(the version of {earlier.effective_from} in {earlier.file} ends {earlier.effective_to})"))
    return out


def _version_line(lines: _Lines, rule: Rule, field_path: str = "") -> int | None:
    """The line of a field of one dated version of a rule (several rules of a file may share its id)."""
    return lines.line(rule.file, rule.id, field_path, rule.index)


def _request_schema(checked):
    """The check request's schema under these rules (their vocabulary's request fields)."""
    from schemas.check import CheckRequestSchema
    from schemas.request_contract import contract_for

    if checked.context is None:  # parameters broken (reported): the shipped contract
        return CheckRequestSchema
    return contract_for(checked.vocabulary, checked.context.parameters).check


def _examples(rules: list[Rule], lines: _Lines, schema) -> list[Issue]:
    """Example requests are checks: the contract must accept them, with an as_of."""
    out = []
    for rule in rules:
        for index, example in enumerate(rule.examples):
            where = f"examples.{index}.request"
            try:
                request = schema().load(example["request"])
            except ValidationError as exc:
                for path, reason in flatten_messages(exc.messages):
                    out.append(Issue(ERROR, rule.file, _version_line(lines, rule, f"{where}.{path}"), rule.id,
                                     f"{where}.{path}", f"example '{example['name']['en']}': {reason}"))
                continue
            if "as_of" not in request:
                out.append(Issue(ERROR, rule.file, _version_line(lines, rule, where), rule.id, where,
                                 f"example '{example['name']['en']}' must give as_of"))
    return out


def _request_facts(vocabulary: Vocabulary, root: Path, lines: _Lines, schema) -> list[Issue]:
    """A `source: request` fact must be a field of the check request, and its values ones it accepts;
    a derived fact's `inputs` must be fields of the check request too."""
    out = []
    defined_in = {}
    for path in sorted((root / "facts").glob("*.yaml")):
        rel = f"facts/{path.name}"
        facts_node = _child(lines.index(rel).root, "facts")
        if isinstance(facts_node, yaml.MappingNode):
            for key_node, _ in facts_node.value:
                defined_in.setdefault(key_node.value, rel)
    request = schema()
    clashing = {name for name, _ in clashes(vocabulary)}
    for name, spec in vocabulary.facts.items():
        file = defined_in.get(name, "facts/")
        line = lines.line(file, None, f"facts.{name}") if name in defined_in else None
        for field_path in spec.inputs:
            # A warn names these to the EHR as what to send: a field it can fill in, not an object.
            found = field_at(request, field_path, items=False)
            if found is None or isinstance(found, ma_fields.Nested):
                out.append(Issue(ERROR, file, line, None, f"facts.{name}.inputs",
                                 f"{field_path} is not a field of the check request (schemas/): inputs name "
                                 f"request fields, not the objects holding them"))
        if spec.source != "request" or name in clashing:  # reported by the loader already
            continue
        found = field_at(request, name)
        if found is None:
            out.append(Issue(ERROR, file, line, None, f"facts.{name}",
                             "source: request, but the check request has no such field (schemas/)"))
            continue
        choices = _choices(found)
        if spec.type == "enum" and choices is not None:
            never = [v for v in spec.values if v not in choices]
            if never:
                out.append(Issue(WARNING, file, line, None, f"facts.{name}.values",
                                 f"the check request never carries {never}: a condition on them cannot hold"))
    return out


def _choices(field_obj) -> set | None:
    for validator in getattr(field_obj, "validators", []):
        choices = getattr(validator, "choices", None)
        if choices is not None:
            return set(choices)
    return None


_KNOWN_TOP = {"facts", "citations", "labor_law", "process", "calendar", "_schemas", "classification", "names",
              "companies",  # company packs: checked by `rules lint --pack` (service/decide/packs.py)
              "records"}


def _unread_files(root: Path) -> list[Issue]:
    """YAML files the service never reads: an edit there changes nothing."""
    read = {p for _, p in rule_files(root)}
    out = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".yml"):
            continue
        rel = path.relative_to(root)
        top = rel.parts[0] if len(rel.parts) > 1 else None
        in_parameters = rel.parts[:2] == ("labor_law", "parameters")
        if top not in _KNOWN_TOP:
            out.append(Issue(WARNING, rel.as_posix(), None, None, "",
                             f"not read by the service (only {', '.join(sorted(_KNOWN_TOP - {'_schemas'}))}/ are)"))
        elif path.suffix == ".yml" and not in_parameters:
            out.append(Issue(WARNING, rel.as_posix(), None, None, "", "not read: rule, fact and citation files end in .yaml"))
        elif top in ("labor_law", "process") and path.suffix == ".yaml" and path not in read \
                and not in_parameters and rel.parts[:2] != ("process", "config") and "_schemas" not in rel.parts:
            out.append(Issue(WARNING, rel.as_posix(), None, None, "", "not read as a rule file"))
    return out


# ---- rules that can never fire ---------------------------------------------------------------
def _basis_of_actions(actions, classification) -> dict[str, str | None]:
    """action type -> the separation basis it always derives (None: it depends on the case or ground)."""
    return {action: classification.basis.fixed(action) for action in actions}


def _as_date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _fact_conflict(name: str, atoms: list[Atom], vocabulary: Vocabulary, fixed: object = None) -> str | None:
    """Why no one value of the fact passes all these tests, or None. (Every test needs a value:
    with the fact missing the condition is unknown, which is not firing.)"""
    spec = vocabulary[name]
    allowed: set | None = None           # None: any value
    excluded: set = set()
    lo = hi = None                       # (value, strict)
    for a in atoms:
        if a.op in ("eq",):
            allowed = {a.value} if allowed is None else allowed & {a.value}
        elif a.op == "in":
            allowed = set(a.value) if allowed is None else allowed & set(a.value)
        elif a.op == "ne":
            excluded.add(a.value)
        elif a.op == "not_in":
            excluded |= set(a.value)
        elif a.op in ("gt", "gte"):
            bound = (_as_date(a.value) if spec.type == "date" else a.value, a.op == "gt")
            if lo is None or bound[0] > lo[0] or (bound[0] == lo[0] and bound[1]):
                lo = bound
        elif a.op in ("lt", "lte"):
            bound = (_as_date(a.value) if spec.type == "date" else a.value, a.op == "lt")
            if hi is None or bound[0] < hi[0] or (bound[0] == hi[0] and bound[1]):
                hi = bound
    if fixed is not None:
        allowed = {fixed} if allowed is None else allowed & {fixed}
    if spec.type == "enum":
        allowed = set(spec.values) if allowed is None else allowed & set(spec.values)
    elif spec.type == "bool":
        allowed = {True, False} if allowed is None else allowed & {True, False}

    def in_bounds(v) -> bool:
        v = _as_date(v) if spec.type == "date" else v
        if lo is not None and (v < lo[0] or (lo[1] and v == lo[0])):
            return False
        return not (hi is not None and (v > hi[0] or (hi[1] and v == hi[0])))

    if allowed is not None:
        left = {v for v in allowed if v not in excluded and in_bounds(v)}
        if left:
            return None
        if fixed is not None:
            return f"{name} is always {fixed!r} for these actions; the condition excludes it"
        return f"no value of {name} is {' and '.join(_describe_test(a) for a in atoms)} at once"
    if lo is None or hi is None:
        return None
    if spec.type in ("int", "date"):
        step = 1 if spec.type == "int" else dt.timedelta(days=1)
        first = lo[0] + step if lo[1] else lo[0]
        last = hi[0] - step if hi[1] else hi[0]
        if first > last:
            return f"{name}: no value is both above {lo[0]} and below {hi[0]}"
        span = (last - first) if spec.type == "int" else (last - first).days
        if span < 1000:
            values = [first + step * i for i in range(span + 1)]
            if all((v.isoformat() if spec.type == "date" else v) in excluded for v in values):
                return f"{name}: every value from {first} to {last} is excluded"
        return None
    if lo[0] > hi[0] or (lo[0] == hi[0] and (lo[1] or hi[1] or lo[0] in excluded)):
        return f"{name}: no value is both above {lo[0]} and below {hi[0]}"
    return None


def _describe_test(atom: Atom) -> str:
    value = atom.value
    text = {"eq": f"= {value!r}", "ne": f"!= {value!r}", "in": f"in {value}", "not_in": f"not in {value}",
            "lt": f"< {value}", "lte": f"<= {value}", "gt": f"> {value}", "gte": f">= {value}"}.get(atom.op, atom.op)
    return f"{text} (the rule's actions)" if atom.path == "actions" else text


def _conjunction_conflict(atoms: list[Atom], vocabulary: Vocabulary,
                          classification: Classification | None = None) -> tuple[str, Atom] | None:
    """Why a conjunction of tests can never hold (and one test to point at), or None."""
    by_fact: dict[str, list[Atom]] = {}
    for atom in atoms:
        if not isinstance(atom.value, FactRef):  # a fact against a fact: decided on each check
            by_fact.setdefault(atom.fact, []).append(atom)
    for name, tests in by_fact.items():
        reason = _fact_conflict(name, tests, vocabulary)
        if reason:
            return reason, _pointer(tests)
    # derived.separation.basis follows from the action type for every action that carries no case.
    basis_tests = by_fact.get("derived.separation.basis")
    action_tests = by_fact.get("action.type", [])
    if basis_tests and classification is not None and "action.type" in vocabulary:
        actions = [a for a in vocabulary["action.type"].values
                   if _fact_conflict("action.type", action_tests + [Atom("action.type", "eq", a, "")],
                                     vocabulary) is None]
        basis = _basis_of_actions(actions, classification)
        if actions and all(b is not None for b in basis.values()) and all(
                _fact_conflict("derived.separation.basis", basis_tests, vocabulary, fixed=b) for b in basis.values()):
            return (f"derived.separation.basis: the actions in scope ({', '.join(actions)}) give "
                    f"{sorted(set(basis.values()))}, none of which the condition accepts"), _pointer(basis_tests)
    return None


def _pointer(tests: list[Atom]) -> Atom:
    """The test to point a reader at: the last one written in the condition (the scope is a fallback)."""
    written = [t for t in tests if t.path != "actions"]
    return written[-1] if written else tests[-1]


def never_fires(rule: Rule, vocabulary: Vocabulary, lines: _Lines | None = None,
                classification: Classification | None = None) -> list[Issue]:
    """An error when the rule's condition (within its action scope) can never hold; a warning per
    `any` alternative that can never hold when the rest of the rule can."""
    # The compiler's own normal form: the one the engine's possible matches are built from.
    conjunctions = [(list(alt.atoms), alt.branches) for alt in rule.compiled.alternatives]
    scope = Atom("action.type", "in", tuple(rule.actions), "actions")
    verdicts = []
    for atoms, taken in conjunctions:
        verdicts.append((_conjunction_conflict([scope, *atoms], vocabulary, classification), taken))

    def line_of(path: str) -> int | None:
        return _version_line(lines, rule, path) if lines else None

    if all(conflict for conflict, _ in verdicts):
        reasons = list(dict.fromkeys(conflict[0] for conflict, _ in verdicts))
        atom = verdicts[0][0][1]
        shown = "; ".join(reasons[:4]) + (f"; and {len(reasons) - 4} more" if len(reasons) > 4 else "")
        return [Issue(ERROR, rule.file, line_of(atom.path), rule.id, atom.path, f"can never fire: {shown}")]
    out = []
    branches = sorted({b for _, taken in verdicts for b in taken})
    for branch in branches:
        members = [(c, t) for c, t in verdicts if branch in t]
        # Report the outermost dead alternative only.
        if all(c for c, _ in members) and not any(
                branch.startswith(other + ".") and all(c for c, t in verdicts if other in t)
                for other in branches):
            out.append(Issue(WARNING, rule.file, line_of(branch), rule.id, branch,
                             f"this alternative can never hold: {members[0][0][0]}"))
    return out
