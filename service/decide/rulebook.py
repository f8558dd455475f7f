"""Load, validate and compile the rule files into one durable-rules rule set.

A rule book is all-or-nothing: any problem in any file and nothing is loaded, so the
service never runs on a half-loaded rule set.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from marshmallow import ValidationError

from schemas.errors import flatten_messages as _flatten
from schemas.rule_file import RuleFileSchema
from service.decide.citations import load_citations
from service.decide.classification import ClassificationError
from service.decide.conditions import Compiled, ConditionError, compile_condition
from service.decide.engine import MAX_GATES, RuleEngine, gates
from service.decide.facts.context import FactContext
from service.decide.fact_checks import derivation_problems, request_field_clashes, underived_facts
from service.decide.names import NAMES_FILE, Names, NamesError, required_codes
from service.decide.parameters import ParameterError
from service.decide.process_config import ProcessConfigError
from service.decide.records import RECORDS_FILE, RecordsError
from service.decide.suggest import did_you_mean
from service.decide.tree_checks import parameter_references, policy_clause_clashes, regional_files
from service.decide.vocabulary import Vocabulary, VocabularyError
from service.decide.workdays import CalendarError
from service.decide.yamlfile import YAMLError, load_yaml

RULE_FAMILIES = ("labor_law", "process")
ALL_ACTIONS = "all"  # `actions: [all]`: every action type, including ones added later
# Data folders beside the rule files that are not rule files themselves.
_NOT_RULE_DIRS = {"parameters", "config", "_schemas"}


@dataclass(frozen=True)
class Problem:
    file: str
    rule_id: str | None
    field: str
    reason: str
    rule_index: int | None = field(default=None, compare=False)  # position in the file's `rules` list

    def __str__(self) -> str:
        rule = f" rule {self.rule_id}" if self.rule_id else ""
        return f"{self.file}:{rule} {self.field}: {self.reason}"


class RuleLoadError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("rule files are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class DatedCitation:
    effective_from: dt.date
    effective_to: dt.date | None
    citation: dict      # as on a finding

    def in_force(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


@dataclass
class Rule:
    id: str
    family: str
    file: str
    title: dict
    verdict: str
    actions: list[str]
    effective_from: dt.date
    effective_to: dt.date | None
    citations: list[dict]
    message: dict
    compiled: Compiled
    examples: list[dict] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    when: dict = field(default_factory=dict, repr=False)          # the condition as written
    index: int | None = field(default=None, repr=False, compare=False)  # position in the file's `rules`
    cited: list[dict] = field(default_factory=list, repr=False)   # citations as written: ref, role
    unknown_message: dict | None = None   # wording when the condition is unknown (else a generic one)
    # Definitions of the facts it reads in force over part of its range only (see _definitions).
    dated_definitions: list["DatedCitation"] = field(default_factory=list, repr=False)

    def citations_on(self, as_of: dt.date) -> list[dict]:
        """The citations of a finding decided as of that date: its own and every definition in force."""
        return [*self.citations, *(d.citation for d in self.dated_definitions if d.in_force(as_of))]

    @property
    def key(self) -> str:
        """Unique per dated version: one id may have several, with disjoint effective ranges."""
        return f"{self.id}@{self.effective_from.isoformat()}"

    def in_force(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def engine_conditions(self, guarded: bool = True) -> dict[str, dict]:
        """For the engine, each with the rule's scope (action types, dates in force): the definite
        match (DEFINITE) and the possible match of each alternative (POSSIBLE + its index), restricted
        to where the alternative is unknown (conditions.py). `guarded=False`: the possible match
        as before issue 23, which benchmarks/bench_engine.py times against."""
        actions = [{"action.type": a} for a in self.actions]
        scope = [actions[0] if len(actions) == 1 else {"$or": actions},
                 {"$gte": {"check.as_of": self.effective_from.isoformat()}}]
        if self.effective_to is not None:
            scope.append({"$lte": {"check.as_of": self.effective_to.isoformat()}})
        out = {f"{self.key}{DEFINITE}": {"$and": [*scope, self.compiled.definite]}}
        for index, possible in enumerate(self.compiled.possible):
            unknown = {"$and": [*scope, self.compiled.unknown[index]]}
            out[f"{self.key}{POSSIBLE}{index}"] = unknown if guarded and gates(unknown) <= MAX_GATES \
                else {"$and": [*scope, possible]}
        return out


DEFINITE, POSSIBLE = "#true", "#maybe"


@dataclass(frozen=True)
class Match:
    """What the engine said of one rule: its condition is true, or which alternatives may hold."""
    rule: "Rule"
    definite: bool
    alternatives: tuple[int, ...]

    @property
    def outcome(self) -> str:
        return "fired" if self.definite else "unknown" if self.alternatives else "cleared"


@dataclass
class RuleBook:
    root: Path
    version: str
    vocabulary: Vocabulary
    rules: dict[str, Rule]          # by key
    engine: RuleEngine
    context: FactContext            # parameters, calendar: what fact derivation reads
    names: Names                    # each code's name in Chinese and English, for pages and notifications
    citations: dict = field(default_factory=dict)  # ref -> Citation: texts a finding adds for a fact (Facts.rested_on)

    @cached_property
    def request_contract(self):
        """The request schemas under this rule set: the structure in schemas/, the fields its
        vocabulary declares (schemas/request_contract.py; cached per vocabulary)."""
        from schemas.request_contract import contract_for
        return contract_for(self.vocabulary, self.context.parameters)

    @property
    def request_schema(self):
        """The check request's schema class under this rule set."""
        return self.request_contract.check

    def match(self, engine_fact: dict) -> dict[str, Match]:
        """Every rule the engine matched, definitely or possibly, by key."""
        definite: set[str] = set()
        possible: dict[str, list[int]] = {}
        for key in self.engine.fire(engine_fact):
            if key.endswith(DEFINITE):
                definite.add(key[:-len(DEFINITE)])
            else:
                rule_key, index = key.rsplit(POSSIBLE, 1)
                possible.setdefault(rule_key, []).append(int(index))
        return {key: Match(self.rules[key], key in definite, tuple(sorted(possible.get(key, ()))))
                for key in self.rules if key in definite or key in possible}

    def applicable(self, action_type: str, on: dt.date) -> list[Rule]:
        """The rules in force on the date that name the action type: what a check considers."""
        return [r for r in self._by_action.get(action_type, ()) if r.in_force(on)]

    @cached_property
    def _by_action(self) -> dict[str, list[Rule]]:
        out: dict[str, list[Rule]] = {}
        for rule in sorted(self.rules.values(), key=lambda r: r.id):
            for action in rule.actions:
                out.setdefault(action, []).append(rule)
        return out


