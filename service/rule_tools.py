"""Tools for the people who edit and review the rules: lint, coverage and diff.

Plain functions returning data; `service/rule_cli.py` prints them (`flask --app wsgi rules ...`).

- lint: every check load_rulebook makes (shared code: rulebook.validate_rules), without
  building the engine, plus what only a reviewer needs: the file LINE of each problem, gaps
  between the dated versions of a rule, example requests the contract refuses, request facts
  the contract does not have, and conditions that can never hold.
- coverage: which rules (by version) and which citations no example or fixture exercises.
- diff: two rule sets (folders or git revisions) compared rule by rule, and the fixtures and
  examples whose outcome changes between them.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
import re
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from marshmallow import Schema, ValidationError, fields as ma_fields

from schemas.errors import flatten_messages
from service import PROJECT_ROOT
from service.citations import load_citations
from service.conditions import Atom
from service.rulebook import Problem, Rule, RuleBook, load_rulebook, rule_files, validate_rules, versions_by_id
from service.vocabulary import Vocabulary
from service.yamlfile import StrictLoader

ERROR, WARNING = "error", "warning"


# ---- where in a file ------------------------------------------------------------------------
class LineIndex:
    """Line numbers of a YAML file's nodes, from yaml's compose marks (1-based)."""

    def __init__(self, path: Path):
        self.root = None
        self.error_line = None
        try:
            with open(path, encoding="utf-8") as fh:
                self.root = yaml.compose(fh, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.error_line = mark.line + 1 if mark else None
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            pass

    def rule_node(self, rule_id: str | None, index: int | None = None):
        """The mapping node of a rule: by its position when known, else by id (or `#index`)."""
        rules = _child(self.root, "rules")
        if not isinstance(rules, yaml.SequenceNode):
            return None
        if index is None and rule_id and rule_id.startswith("#") and rule_id[1:].isdigit():
            index = int(rule_id[1:])
        if index is not None:
            return rules.value[index] if 0 <= index < len(rules.value) else None
        if rule_id is None:
            return None
        for item in rules.value:
            id_node = _child(item, "id")
            if isinstance(id_node, yaml.ScalarNode) and id_node.value == rule_id:
                return item
        return None

    def line(self, rule_id: str | None = None, field_path: str = "", index: int | None = None) -> int | None:
        """The line of the field (as deep as the path can be followed), else of the rule, else None."""
        if self.root is None:
            return self.error_line
        start = self.rule_node(rule_id, index) if (rule_id or index is not None) else self.root
        if start is None:
            start = self.root
        return _walk(start, _tokens(field_path))


def _child(node, key: str):
    """The value of a mapping's key, looking through `<<:` merges (pointing at the merged text)."""
    hit = _pair(node, key)
    return hit[1] if hit else None


def _pair(node, key: str):
    if not isinstance(node, yaml.MappingNode):
        return None
    merged = []
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
        if key_node.tag == "tag:yaml.org,2002:merge":
            merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    for source in merged:
        if (hit := _pair(source, key)) is not None:
            return hit
    return None


def _tokens(field_path: str) -> list[str]:
    return [t for t in re.sub(r"\[(\w+)\]", r".\1", field_path or "").split(".") if t]


def _walk(node, tokens: list[str]) -> int:
    """Follow a dotted path (fact names contain dots: the longest key that matches wins)."""
    line = node.start_mark.line + 1
    i = 0
    while i < len(tokens):
        if isinstance(node, yaml.MappingNode):
            for k in range(len(tokens) - i, 0, -1):
                hit = _pair(node, ".".join(tokens[i:i + k]))
                if hit:
                    line = hit[0].start_mark.line + 1
                    node = hit[1]
                    i += k
                    break
            else:
                if tokens[i] in ("value", "key", "_schema"):  # marshmallow's Dict error levels
                    i += 1
                    continue
                break
        elif isinstance(node, yaml.SequenceNode) and tokens[i].isdigit() and int(tokens[i]) < len(node.value):
            node = node.value[int(tokens[i])]
            line = node.start_mark.line + 1
            i += 1
        else:
            break
    return line


