"""Load, validate and compile the rule files into one durable-rules rule set.

A rule book is all-or-nothing: any problem in any file and nothing is loaded, so the
service never runs on a half-loaded rule set.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from service.decide.citations import load_citations
from service.decide.classification import ClassificationError
from service.decide.engine import RuleEngine
from service.decide.facts.context import FactContext
from service.decide.fact_checks import derivation_problems, request_field_clashes, underived_facts
from service.decide.names import NAMES_FILE, Names, NamesError, required_codes
from service.decide.parameters import ParameterError
from service.decide.process_config import ProcessConfigError
from service.decide.records import RECORDS_FILE, RecordsError
from service.decide.rule import (  # noqa: F401 -- the rule book's callers read these here too
    ALL_ACTIONS, DEFINITE, POSSIBLE, DatedCitation, Problem, Rule, check_rule_file, unknown_ref)
from service.decide.tree_checks import parameter_references, policy_clause_clashes, regional_files
from service.decide.vocabulary import Vocabulary, VocabularyError
from service.decide.workdays import CalendarError
from service.decide.yamlfile import YAMLError

RULE_FAMILIES = ("labor_law", "process")
# Company policy packs (rules/companies/<tenant>/, service/decide/packs.py): each has its own
# version, so an edit to one pack changes neither the statutes' version nor another pack's.
COMPANIES = "companies"
# Data folders beside the rule files that are not rule files themselves.
_NOT_RULE_DIRS = {"parameters", "config", "_schemas"}


class RuleLoadError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("rule files are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


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
    pack: object | None = None      # service.decide.packs.Pack: a company's pack on these statutes; None: the default

    @property
    def tenant(self) -> str | None:
        """The tenant whose pack this is; None: the default pack, every tenant without one."""
        return self.pack.tenant if self.pack is not None else None

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
    """A content hash of every file the decisions depend on (rules, vocabulary, parameters, calendar),
    the company packs under companies/ aside (each has its own)."""
    digest = hashlib.sha256()
    for path in versioned_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def versioned_files(root: Path) -> list[Path]:
    """The YAML files a version covers, in order: every one under root but the company packs."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml")
                  and p.relative_to(root).parts[0] != COMPANIES)


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
    problems.extend(overlaps(rules))
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


def overlaps(rules: list[Rule]) -> list[Problem]:
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
