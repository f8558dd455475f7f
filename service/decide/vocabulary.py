"""The fact vocabulary (rules/facts/*.yaml): the names a rule may read, and their types."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from marshmallow import ValidationError

from schemas.data_files import FactFileSchema
from schemas.errors import flatten_messages
from service.decide.yamlfile import load_yaml

FACT_TYPES = ("enum", "bool", "int", "number", "date", "string")


class VocabularyError(Exception):
    pass


@dataclass(frozen=True)
class RequestField:
    """How the check request carries a `source: request` fact (its `request:` block): the request
    schemas (schemas/request_contract.py) are built from it, so a new request field needs no Python."""
    description: str = ""      # the contract's text (OpenAPI), when it says more than the fact's
    required: bool = False     # required when the object holding it is given
    unknown: bool = False      # "unknown" is accepted, and means the same as leaving it out
    values_of: str = ""        # an int's allowed values: every value of this parameter's table


@dataclass(frozen=True)
class FactSpec:
    name: str
    type: str
    source: str
    values: tuple[str, ...] = ()
    sensitive: bool = False
    description: str = ""
    # The whole description in Chinese (`description` is "中文名称 / English description": a
    # Chinese name and an English explanation); the pages show both languages.
    description_zh: str = ""
    # A range: the value is known only within two other facts, its lowest and highest possible
    # value (e.g. a retirement date that depends on an unknown original retirement age).
    bounds: tuple[str, str] | None = None
    # Derived facts shown beside this one when a check says why a rule fired or was ruled out
    # (e.g. the day the nursing period ends, beside whether it is active).
    details: tuple[str, ...] = ()
    # For a derived fact: the request fields it is computed from, named beside it when it is
    # missing, so the EHR knows what to send.
    inputs: tuple[str, ...] = ()
    # Catalog refs of the provisions that define this fact (FEM-9 for the nursing period): a rule
    # that reads it cites them too, as definitions (service/decide/rulebook.py).
    defined_by: tuple[str, ...] = ()
    minimum: float | None = None   # bounds of an int or number (`min`, `max`)
    maximum: float | None = None
    request: RequestField = RequestField()
    # A declared derivation (`derive:`), checked and evaluated by service/decide/derivations.py.
    derive: object = field(default=None, compare=False)

    def accepts(self, value) -> bool:
        """Whether `value` is a well-typed value of this fact (the engine would coerce anything)."""
        if self.type == "bool":
            return isinstance(value, bool)
        if self.type == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        if self.type == "number":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.type == "enum":
            return isinstance(value, str) and value in self.values
        if self.type == "date":
            if not isinstance(value, str):
                return False
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                return False
            return len(value) == 10
        return isinstance(value, str)

    @property
    def ordered(self) -> bool:
        return self.type in ("int", "number", "date")


@dataclass(frozen=True)
class Vocabulary:
    facts: dict[str, FactSpec]
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)  # named value lists (`enums:`)

    def __contains__(self, name: str) -> bool:
        return name in self.facts

    def __getitem__(self, name: str) -> FactSpec:
        return self.facts[name]

    @cached_property  # read by every check; the vocabulary never changes once loaded
    def derivations(self) -> dict:
        """fact -> its declared derivation (service/decide/derivations.py), those of the right shape."""
        from service.decide.derivations import declared
        return declared(self)

    @cached_property  # read by every check; the vocabulary never changes once loaded
    def request_facts(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The facts copied from the request as they are (`source: request`), each with its path."""
        return tuple((name, tuple(name.split("."))) for name, spec in self.facts.items() if spec.source == "request")

    @cached_property  # read by every check's trail entry; the vocabulary never changes once loaded
    def sensitive(self) -> frozenset[str]:
        return frozenset(n for n, f in self.facts.items() if f.sensitive)

    def enum(self, name: str) -> tuple[str, ...]:
        return self.enums[name]

    @classmethod
    def load(cls, folder: Path) -> "Vocabulary":
        """Every *.yaml in the folder; a fact or list name defined twice is an error."""
        docs = _documents(folder)
        enums = load_enums(folder, docs)
        facts: dict[str, FactSpec] = {}
        for path, doc in docs:
            for name, spec in doc["facts"].items():
                if name in facts:
                    raise VocabularyError(f"{path.name}: fact {name} is already defined")
                # The whole description in Chinese is for people (the pages); nothing decides with it.
                facts[name] = replace(_spec(path.name, name, spec, enums),
                                      description_zh=str(spec.get("description_zh", "")))
        for spec in facts.values():
            for other in (*(spec.bounds or ()), *spec.details):
                if other not in facts:
                    raise VocabularyError(f"fact {spec.name}: {other} is not a known fact")
            if spec.bounds and any(facts[b].type != spec.type or facts[b].bounds for b in spec.bounds):
                raise VocabularyError(f"fact {spec.name}: its bounds must be plain facts of type {spec.type}")
        for path, doc in docs:  # the rest of the file format, after the per-fact reasons above
            try:
                FactFileSchema().load(doc)
            except ValidationError as exc:
                raise VocabularyError(f"{path.name}: " + "; ".join(
                    f"{f}: {r}" for f, r in flatten_messages(exc.messages))) from exc
        return cls(facts, enums)