class _Lines:
    """One LineIndex per file, built when first needed."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, LineIndex] = {}

    def index(self, rel: str) -> LineIndex | None:
        path = self.root / rel
        if not path.is_file():
            return None
        if rel not in self._cache:
            self._cache[rel] = LineIndex(path)
        return self._cache[rel]

    def line(self, rel: str, rule_id: str | None = None, field_path: str = "",
             rule_index: int | None = None) -> int | None:
        index = self.index(rel)
        return index.line(rule_id, field_path, rule_index) if index else None


# ---- lint -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issue:
    severity: str        # error or warning
    file: str            # relative to the rules folder
    line: int | None
    rule_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        rule = f" rule {self.rule_id}" if self.rule_id else ""
        field_part = f" {self.field}:" if self.field else ""
        return f"{where}: {self.severity}:{rule}{field_part} {self.reason}"


@dataclass
class LintReport:
    root: Path
    issues: list[Issue]
    rules_checked: int = 0

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
    issues = [_issue(p, lines) for p in _without_cascade(checked.problems, lines)]
    vocabulary = checked.vocabulary
    if vocabulary is not None:
        issues += _request_facts(vocabulary, root, lines)
        issues += _examples(checked.rules, lines)
        issues += _gaps(checked.rules, lines)
        for rule in checked.rules:
            issues += never_fires(rule, vocabulary, lines)
    issues += _unread_files(root)
    issues.sort(key=lambda i: (i.file, i.line or 0, i.severity, i.reason))
    return LintReport(root, _dedupe(issues), len(checked.rules))


# A rule's own citation, or a definition of a fact it reads (the fact's defined_by).
_UNKNOWN_REF = re.compile(r"^(?:fact \S+ is defined_by )?unknown ref '(.+)' \(not in rules/citations/\)$")


def _without_cascade(problems: list[Problem], lines: _Lines) -> list[Problem]:
    """A citation file that fails to load takes all its refs with it: report the file, not every
    rule citing one of them."""
    written = set()
    for path in sorted((lines.root / "citations").glob("*.yaml")):
        index = lines.index(f"citations/{path.name}")
        node = _child(index.root, "citations") if index else None
        if isinstance(node, yaml.MappingNode):
            written |= {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    if not any(p.file.startswith("citations/") for p in problems):
        return problems
    return [p for p in problems if not ((m := _UNKNOWN_REF.match(p.reason)) and m.group(1) in written)]


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen, out = set(), []
    for issue in issues:
        if issue not in seen:
            seen.add(issue)
            out.append(issue)
    return out


_MARK = re.compile(r'in "([^"]+)", line (\d+)')
_VOCAB = re.compile(r"^(?P<file>[\w.-]+\.ya?ml): (?:fact (?P<fact>\S+): )?(?P<reason>.*)$", re.S)


def _issue(problem: Problem, lines: _Lines) -> Issue:
    """A load problem, placed on its line."""
    file, field_path, reason = problem.file, problem.field, problem.reason
    if field_path == "yaml" or _MARK.search(reason):
        marks = _MARK.findall(reason)
        if marks:
            path, line = marks[-1]
            return Issue(ERROR, _rel_to(lines.root, path, file), int(line), problem.rule_id, field_path,
                         _strip_marks(reason))
    if file == "facts/" and (m := _VOCAB.match(reason)):
        file = f"facts/{m['file']}"
        field_path = f"facts.{m['fact']}" if m["fact"] else ""
        return Issue(ERROR, file, lines.line(file, None, field_path), None, field_path, m["reason"])
    if problem.rule_id is None and field_path and field_path[0].isupper():
        # A parameter, calendar or process-config error: "<path>: <where> <what>".
        reason = reason.split(": ", 1)[1] if reason.startswith(("/", str(lines.root))) and ": " in reason else reason
        where = re.match(r"^([\w\[\].-]+)", reason)
        line = lines.line(file, None, where.group(1) if where else "")
        return Issue(ERROR, file, line, None, field_path, reason)
    return Issue(ERROR, file, lines.line(file, problem.rule_id, field_path, problem.rule_index), problem.rule_id,
                 field_path, reason)


def _strip_marks(reason: str) -> str:
    return re.sub(r'\s*in "[^"]+", line \d+, column \d+', "", reason).strip()


def _rel_to(root: Path, path: str, default: str) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return default


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


def _examples(rules: list[Rule], lines: _Lines) -> list[Issue]:
    """Example requests are checks: the contract must accept them, with an as_of."""
    from schemas.check import CheckRequestSchema

    out = []
    for rule in rules:
        for index, example in enumerate(rule.examples):
            where = f"examples.{index}.request"
            try:
                request = CheckRequestSchema().load(example["request"])
            except ValidationError as exc:
                for path, reason in flatten_messages(exc.messages):
                    out.append(Issue(ERROR, rule.file, _version_line(lines, rule, f"{where}.{path}"), rule.id,
                                     f"{where}.{path}", f"example '{example['name']}': {reason}"))
                continue
            if "as_of" not in request:
                out.append(Issue(ERROR, rule.file, _version_line(lines, rule, where), rule.id, where,
                                 f"example '{example['name']}' must give as_of"))
    return out


def _request_facts(vocabulary: Vocabulary, root: Path, lines: _Lines) -> list[Issue]:
    """A `source: request` fact must be a field of the check request, and its values ones it accepts."""
    from schemas.check import CheckRequestSchema

    out = []
    defined_in = {}
    for path in sorted((root / "facts").glob("*.yaml")):
        rel = f"facts/{path.name}"
        facts_node = _child(lines.index(rel).root, "facts")
        if isinstance(facts_node, yaml.MappingNode):
            for key_node, _ in facts_node.value:
                defined_in.setdefault(key_node.value, rel)
    request = CheckRequestSchema()
    for name, spec in vocabulary.facts.items():
        if spec.source != "request":
            continue
        found = _schema_field(request, name)
        file = defined_in.get(name, "facts/")
        line = lines.line(file, None, f"facts.{name}") if name in defined_in else None
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


def _schema_field(schema: Schema, dotted: str):
    node = schema
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, Schema):
            return None
        found = next((f for n, f in node.fields.items() if (f.data_key or n) == part), None)
        if found is None:
            return None
        while isinstance(found, ma_fields.List):
            found = found.inner
        if i == len(parts) - 1:
            return found
        node = found.schema if isinstance(found, ma_fields.Nested) else None
    return None


def _choices(field_obj) -> set | None:
    for validator in getattr(field_obj, "validators", []):
        choices = getattr(validator, "choices", None)
        if choices is not None:
            return set(choices)
    return None


_KNOWN_TOP = {"facts", "citations", "labor_law", "process", "calendar", "_schemas"}


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
_KNOWN_OPS = {"eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"}


def _basis_of_actions(actions) -> dict[str, str | None]:
    """action type -> the separation basis it always derives (None: it depends on the case or ground)."""
    return {action: _basis_of_action(action) for action in actions}


@functools.lru_cache(maxsize=None)
def _basis_of_action(action: str) -> str | None:
    from service.facts import separation

    probes = [(None, None), (None, "art39_1"), ({"kind": "mutual_agreement", "events": []}, None),
              ({"kind": "resignation", "events": []}, None), ({"kind": "employer_termination", "events": []}, "art40_1")]
    seen = set()
    try:
        for case, ground in probes:
            try:
                seen.add(separation.separation_basis(action, case, ground))
            except TypeError:
                seen.add(separation.separation_basis(action, case))
    except Exception:  # noqa: BLE001 (a lint must not crash on the derivation code it probes)
        return None
    return next(iter(seen)) if len(seen) == 1 and None not in seen else None


def _as_date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _fact_conflict(name: str, atoms: list[Atom], vocabulary: Vocabulary, always_known: bool = False,
                   fixed: object = None) -> str | None:
    """Why these tests of one fact cannot all hold, or None when some value (or its absence) passes."""
    spec = vocabulary[name]
    needs_known = always_known or fixed is not None or any(
        a.op in _KNOWN_OPS or (a.op == "known" and a.value) or (a.op == "unknown" and not a.value) for a in atoms)
    needs_unknown = any((a.op == "unknown" and a.value) or (a.op == "known" and not a.value) for a in atoms)
    if needs_unknown and needs_known:
        written_known = any(a.op in _KNOWN_OPS or (a.op == "known" and a.value) or (a.op == "unknown" and not a.value)
                            for a in atoms if a.path != "actions")
        return (f"{name} must be both known and unknown" if written_known
                else f"{name} is always given for these actions, but the condition needs it unknown")
    if not needs_known:
        return None  # absent: every test here holds for an unknown fact
    allowed: set | None = None           # None: any value
    excluded: set = set()
    lo = hi = None                       # (value, strict)
    for a in atoms:
        if a.op in ("eq",):
            allowed = {a.value} if allowed is None else allowed & {a.value}
        elif a.op in ("in", "in_or_unknown"):
            allowed = set(a.value) if allowed is None else allowed & set(a.value)
        elif a.op in ("ne", "ne_or_unknown"):
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
            "lt": f"< {value}", "lte": f"<= {value}", "gt": f"> {value}", "gte": f">= {value}",
            "ne_or_unknown": f"!= {value!r}", "in_or_unknown": f"in {value}"}.get(atom.op, atom.op)
    return f"{text} (the rule's actions)" if atom.path == "actions" else text


def _conjunction_conflict(atoms: list[Atom], vocabulary: Vocabulary) -> tuple[str, Atom] | None:
    """Why a conjunction of tests can never hold (and one test to point at), or None."""
    by_fact: dict[str, list[Atom]] = {}
    for atom in atoms:
        by_fact.setdefault(atom.fact, []).append(atom)
    for name, tests in by_fact.items():
        reason = _fact_conflict(name, tests, vocabulary, always_known=(name == "action.type"))
        if reason:
            return reason, _pointer(tests)
    # derived.separation.basis follows from the action type for every action that carries no case.
    basis_tests = by_fact.get("derived.separation.basis")
    action_tests = by_fact.get("action.type", [])
    if basis_tests and "derived.separation.basis" in vocabulary and "action.type" in vocabulary:
        actions = [a for a in vocabulary["action.type"].values
                   if _fact_conflict("action.type", action_tests + [Atom("action.type", "eq", a, "")],
                                     vocabulary, always_known=True) is None]
        basis = _basis_of_actions(actions)
        if actions and all(b is not None for b in basis.values()) and all(
                _fact_conflict("derived.separation.basis", basis_tests, vocabulary, fixed=b) for b in basis.values()):
            return (f"derived.separation.basis: the actions in scope ({', '.join(actions)}) give "
                    f"{sorted(set(basis.values()))}, none of which the condition accepts"), _pointer(basis_tests)
    return None


def _pointer(tests: list[Atom]) -> Atom:
    """The test to point a reader at: the last one written in the condition (the scope is a fallback)."""
    written = [t for t in tests if t.path != "actions"]
    return written[-1] if written else tests[-1]


def never_fires(rule: Rule, vocabulary: Vocabulary, lines: _Lines | None = None) -> list[Issue]:
    """An error when the rule's condition (within its action scope) can never hold; a warning per
    `any` alternative that can never hold when the rest of the rule can."""
    # The compiler's own normal form: the one the engine's possible matches are built from.
    conjunctions = [(list(alt.atoms), alt.branches) for alt in rule.compiled.alternatives]
    scope = Atom("action.type", "in", tuple(rule.actions), "actions")
    verdicts = []
    for atoms, taken in conjunctions:
        verdicts.append((_conjunction_conflict([scope, *atoms], vocabulary), taken))

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


# ---- coverage -------------------------------------------------------------------------------
@dataclass
class Coverage:
    rules_total: int
    rules_unexercised: list[tuple[str, str]]      # (key, file)
    citations_total: int
    citations_unexercised: list[tuple[str, bool]]  # (ref, cited by some rule)
    cases: int
    failures: int


def coverage(rulebook: RuleBook, results) -> Coverage:
    """`results`: run_scenarios over the rule book (rule examples and fixtures), with their fired keys."""
    fired = {key for r in results for key in r.fired}
    unexercised = sorted((key, rule.file) for key, rule in rulebook.rules.items() if key not in fired)
    catalog, _ = load_citations(rulebook.root)
    exercised_refs = {c["ref"] for key in fired if key in rulebook.rules for c in rulebook.rules[key].citations}
    cited_refs = {c["ref"] for rule in rulebook.rules.values() for c in rule.citations}
    refs = sorted(set(catalog) | cited_refs)
    return Coverage(rules_total=len(rulebook.rules), rules_unexercised=unexercised,
                    citations_total=len(refs),
                    citations_unexercised=[(ref, ref in cited_refs) for ref in refs if ref not in exercised_refs],
                    cases=len(results), failures=sum(not r.passed for r in results))


# ---- diff -----------------------------------------------------------------------------------
@dataclass
class Side:
    label: str            # what the user named: a folder or a git revision
    rules: Path
    fixtures: Path | None


@dataclass
class RuleChange:
    id: str
    key: str              # the NEW version's key
    file: str
    fields: list[str]     # condition, verdict, citations, dates, messages, title, actions, examples, notify, file
    details: list[str] = field(default_factory=list)


@dataclass
class OutcomeChange:
    source: str
    old: dict | None      # summary (verdict, rule_ids, obligations), None when it could not be decided
    new: dict | None
    old_error: str | None = None
    new_error: str | None = None

    @property
    def verdict_changed(self) -> bool:
        return (self.old or {}).get("verdict") != (self.new or {}).get("verdict")


@dataclass
class Diff:
    old: Side
    new: Side
    added: list[Rule]
    removed: list[Rule]
    changed: list[RuleChange]
    citations_changed: list[str]          # "+ REF", "- REF", "~ REF (text)"
    files_changed: list[str]              # other rule-set files whose content differs
    outcomes: list[OutcomeChange]
    cases_run: int
    old_problems: list[Problem]
    new_problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.old_problems and not self.new_problems


_RULE_FIELDS = {
    "condition": lambda r: r.when,
    "verdict": lambda r: r.verdict,
    "citations": lambda r: r.cited,
    "dates": lambda r: (r.effective_from, r.effective_to),
    "messages": lambda r: r.message,
    "title": lambda r: r.title,
    "actions": lambda r: sorted(r.actions),
    "examples": lambda r: r.examples,
    "notify": lambda r: r.notify,
    "file": lambda r: r.file,
}


def _describe(name: str, old: Rule, new: Rule) -> str:
    if name == "verdict":
        return f"verdict: {old.verdict} -> {new.verdict}"
    if name == "dates":
        return (f"dates: {old.effective_from}..{old.effective_to or ''} -> "
                f"{new.effective_from}..{new.effective_to or ''}")
    if name == "actions":
        plus, minus = sorted(set(new.actions) - set(old.actions)), sorted(set(old.actions) - set(new.actions))
        return f"actions: +{plus} -{minus}"
    if name == "citations":
        fmt = lambda r: [f"{c['ref']}({c.get('role', 'basis')})" for c in r.cited]  # noqa: E731
        return f"citations: {fmt(old)} -> {fmt(new)}"
    if name == "condition":
        keys = [k for k in dict.fromkeys([*old.when, *new.when]) if old.when.get(k) != new.when.get(k)]
        parts = [f"{k}: {_flow(old.when[k]) if k in old.when else '(absent)'} -> "
                 f"{_flow(new.when[k]) if k in new.when else '(absent)'}" for k in keys]
        return "condition: " + "; ".join(parts)
    if name == "messages":
        langs = [lang for lang in sorted(set(old.message) | set(new.message))
                 if old.message.get(lang) != new.message.get(lang)]
        return f"messages: {', '.join(langs)} changed"
    if name == "examples":
        return f"examples: {len(old.examples)} -> {len(new.examples)}"
    if name == "file":
        return f"file: {old.file} -> {new.file}"
    return f"{name} changed"


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6).strip()
    return text.removesuffix("...").strip()  # a plain scalar ends its document with "..."


def compare_rules(old: list[Rule], new: list[Rule]) -> tuple[list[Rule], list[Rule], list[RuleChange]]:
    """Added, removed and changed rules: by version key, then by id when one version moved its dates."""
    old_by_key = {r.key: r for r in old}
    new_by_key = {r.key: r for r in new}
    pairs = [(old_by_key[k], new_by_key[k]) for k in new_by_key if k in old_by_key]
    only_old = [r for k, r in old_by_key.items() if k not in new_by_key]
    only_new = [r for k, r in new_by_key.items() if k not in old_by_key]
    for rule_id in sorted({r.id for r in only_old} & {r.id for r in only_new}):
        olds = [r for r in only_old if r.id == rule_id]
        news = [r for r in only_new if r.id == rule_id]
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
            only_old.remove(olds[0])
            only_new.remove(news[0])
    changed = []
    for o, n in sorted(pairs, key=lambda p: (p[1].file, p[1].key)):
        names = [name for name, get in _RULE_FIELDS.items() if get(o) != get(n)]
        if names:
            changed.append(RuleChange(n.id, n.key, n.file, names, [_describe(x, o, n) for x in names]))
    return (sorted(only_new, key=lambda r: (r.file, r.key)), sorted(only_old, key=lambda r: (r.file, r.key)),
            changed)


def _citation_changes(old_root: Path, new_root: Path) -> list[str]:
    old, _ = load_citations(old_root)
    new, _ = load_citations(new_root)
    out = [f"+ {ref}" for ref in sorted(set(new) - set(old))]
    out += [f"- {ref}" for ref in sorted(set(old) - set(new))]
    for ref in sorted(set(old) & set(new)):
        a, b = old[ref], new[ref]
        what = [name for name in ("text", "law", "law_en", "article", "item", "effective_from", "effective_to")
                if getattr(a, name) != getattr(b, name)]
        if what:
            out.append(f"~ {ref} ({', '.join(what)})")
    return out


def _other_files(old_root: Path, new_root: Path) -> list[str]:
    """Facts, parameters, calendar and config files whose content differs (rule and citation files are diffed above)."""
    def files(root: Path) -> dict[str, bytes]:
        rules = {p for _, p in rule_files(root)}
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and p.suffix in (".yaml", ".yml") and p not in rules
                and p.relative_to(root).parts[0] != "citations"}
    a, b = files(old_root), files(new_root)
    return ([f"+ {f}" for f in sorted(set(b) - set(a))] + [f"- {f}" for f in sorted(set(a) - set(b))]
            + [f"~ {f}" for f in sorted(set(a) & set(b)) if a[f] != b[f]])


def _outcome_key(summary: dict | None) -> tuple | None:
    if summary is None:
        return None
    return summary["verdict"], tuple(summary["rule_ids"]), tuple(summary["obligations"])


def outcome_changes(old_book: RuleBook, new_book: RuleBook, fixture_paths, progress=None
                    ) -> tuple[list[OutcomeChange], int]:
    """Every fixture check (each step of a story) and every example of NEW's rules, decided by both rule
    sets; the ones whose verdict, rule ids or obligations differ."""
    from service.scenarios import fixture_checks, load_fixture_cases, observe, rule_example_cases

    checks = [(source, example["request"], None) for source, _, example in rule_example_cases(new_book)]
    for path in fixture_paths:
        for source, case, now in load_fixture_cases(Path(path)):
            checks += [(s, request, step_now) for s, request, _, step_now in fixture_checks(case, now, source)]
    changes = []
    for done, (source, request, now) in enumerate(checks, start=1):
        a, b = _observed(observe, old_book, request, now), _observed(observe, new_book, request, now)
        if _outcome_key(a.actual) != _outcome_key(b.actual) or a.error != b.error:
            keep = ("verdict", "rule_ids", "obligations")
            changes.append(OutcomeChange(source, a.actual and {k: a.actual[k] for k in keep},
                                         b.actual and {k: b.actual[k] for k in keep}, a.error, b.error))
        if progress is not None:
            progress(done, len(checks))
    return changes, len(checks)


def _observed(observe, book: RuleBook, request: dict, now):
    """One side's answer; a rule set this code cannot decide with (an older one lacking a parameter
    the fact derivation now reads) is reported as that side's error, not a crash of the diff."""
    from service.scenarios import Observed
    try:
        return observe(book, request, now)
    except Exception as exc:  # noqa: BLE001 (any failure of the other side is that side's answer)
        return Observed(None, f"this code cannot decide it on that rule set: {type(exc).__name__}: {exc}")