def content_version(root: Path) -> str:
    """A content hash of every file the decisions depend on (rules, vocabulary, parameters, calendar)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def rule_files(root: Path) -> list[tuple[str, Path]]:
    found = []
    for family in RULE_FAMILIES:
        base = root / family
        for path in sorted(base.rglob("*.yaml")):
            if not _NOT_RULE_DIRS.intersection(path.relative_to(base).parts[:-1]):
                found.append((family, path))
    return found


@dataclass
class Validated:
    """Everything a rule book is built from, and every problem found; no engine yet."""
    root: Path
    vocabulary: Vocabulary | None   # None: the vocabulary itself is broken (nothing else was checked)
    context: FactContext | None
    citations: dict
    rules: list[Rule]               # the rules that passed their own checks
    problems: list[Problem]
    names: Names | None = None      # None: the names file is broken, or not reached


def validate_rules(root: Path) -> Validated:
    """Read and check every fact, citation, parameter, config and rule file under root.

    Shared by load_rulebook and `rules lint`: the same checks, without building the engine.
    """
    root = Path(root)
    try:
        vocabulary = Vocabulary.load(root / "facts")
    except (OSError, VocabularyError, YAMLError) as exc:
        return Validated(root, None, None, {}, [], [Problem("facts/", None, "facts", str(exc))])

    problems: list[Problem] = []
    context = None
    try:
        context = FactContext.load(root, vocabulary)
    except (ParameterError, CalendarError, ProcessConfigError) as exc:
        problems.append(Problem(_context_file(root, exc), None, type(exc).__name__, str(exc)))
    except ClassificationError as exc:
        problems.extend(Problem(f, None, field_path, reason) for f, field_path, reason in exc.problems)
    except RecordsError as exc:
        problems.append(Problem(RECORDS_FILE, None, "areas", str(exc)))
    problems.extend(Problem(f, None, field_path, reason) for f, field_path, reason in [
        *underived_facts(root, vocabulary),
        *(derivation_problems(root, vocabulary, context.parameters) if context is not None else []),
        *request_field_clashes(root, vocabulary)])
    actions_known = set(vocabulary["action.type"].values)
    citations, citation_problems = load_citations(root)
    problems.extend(Problem(f, None, field_path, reason) for f, field_path, reason in citation_problems)
    problems.extend(Problem(f, None, field_path, reason) for f, field_path, reason in policy_clause_clashes(citations))
    if context is not None:
        problems.extend(Problem(f, None, field_path, reason) for f, field_path, reason in [
            *parameter_references(root, context.parameters, citations),
            *regional_files(root, context.parameters)])
        problems.extend(Problem(f, None, field_path, reason)
                        for f, field_path, reason in context.classification.problems(
                            vocabulary, citations, context.process.chains))
        problems.extend(Problem("process/config/sla.yaml", None, "references", f"unknown citation {ref!r}")
                        for ref in context.process.references if ref not in citations)
    names = None
    try:
        names = Names.load(root)
    except NamesError as exc:
        problems.append(Problem(NAMES_FILE, None, "names", str(exc)))
    if names is not None and context is not None:
        problems.extend(Problem(f, None, field_path, reason) for f, field_path, reason in
                        names.missing(required_codes(vocabulary, context.classification, RULE_FAMILIES)))
    rules: list[Rule] = []
    for family, path in rule_files(root):
        rule_problems, file_rules = check_rule_file(root, family, path, vocabulary, citations, actions_known)
        problems.extend(rule_problems)
        rules.extend(file_rules)
    problems.extend(_overlaps(rules))
    return Validated(root, vocabulary, context, citations, rules,
                     _without_cascade(problems, citation_problems), names)


_REF_MISSING = re.compile(r"unknown ref '|reference '[^']*' is not in rules/citations/")


def _without_cascade(problems: list[Problem], citation_problems) -> list[Problem]:
    """A citation file that does not load takes all its refs with it: report that file once, not
    every rule, fact and parameter citing one of them."""
    broken = {f for f, _, reason in citation_problems if not reason.startswith("already defined")}
    if not broken:
        return problems
    note = " — fix this first: refs to rules/citations/ are not checked until every citations file loads"
    return [replace(p, reason=p.reason + note) if p.file in broken and p.field == "yaml" else p
            for p in problems if not _REF_MISSING.search(p.reason)]


def unknown_ref(ref: str, citations) -> str:
    return (f"unknown ref '{ref}' (not in rules/citations/)"
            + (did_you_mean(ref, citations) or " — add it to a file in rules/citations/ or cite one that is there"))


def check_rule_file(root: Path, family: str, path: Path, vocabulary: Vocabulary, citations: dict,
                    actions_known: set[str]) -> tuple[list[Problem], list[Rule]]:
    """One rule file: its problems, and the rules in it that have none."""
    rel = path.relative_to(root).as_posix()
    problems: list[Problem] = []
    rules: list[Rule] = []
    try:
        doc = load_yaml(path)
        data = RuleFileSchema().load(doc)
    except YAMLError as exc:
        return [Problem(rel, None, "yaml", str(exc).replace("\n", " "))], []
    except ValidationError as exc:
        return _schema_problems(rel, doc, exc.messages), []
    for position, raw in enumerate(data["rules"]):
        rule_problems = []
        when = copy.deepcopy(raw["when"])
        if raw["actions"] == [ALL_ACTIONS]:
            raw["actions"] = sorted(actions_known)
        for action in raw["actions"]:
            if action not in actions_known:
                rule_problems.append(Problem(rel, raw["id"], "actions",
                                             f"unknown action type '{action}'"
                                             + (did_you_mean(action, actions_known)
                                                or " — use one of rules/facts/ action.type's values")))
        resolved = []
        for index, cited in enumerate(raw["citations"]):
            citation = citations.get(cited["ref"])
            if citation is None:
                rule_problems.append(Problem(rel, raw["id"], f"citations.{index}.ref",
                                             unknown_ref(cited["ref"], citations)))
            elif not citation.covers(raw["effective_from"], raw["effective_to"]):
                rule_problems.append(Problem(
                    rel, raw["id"], f"citations.{index}.ref",
                    f"{cited['ref']} is in force {citation.effective_from} to "
                    f"{citation.effective_to or 'now'}, not over the rule's whole effective range"))
            else:
                resolved.append(citation.as_finding(cited["role"]))
        for lang, text in [*raw["message"].items(), *(raw.get("unknown_message") or {}).items()]:
            for name in re.findall(r"\{([a-z0-9_.]+)\}", text):
                if name not in vocabulary:
                    rule_problems.append(Problem(rel, raw["id"], f"message.{lang}",
                                                 f"placeholder {{{name}}} is not a known fact"))
                elif vocabulary[name].sensitive:
                    rule_problems.append(Problem(rel, raw["id"], f"message.{lang}",
                                                 f"placeholder {{{name}}} is sensitive: messages are stored"))
        try:
            compiled = compile_condition(raw["when"], vocabulary)
        except ConditionError as exc:
            rule_problems.append(Problem(rel, raw["id"], exc.path, exc.reason))
            compiled = None
        dated: list[DatedCitation] = []
        if compiled is not None:
            definitions, dated, definition_problems = _definitions(raw, compiled, vocabulary, citations)
            resolved.extend(definitions)
            rule_problems.extend(Problem(rel, raw["id"], "citations", reason) for reason in definition_problems)
        if rule_problems:
            problems.extend(replace(p, rule_index=position) for p in rule_problems)
            continue
        rules.append(Rule(id=raw["id"], family=family, file=rel, title=raw["title"],
                          verdict=raw["verdict"], actions=raw["actions"],
                          effective_from=raw["effective_from"], effective_to=raw["effective_to"],
                          citations=resolved, message=raw["message"],
                          compiled=compiled, examples=raw["examples"], notify=raw["notify"],
                          when=when, cited=[dict(c) for c in raw["citations"]], index=position,
                          unknown_message=raw.get("unknown_message"),
                          dated_definitions=dated))
    return problems, rules


def _definitions(raw: dict, compiled: Compiled, vocabulary: Vocabulary,
                 citations: dict) -> tuple[list[dict], list["DatedCitation"], list[str]]:
    """The provisions that define the facts a rule reads (the facts' `defined_by`), cited as
    definitions unless the rule cites them already: those in force over the rule's whole range
    always, those in force over part of it on the checks dated within their own dates (the nursing
    period of a 2008 rule is FEM-9's from 2012-04-28; an earlier text outside the catalog defined it
    before), none that is in force over no part of it."""
    start, end = raw["effective_from"], raw["effective_to"]
    cited = {c["ref"] for c in raw["citations"]}
    always, dated, problems = [], [], []
    for name in dict.fromkeys([*compiled.facts, *compiled.reads]):  # a range and its bounds
        for ref in vocabulary[name].defined_by:
            if ref in cited:
                continue
            cited.add(ref)
            citation = citations.get(ref)
            if citation is None:
                problems.append(f"fact {name} is defined_by {unknown_ref(ref, citations)}")
            elif citation.covers(start, end):
                always.append(citation.as_finding("definition"))
            elif (end is None or citation.effective_from <= end) and \
                    (citation.effective_to is None or start <= citation.effective_to):
                dated.append(DatedCitation(citation.effective_from, citation.effective_to,
                                           citation.as_finding("definition")))
    return always, dated, problems


def load_rulebook(root: Path) -> RuleBook:
    root = Path(root)
    checked = validate_rules(root)
    if checked.problems:
        raise RuleLoadError(checked.problems)
    by_key = {r.key: r for r in checked.rules}
    conditions, actions = {}, {}
    for rule in by_key.values():
        for key, condition in rule.engine_conditions().items():
            conditions[key] = condition
            actions[key] = rule.actions
    engine = RuleEngine(conditions, actions=actions)
    return RuleBook(root=root, version=content_version(root), vocabulary=checked.vocabulary,
                    rules=by_key, engine=engine, context=checked.context, names=checked.names,
                    citations=checked.citations)


def _context_file(root: Path, exc: Exception) -> str:
    """The file a parameter, calendar or process-config error names, relative to root."""
    where = getattr(exc, "file", None) or getattr(exc, "path", None)
    if where:
        try:
            return Path(where).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return "labor_law/parameters or calendar"


def versions_by_id(rules) -> dict[str, list[Rule]]:
    """Each rule id's dated versions, oldest first, ids in order."""
    by_id: dict[str, list[Rule]] = {}
    for rule in rules:
        by_id.setdefault(rule.id, []).append(rule)
    return {rule_id: sorted(versions, key=lambda r: r.effective_from)
            for rule_id, versions in sorted(by_id.items())}


def rule_counts(rules) -> dict[str, int]:
    """How many rules (distinct ids) and rule versions (dated versions of them): the one count that
    /readyz, `rules lint` and the pages show, each under its own name (an id with two dated
    versions is one rule and two rule versions)."""
    rules = list(rules)
    return {"rules": len({rule.id for rule in rules}), "rule_versions": len(rules)}


def _overlaps(rules: list[Rule]) -> list[Problem]:
    problems = []
    for rule_id, versions in versions_by_id(rules).items():
        for earlier, later in zip(versions, versions[1:]):
            if earlier.effective_from == later.effective_from:
                problems.append(Problem(later.file, rule_id, "id",
                                        f"duplicate id: overlaps the rule with the same id and effective_from "
                                        f"in {earlier.file}; give each version its own dates", later.index))
            elif earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                problems.append(Problem(later.file, rule_id, "effective_from",
                                        f"overlaps the version in force from {earlier.effective_from} "
                                        f"({earlier.file}); end that one first", later.index))
    return problems


def _schema_problems(rel: str, doc, messages) -> list[Problem]:
    """Flatten marshmallow's nested error dict into one problem per field, naming the rule."""
    out = []
    rules = doc.get("rules") if isinstance(doc, dict) else None
    for key, value in messages.items():
        if key == "rules" and isinstance(value, dict):
            for index, rule_messages in value.items():
                rule_id = None
                if isinstance(rules, list) and isinstance(index, int) and index < len(rules) \
                        and isinstance(rules[index], dict):
                    rule_id = rules[index].get("id")
                rule_id = rule_id or f"#{index}"
                if isinstance(rule_messages, dict):
                    for field_path, reason in _flatten(rule_messages):
                        out.append(Problem(rel, rule_id, field_path, reason, index if isinstance(index, int) else None))
                else:
                    out.append(Problem(rel, rule_id, "rules", "; ".join(map(str, rule_messages)),
                                       index if isinstance(index, int) else None))
        else:
            for field_path, reason in _flatten({key: value}):
                out.append(Problem(rel, None, field_path, reason))
    return out

