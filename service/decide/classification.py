"""The legal classification tables (rules/classification/), and the one small interpreter that
reads them: table look-ups and state transitions, no legal condition of its own.

- separation_basis.yaml: which separation an action carries out (derived.separation.basis);
- case_states.yaml: the case's state machine (arrival order, transitions, legal effect, status);
- written_form.yaml: what counts as writing (Civil Code Art. 469).

Loaded with the rule book (FactContext), checked against the fact vocabulary and the citations,
every problem reported at once.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from marshmallow import Schema, ValidationError

from schemas.classification import (FROM_CASE, FROM_CASE_STATE, FROM_GROUND, UNKNOWN, CaseStatesFileSchema,
                                    SeparationBasisFileSchema, WrittenFormFileSchema)
from schemas.errors import flatten_messages
from service.decide.suggest import did_you_mean
from service.decide.yamlfile import YAMLError, load_yaml

FILES = {"separation_basis": SeparationBasisFileSchema, "case_states": CaseStatesFileSchema,
         "written_form": WrittenFormFileSchema}
RECORDS = ("resignation", "withdrawal")


class ClassificationError(Exception):
    """A classification file is unreadable or invalid; `problems` are (file, field, reason)."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        self.path = problems[0][0] if problems else None
        super().__init__("; ".join(f"{f}: {field}: {reason}" for f, field, reason in problems))


@dataclass(frozen=True)
class CaseState:
    """The resignation's and the withdrawal's state after a case's events, and the event types seen."""
    resignation: str
    withdrawal: str
    recorded: frozenset[str]

    def matches(self, test: Mapping) -> bool:
        for name, wanted in test.items():
            if name == "event":
                if wanted not in self.recorded:
                    return False
            elif getattr(self, name) not in (wanted if isinstance(wanted, list) else [wanted]):
                return False
        return True


@dataclass(frozen=True)
class LegalEffect:
    basis: str | None                # None: unknown (the rules then ask for it)
    awaits_decision: bool
    cite: tuple[str, ...]
    effect: Mapping[str, str]


class CaseMachine:
    """The state machine of case_states.yaml."""

    def __init__(self, doc: dict) -> None:
        self._doc = doc
        self._first = frozenset(doc["arrival"]["simultaneous_first"])
        self.events: Mapping[str, Mapping] = MappingProxyType(doc["events"])
        self.decides: Mapping[str, str] = MappingProxyType(doc["decides"])
        self.records = {r: tuple(doc["records"][r]) for r in RECORDS}
        self._transitions: dict[str, list[dict]] = {}
        for line in doc["transitions"]:
            self._transitions.setdefault(line["event"], []).append(line)
        self._run = functools.lru_cache(maxsize=1024)(self._run_uncached)
        self._effects = [(row["when"], LegalEffect(None if row["basis"] == UNKNOWN else row["basis"],
                                                   row["awaits_decision"], tuple(row["cite"]),
                                                   MappingProxyType(dict(row["effect"]))))
                         for row in doc["legal_effect"]]

    @staticmethod
    def arrival(event: dict) -> dt.datetime:
        """When the declaration reached the other party (CC-137): received_at, else at."""
        return event.get("received_at") or event["at"]

    def in_arrival_order(self, events: Iterable[dict]) -> list[dict]:
        return sorted(events, key=lambda e: (self.arrival(e), e["type"] not in self._first))

    def run(self, events: Iterable[dict]) -> CaseState:
        """The state after the events. One check asks several times (the basis, the process
        facts, the resignation facts): the answer is kept per sequence of (type, arrival)."""
        return self._run(tuple((e["type"], self.arrival(e)) for e in events))

    def _run_uncached(self, arrivals: tuple[tuple[str, dt.datetime], ...]) -> CaseState:
        ordered = sorted(arrivals, key=lambda a: (a[1], a[0] not in self._first))
        state = CaseState(self.records["resignation"][0], self.records["withdrawal"][0],
                          frozenset(kind for kind, _ in ordered))
        for kind, _ in ordered:
            for line in self._transitions.get(kind, ()):
                if state.matches(line["when"]):
                    state = CaseState(**{r: line["set"].get(r, getattr(state, r)) for r in RECORDS},
                                      recorded=state.recorded)
                    break
        return state

    def legal_effect(self, state: CaseState) -> LegalEffect:
        return next(effect for when, effect in self._effects if state.matches(when))

    def status(self, state: CaseState) -> str:
        return self._status_row(state)["status"]

    def closed(self, state: CaseState) -> bool:
        """Nothing is left to decide on the case (archived, offboarded)."""
        return self._status_row(state)["closed"]

    def _status_row(self, state: CaseState) -> dict:
        return next(row for row in self._doc["status"] if state.matches(row["when"]))

    def withdrawal_timing(self, state: CaseState) -> str | None:
        return self._doc["withdrawal_timing"].get(state.withdrawal)

    def action_of(self, event_type: str) -> str:
        return self.events[event_type]["action"]

    def request_step(self, event_type: str) -> tuple[str, str] | None:
        """(request, opens|approves|rejects) for an event of an approval chain, else None."""
        event = self.events.get(event_type, {})
        return (event["request"], event["step"]) if "request" in event else None

    def statuses(self) -> tuple[str, ...]:
        return tuple(row["status"] for row in self._doc["status"])