def diff(old: Side, new: Side, fixture_paths=None, progress=None) -> Diff:
    """Compare two rule sets. Fixtures: `fixture_paths`, else NEW's fixtures/, else the project's."""
    from service.scenarios import default_fixture_paths

    old_checked, new_checked = validate_rules(old.rules), validate_rules(new.rules)
    added, removed, changed = compare_rules(old_checked.rules, new_checked.rules)
    if fixture_paths is None:
        fixture_paths = (sorted(new.fixtures.rglob("*_test.yaml")) if new.fixtures is not None
                         else default_fixture_paths())
    outcomes, run = [], 0
    if not old_checked.problems and not new_checked.problems:
        old_book, new_book = load_rulebook(old.rules), load_rulebook(new.rules)
        try:
            outcomes, run = outcome_changes(old_book, new_book, fixture_paths, progress)
        finally:
            old_book.engine.close()
            new_book.engine.close()
    return Diff(old, new, added, removed, changed, _citation_changes(old.rules, new.rules),
                _other_files(old.rules, new.rules), outcomes, run, old_checked.problems, new_checked.problems)


def resolve_side(spec: str, workdir: Path, repo: Path = PROJECT_ROOT) -> Side:
    """A folder (a rules folder, or a checkout holding rules/ and fixtures/) or a git revision of repo,
    extracted under workdir with `git archive`."""
    path = Path(spec)
    if path.is_dir():
        if (path / "rules" / "facts").is_dir():
            fixtures = path / "fixtures"
            return Side(spec, path / "rules", fixtures if fixtures.is_dir() else None)
        if (path / "facts").is_dir():
            sibling = path.parent / "fixtures"
            return Side(spec, path, sibling if sibling.is_dir() and path.name == "rules" else None)
        raise ValueError(f"{spec}: not a rules folder (no facts/) nor a folder holding rules/")
    probe = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise ValueError(f"{spec}: neither a folder nor a git revision of {repo}")
    commit = probe.stdout.strip()
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "--name-only", commit],
                             capture_output=True, text=True, check=True).stdout.split()
    if "rules" not in listing:
        raise ValueError(f"{spec}: revision {commit[:12]} has no rules/")
    wanted = [p for p in ("rules", "fixtures") if p in listing]
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, "--", *wanted],
                             capture_output=True, check=True).stdout
    target = Path(workdir) / commit[:12]
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return Side(f"{spec} ({commit[:12]})", target / "rules",
                target / "fixtures" if "fixtures" in wanted else None)


__all__ = ["Coverage", "Diff", "Issue", "LineIndex", "LintReport", "OutcomeChange", "RuleChange", "Side",
           "coverage", "compare_rules", "diff", "lint", "never_fires", "outcome_changes", "resolve_side"]
