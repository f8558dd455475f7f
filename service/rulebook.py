"""Load, validate and compile the rule files into one durable-rules rule set.

A rule book is all-or-nothing: any problem in any file and nothing is loaded, so the
service never runs on a half-loaded rule set.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import ValidationError

from schemas.errors import flatten_messages as _flatten
from schemas.rule_file import RuleFileSchema
from service.citations import load_citations
from service.conditions import Compiled, ConditionError, compile_condition
from service.engine import RuleEngine
from service.facts.context import FactContext
from service.parameters import ParameterError
from service.process_config import ProcessConfigError
from service.vocabulary import Vocabulary, VocabularyError
from service.workdays import CalendarError
from service.yamlfile import YAMLError, load_yaml

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

    def __str__(self) -> str:
        rule = f" rule {self.rule_id}" if self.rule_id else ""
        return f"{self.file}:{rule} {self.field}: {self.reason}"


class RuleLoadError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("rule files are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


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

    @property
    def key(self) -> str:
        """Unique per dated version: one id may have several, with disjoint effective ranges."""
        return f"{self.id}@{self.effective_from.isoformat()}"

    def in_force(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def engine_condition(self) -> dict:
        """The rule's condition plus its scope (action types, dates in force), all for the engine."""
        actions = [{"action.type": a} for a in self.actions]
        scope = [actions[0] if len(actions) == 1 else {"$or": actions},
                 {"$gte": {"check.as_of": self.effective_from.isoformat()}}]
        if self.effective_to is not None:
            scope.append({"$lte": {"check.as_of": self.effective_to.isoformat()}})
        return {"$and": [*scope, self.compiled.condition]}


@dataclass
class RuleBook:
    root: Path
    version: str
    vocabulary: Vocabulary
    rules: dict[str, Rule]          # by key
    engine: RuleEngine
    context: FactContext            # parameters, calendar: what fact derivation reads

    def fired_rules(self, engine_fact: dict) -> list[Rule]:
        return [self.rules[key] for key in self.engine.fire(engine_fact)]


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


def load_rulebook(root: Path) -> RuleBook:
    root = Path(root)
    try:
        vocabulary = Vocabulary.load(root / "facts")
    except (OSError, VocabularyError, YAMLError) as exc:
        raise RuleLoadError([Problem("facts/", None, "facts", str(exc))]) from exc

    try:
        context = FactContext.load(root)
    except (ParameterError, CalendarError, ProcessConfigError) as exc:
        raise RuleLoadError([Problem("labor_law/parameters or calendar", None, type(exc).__name__, str(exc))]) from exc
    actions_known = set(vocabulary["action.type"].values)
    citations, citation_problems = load_citations(root)
    problems = [Problem(f, None, field_path, reason) for f, field_path, reason in citation_problems]
    rules: list[Rule] = []
    for family, path in rule_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            doc = load_yaml(path)
            data = RuleFileSchema().load(doc)
        except YAMLError as exc:
            problems.append(Problem(rel, None, "yaml", str(exc).replace("\n", " ")))
            continue
        except ValidationError as exc:
            problems.extend(_schema_problems(rel, doc, exc.messages))
            continue
        for raw in data["rules"]:
            rule_problems = []
            if raw["actions"] == [ALL_ACTIONS]:
                raw["actions"] = sorted(actions_known)
            for action in raw["actions"]:
                if action not in actions_known:
                    rule_problems.append(Problem(rel, raw["id"], "actions",
                                                 f"unknown action type '{action}'"))
            resolved = []
            for index, cited in enumerate(raw["citations"]):
                citation = citations.get(cited["ref"])
                if citation is None:
                    rule_problems.append(Problem(rel, raw["id"], f"citations.{index}.ref",
                                                 f"unknown ref '{cited['ref']}' (not in rules/citations/)"))
                elif not citation.covers(raw["effective_from"], raw["effective_to"]):
                    rule_problems.append(Problem(
                        rel, raw["id"], f"citations.{index}.ref",
                        f"{cited['ref']} is in force {citation.effective_from} to "
                        f"{citation.effective_to or 'now'}, not over the rule's whole effective range"))
                else:
                    resolved.append(citation.as_finding(cited["role"]))
            for lang, text in raw["message"].items():
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
            if rule_problems:
                problems.extend(rule_problems)
                continue
            rules.append(Rule(id=raw["id"], family=family, file=rel, title=raw["title"],
                              verdict=raw["verdict"], actions=raw["actions"],
                              effective_from=raw["effective_from"], effective_to=raw["effective_to"],
                              citations=resolved, message=raw["message"],
                              compiled=compiled, examples=raw["examples"], notify=raw["notify"]))
    problems.extend(_overlaps(rules))
    if problems:
        raise RuleLoadError(problems)
    by_key = {r.key: r for r in rules}
    engine = RuleEngine({key: rule.engine_condition() for key, rule in by_key.items()})
    return RuleBook(root=root, version=content_version(root), vocabulary=vocabulary,
                    rules=by_key, engine=engine, context=context)


def _overlaps(rules: list[Rule]) -> list[Problem]:
    problems = []
    by_id: dict[str, list[Rule]] = {}
    for rule in rules:
        by_id.setdefault(rule.id, []).append(rule)
    for rule_id, versions in by_id.items():
        versions.sort(key=lambda r: r.effective_from)
        for earlier, later in zip(versions, versions[1:]):
            if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                problems.append(Problem(later.file, rule_id, "effective_from",
                                        f"overlaps the version in force from {earlier.effective_from} "
                                        f"({earlier.file}); end that one first"))
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
                        out.append(Problem(rel, rule_id, field_path, reason))
                else:
                    out.append(Problem(rel, rule_id, "rules", "; ".join(map(str, rule_messages))))
        else:
            for field_path, reason in _flatten({key: value}):
                out.append(Problem(rel, None, field_path, reason))
    return out