class SeparationBasis:
    """The table of separation_basis.yaml."""

    def __init__(self, doc: dict) -> None:
        self._doc = doc

    def process_of(self, action_type: str) -> str | None:
        return self._doc["actions"].get(action_type, {}).get("process")

    def ground_article(self, ground: str | None) -> str | None:
        """`art39_2` -> `art39`; `statutory_retirement` -> `retirement`."""
        return None if ground is None else self._doc["grounds"][ground]["article"]

    def fixed(self, action_type: str) -> str | None:
        """The basis an action always has, or None when it depends on its case or ground."""
        basis = self._doc["actions"][action_type]["basis"]
        return None if basis in (FROM_CASE, UNKNOWN) else basis

    def basis(self, action_type: str, case: dict | None, ground: str | None, machine: CaseMachine) -> str | None:
        """derived.separation.basis, or None when the request does not say (a rule then asks)."""
        basis = self._doc["actions"][action_type]["basis"]
        if basis != FROM_CASE:
            return None if basis == UNKNOWN else basis
        row = self._doc["no_case"] if case is None else self._doc["case_kinds"][case["kind"]]
        if row["basis"] == FROM_CASE_STATE:
            if "events" not in case:
                return None  # a case sent without its events: its state is unknown
            return machine.legal_effect(machine.run(case["events"])).basis
        if row["basis"] == FROM_GROUND:
            if ground is None:
                return None
            grounds = self._doc["grounds"][ground]
            if case is not None and grounds.get("employer_case") == UNKNOWN:
                return None
            return grounds["basis"]
        return None if row["basis"] == UNKNOWN else row["basis"]

    def decided_by(self, action_type: str, case: dict | None, ground: str | None) -> tuple[str, ...]:
        """The request fields that decide a basis `basis` left unknown (None): the case's events
        or the ground, when not given. Given, they are what happened: where this table leaves
        the basis open for them (a case holding no resignation in effect, an employee's ground in
        an employer's case) nothing the request could add decides it."""
        if self._doc["actions"][action_type]["basis"] != FROM_CASE:
            return ()
        row = self._doc["no_case"] if case is None else self._doc["case_kinds"][case["kind"]]
        if row["basis"] == FROM_CASE_STATE:
            return ("case.events",) if "events" not in case else ()
        if row["basis"] == FROM_GROUND:
            return ("action.ground",) if ground is None else ()
        return ()


class WrittenForm:
    """The table of written_form.yaml."""

    def __init__(self, doc: dict) -> None:
        self._doc = doc

    def legal_form(self, form: str | None) -> str:
        return self._doc["not_recorded"] if form is None else self._doc["forms"][form]["legal_form"]


