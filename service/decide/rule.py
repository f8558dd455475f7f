"""A rule: one dated version of a rule id, as read from its rule file, and the checks of one rule
file (its schema, its actions, citations, message placeholders and condition). The rule book
(service/decide/rulebook.py) checks the whole tree and compiles the engine from these."""
from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from marshmallow import ValidationError

from schemas.errors import flatten_messages as _flatten
from schemas.rule_file import RuleFileSchema
from service.decide.conditions import Compiled, ConditionError, compile_condition
from service.decide.engine import MAX_GATES, gates
from service.decide.suggest import did_you_mean
from service.decide.vocabulary import Vocabulary
from service.decide.yamlfile import YAMLError, load_yaml

ALL_ACTIONS = "all"  # `actions: [all]`: every action type, including ones added later


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
        """The citations of a finding decided as of that date: its own and every definition in
        force (read only: most rules have no dated definition, and get their own list)."""
        if not self.dated_definitions:
            return self.citations
        return [*self.citations, *(d.citation for d in self.dated_definitions if d.in_force(as_of))]

    @cached_property  # read many times by every check; a loaded rule never changes
    def key(self) -> str:
        """Unique per dated version: one id may have several, with disjoint effective ranges."""
        return f"{self.id}@{self.effective_from.isoformat()}"

    @cached_property
    def placeholders(self) -> tuple[str, ...]:
        """The facts its messages (its unknown wording too) fill in, in the order they are written."""
        return tuple(dict.fromkeys(name for text in (*self.message.values(), *(self.unknown_message or {}).values())
                                   for name in PLACEHOLDER.findall(text)))

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
# A fact a message fills in: `{employee.pregnancy.status}` (checked at load: a known fact, never sensitive).
PLACEHOLDER = re.compile(r"\{([a-z0-9_.]+)\}")


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
            for name in PLACEHOLDER.findall(text):
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