def load_enums(folder: Path, docs=None) -> dict[str, tuple[str, ...]]:
    """The named value lists of the vocabulary (`enums:` in any fact file)."""
    enums: dict[str, tuple[str, ...]] = {}
    for path, doc in docs if docs is not None else _documents(folder):
        raw = doc.get("enums") or {}
        if not isinstance(raw, dict):
            raise VocabularyError(f"{path.name}: enums must be a mapping of name -> list of values")
        for name, values in raw.items():
            if name in enums:
                raise VocabularyError(f"{path.name}: enum {name} is already defined")
            if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)
                    and len(set(values)) == len(values)):
                raise VocabularyError(f"{path.name}: enum {name} must be a list of distinct names")
            enums[name] = tuple(values)
    return enums


def _documents(folder: Path) -> list[tuple[Path, dict]]:
    paths = sorted(Path(folder).glob("*.yaml"))
    if not paths:
        raise VocabularyError(f"{folder}: no fact files")
    docs = []
    for path in paths:
        doc = load_yaml(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("facts"), dict):
            raise VocabularyError(f"{path.name}: expected a mapping with a 'facts' mapping")
        docs.append((path, doc))
    return docs


def _spec(file: str, name: str, spec, enums: dict[str, tuple[str, ...]]) -> FactSpec:
    where = f"{file}: fact {name}"
    if not isinstance(spec, dict):
        raise VocabularyError(f"{where}: expected a mapping")
    ftype = spec.get("type")
    if ftype not in FACT_TYPES:
        raise VocabularyError(f"{where}: type must be one of {', '.join(FACT_TYPES)}")
    if spec.get("source") not in ("request", "derived"):
        raise VocabularyError(f"{where}: source must be request or derived")
    values = spec.get("values") or ()
    if isinstance(values, str):  # the name of a list under `enums:`
        if values not in enums:
            raise VocabularyError(f"{where}: values names the list '{values}', which no fact file declares")
        values = enums[values]
    values = tuple(values)
    if (ftype == "enum") != bool(values):
        raise VocabularyError(f"{where}: an enum needs values, and only an enum has them")
    bounds = spec.get("range")
    if bounds is not None:
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, str) for b in bounds)):
            raise VocabularyError(f"{where}: range must name two facts, the lowest and the highest value")
        if ftype not in ("int", "number", "date") or spec["source"] != "derived":
            raise VocabularyError(f"{where}: only a derived int, number or date fact can be a range")
        bounds = tuple(bounds)
    inputs = spec.get("inputs") or []
    if not isinstance(inputs, list) or (inputs and spec["source"] != "derived") or not all(
            isinstance(d, str) and d.split(".", 1)[0] in ("employee", "employer", "action", "case") for d in inputs):
        raise VocabularyError(f"{where}: inputs must list request fields (employee.*, employer.*, action.*, "
                              f"case), on a derived fact")
    details = spec.get("details") or []
    if not isinstance(details, list) or not all(isinstance(d, str) for d in details):
        raise VocabularyError(f"{where}: details must be a list of fact names")
    defined_by = spec.get("defined_by", [])
    if not isinstance(defined_by, list) or not all(isinstance(r, str) and r for r in defined_by) \
            or len(set(defined_by)) != len(defined_by):
        raise VocabularyError(f"{where}: defined_by must be a list of distinct catalog refs")
    minimum, maximum = spec.get("min"), spec.get("max")
    for bound in (minimum, maximum):
        if bound is not None and (ftype not in ("int", "number") or isinstance(bound, bool)
                                  or not isinstance(bound, (int, float))):
            raise VocabularyError(f"{where}: min and max are numbers, on an int or number fact")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise VocabularyError(f"{where}: min is above max")
    return FactSpec(name=name, type=ftype, source=spec["source"], values=values,
                    sensitive=bool(spec.get("sensitive", False)),
                    description=str(spec.get("description", "")), bounds=bounds, details=tuple(details),
                    inputs=tuple(inputs), defined_by=tuple(defined_by), minimum=minimum, maximum=maximum,
                    request=_request_field(where, spec), derive=spec.get("derive"))


def _request_field(where: str, spec: dict) -> RequestField:
    raw = spec.get("request")
    if raw is None:
        return RequestField()
    if spec["source"] != "request" or not isinstance(raw, dict):
        raise VocabularyError(f"{where}: request is a mapping, on a source: request fact")
    unknown = sorted(set(raw) - {"description", "required", "unknown", "values_of"})
    if unknown:
        raise VocabularyError(f"{where}: request has no key {unknown[0]!r} (description, required, unknown, "
                              f"values_of)")
    if raw.get("unknown") and spec.get("type") != "enum":
        raise VocabularyError(f"{where}: request.unknown is for an enum")
    if raw.get("values_of") and spec.get("type") != "int":
        raise VocabularyError(f"{where}: request.values_of is for an int")
    return RequestField(description=str(raw.get("description") or ""), required=bool(raw.get("required")),
                        unknown=bool(raw.get("unknown")), values_of=str(raw.get("values_of") or ""))