class Classification:
    """The three tables, each behind its interpreter."""

    def __init__(self, docs: Mapping[str, dict]) -> None:
        self.docs = MappingProxyType(dict(docs))
        self.basis = SeparationBasis(docs["separation_basis"])
        self.machine = CaseMachine(docs["case_states"])
        self.forms = WrittenForm(docs["written_form"])

    @classmethod
    def load(cls, folder: Path) -> "Classification":
        folder = Path(folder)
        docs, problems = {}, []
        for name, schema in FILES.items():
            path = folder / f"{name}.yaml"
            doc, file_problems = _load(path, schema())
            docs[name] = doc
            problems.extend(file_problems)
        if problems:
            raise ClassificationError(problems)
        return cls(docs)

    def problems(self, vocabulary, citations: Mapping, chains: Iterable[str] = ()) -> list[tuple[str, str, str]]:
        """Every name the tables use that the vocabulary does not declare, every table row the
        vocabulary needs and the tables lack, and every ref the citations do not have."""
        out: list[tuple[str, str, str]] = []
        enums = vocabulary.enums

        def need(file, where, value, allowed, what):
            if value not in allowed:
                out.append((file, where, f"'{value}' is not {what} (known: {', '.join(allowed)})"))

        def every(file, where, rows, names, what):
            for name in names:
                if name not in rows:
                    out.append((file, where, f"no line for {what} '{name}'"))
            for name in rows:
                need(file, f"{where}.{name}", name, names, what)

        basis_values = tuple(vocabulary["derived.separation.basis"].values)
        sb, sbf = self.docs["separation_basis"], "classification/separation_basis.yaml"
        every(sbf, "actions", sb["actions"], enums["action_types"], "the action type")
        every(sbf, "case_kinds", sb["case_kinds"], enums["case_kinds"], "the case kind")
        every(sbf, "grounds", sb["grounds"], vocabulary["action.ground"].values, "the ground")
        for name, row in sb["actions"].items():
            need(sbf, f"actions.{name}.basis", row["basis"], (*basis_values, FROM_CASE, UNKNOWN), "a basis")
            if "process" in row:
                need(sbf, f"actions.{name}.process", row["process"], enums["case_kinds"], "a case kind")
        for where, row in [*((f"case_kinds.{k}", r) for k, r in sb["case_kinds"].items()), ("no_case", sb["no_case"])]:
            need(sbf, f"{where}.basis", row["basis"], (*basis_values, FROM_GROUND, FROM_CASE_STATE, UNKNOWN), "a basis")
        for name, row in sb["grounds"].items():
            need(sbf, f"grounds.{name}.basis", row["basis"], basis_values, "a basis")
            need(sbf, f"grounds.{name}.article", row["article"],
                 vocabulary["derived.separation.ground_article"].values, "an article")

        wf, wff = self.docs["written_form"], "classification/written_form.yaml"
        legal_forms = vocabulary["derived.resignation.form"].values
        every(wff, "forms", wf["forms"], enums["forms"], "the form")
        for name, row in wf["forms"].items():
            need(wff, f"forms.{name}.legal_form", row["legal_form"], legal_forms, "a legal form")
        need(wff, "not_recorded", wf["not_recorded"], legal_forms, "a legal form")

        cs, csf = self.docs["case_states"], "classification/case_states.yaml"
        every(csf, "events", cs["events"], enums["event_types"], "the event type")
        for record in RECORDS:
            declared = vocabulary[f"derived.case.{record}"].values
            if tuple(sorted(cs["records"][record])) != tuple(sorted(declared)):
                out.append((csf, f"records.{record}", f"must list the values of derived.case.{record}: "
                                                      f"{', '.join(declared)}"))
        states = {r: cs["records"][r] for r in RECORDS}
        for name, event in cs["events"].items():
            need(csf, f"events.{name}.action", event["action"], enums["action_types"], "an action type")
            if "request" in event and chains:
                need(csf, f"events.{name}.request", event["request"], tuple(chains),
                     "a request with an approval chain (process/config/approval_chains.yaml)")
        for name in cs["arrival"]["simultaneous_first"]:
            need(csf, "arrival.simultaneous_first", name, enums["event_types"], "an event type")
        for action, request in cs["decides"].items():
            need(csf, f"decides.{action}", action, enums["action_types"], "an action type")
            if chains:
                need(csf, f"decides.{action}", request, tuple(chains), "a request with an approval chain")
        for i, line in enumerate(cs["transitions"]):
            need(csf, f"transitions.{i}.event", line["event"], enums["event_types"], "an event type")
            for record, state in line["set"].items():
                need(csf, f"transitions.{i}.set.{record}", state, states[record], f"a {record} state")
        tests = [(f"transitions.{i}.when", line["when"]) for i, line in enumerate(cs["transitions"])]
        tests += [(f"{table}.{i}.when", row["when"]) for table in ("legal_effect", "status")
                  for i, row in enumerate(cs[table])]
        for where, test in tests:
            for record in RECORDS:
                for state in (test[record] if isinstance(test.get(record), list) else [test.get(record)]):
                    if state is not None:
                        need(csf, f"{where}.{record}", state, states[record], f"a {record} state")
            if "event" in test:
                need(csf, f"{where}.event", test["event"], enums["event_types"], "an event type")
        for state, timing in cs["withdrawal_timing"].items():
            need(csf, f"withdrawal_timing.{state}", state, states["withdrawal"], "a withdrawal state")
            need(csf, f"withdrawal_timing.{state}", timing,
                 vocabulary["derived.resignation.withdrawal_timing"].values, "a withdrawal timing")
        for i, row in enumerate(cs["legal_effect"]):
            need(csf, f"legal_effect.{i}.basis", row["basis"], (*basis_values, UNKNOWN), "a basis")

        for file, where, refs in _citing(self.docs):
            for ref in refs:
                if ref not in citations:
                    out.append((file, where, f"unknown ref '{ref}' (not in rules/citations/)"
                                + did_you_mean(ref, citations)))
        return out


def _citing(docs: Mapping[str, dict]):
    """(file, field, refs) of every `cite:` in the tables."""
    for name, doc in docs.items():
        file = f"classification/{name}.yaml"
        stack = [("", doc)]
        while stack:
            where, node = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    path = f"{where}.{key}" if where else str(key)
                    if key == "cite":
                        yield file, path, value
                    else:
                        stack.append((path, value))
            elif isinstance(node, list):
                stack.extend((f"{where}.{i}", item) for i, item in enumerate(node))


def _load(path: Path, schema: Schema) -> tuple[dict | None, list[tuple[str, str, str]]]:
    rel = f"classification/{path.name}"
    try:
        raw = load_yaml(path)
    except (OSError, YAMLError) as exc:
        return None, [(rel, "yaml", f"cannot read: {exc}".replace("\n", " "))]
    try:
        return schema.load(raw if isinstance(raw, dict) else {}), []
    except ValidationError as exc:
        return None, [(rel, field, reason) for field, reason in flatten_messages(exc.messages)]
