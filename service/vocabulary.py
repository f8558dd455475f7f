"""The fact vocabulary (rules/facts/*.yaml): the names a rule may read, and their types."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from service.yamlfile import load_yaml

FACT_TYPES = ("enum", "bool", "int", "number", "date", "string")


class VocabularyError(Exception):
    pass


@dataclass(frozen=True)
class FactSpec:
    name: str
    type: str
    source: str
    values: tuple[str, ...] = ()
    sensitive: bool = False
    description: str = ""
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
    # that reads it cites them too, as definitions (service/rulebook.py).
    defined_by: tuple[str, ...] = ()

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

    def __contains__(self, name: str) -> bool:
        return name in self.facts

    def __getitem__(self, name: str) -> FactSpec:
        return self.facts[name]

    @cached_property  # read by every check's trail entry; the vocabulary never changes once loaded
    def sensitive(self) -> frozenset[str]:
        return frozenset(n for n, f in self.facts.items() if f.sensitive)

    @classmethod
    def load(cls, folder: Path) -> "Vocabulary":
        """Every *.yaml in the folder; a name defined twice is an error."""
        facts: dict[str, FactSpec] = {}
        paths = sorted(Path(folder).glob("*.yaml"))
        if not paths:
            raise VocabularyError(f"{folder}: no fact files")
        for path in paths:
            doc = load_yaml(path)
            if not isinstance(doc, dict) or not isinstance(doc.get("facts"), dict):
                raise VocabularyError(f"{path.name}: expected a mapping with a 'facts' mapping")
            for name, spec in doc["facts"].items():
                if name in facts:
                    raise VocabularyError(f"{path.name}: fact {name} is already defined")
                facts[name] = _spec(path.name, name, spec)
        for spec in facts.values():
            for other in (*(spec.bounds or ()), *spec.details):
                if other not in facts:
                    raise VocabularyError(f"fact {spec.name}: {other} is not a known fact")
            if spec.bounds and any(facts[b].type != spec.type or facts[b].bounds for b in spec.bounds):
                raise VocabularyError(f"fact {spec.name}: its bounds must be plain facts of type {spec.type}")
        return cls(facts)


def _spec(file: str, name: str, spec) -> FactSpec:
    where = f"{file}: fact {name}"
    if not isinstance(spec, dict):
        raise VocabularyError(f"{where}: expected a mapping")
    ftype = spec.get("type")
    if ftype not in FACT_TYPES:
        raise VocabularyError(f"{where}: type must be one of {', '.join(FACT_TYPES)}")
    if spec.get("source") not in ("request", "derived"):
        raise VocabularyError(f"{where}: source must be request or derived")
    values = tuple(spec.get("values") or ())
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
    return FactSpec(name=name, type=ftype, source=spec["source"], values=values,
                    sensitive=bool(spec.get("sensitive", False)),
                    description=str(spec.get("description", "")), bounds=bounds, details=tuple(details),
                    inputs=tuple(inputs), defined_by=tuple(defined_by))
