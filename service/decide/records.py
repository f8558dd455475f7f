"""A record declared complete: an absent field in a declared area stands for "none".

The areas and what their absence means are data (rules/records/complete_record.yaml). A client
declares areas per API key or per request; here the declaration fills what the request leaves
out, and says what it filled. Nothing given is overridden, and without a declaration nothing is
filled: an absent fact stays unknown.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from marshmallow import ValidationError

from schemas.data_files import CompleteRecordFileSchema
from schemas.errors import flatten_messages
from service.decide.yamlfile import load_checked

RECORDS_FILE = "records/complete_record.yaml"
# Who declared an area complete: the API key the request came with, or the request itself.
BY_KEY, BY_REQUEST = "key", "request"


class RecordsError(Exception):
    pass


class UnknownArea(ValueError):
    def __init__(self, index: int, area: str):
        super().__init__(area)
        self.index, self.area = index, area


@dataclass(frozen=True)
class Area:
    path: str
    description: dict
    absent_means: object


@dataclass(frozen=True)
class RecordAreas:
    areas: dict[str, Area]

    @classmethod
    def load(cls, root: Path) -> "RecordAreas":
        """The areas of the rules folder; none when it has no such file (a rule set recorded before
        declarations existed)."""
        path = Path(root) / RECORDS_FILE
        if not path.is_file():
            return cls({})
        doc = load_checked(path, CompleteRecordFileSchema(), RecordsError)
        areas = {name: Area(name, dict(spec["description"]), spec["absent_means"])
                 for name, spec in doc["areas"].items()}
        problems = [problem for area in areas.values() for problem in _contract_problems(area)]
        if problems:
            raise RecordsError("; ".join(problems))
        return cls(areas)

    def unknown(self, names) -> list[tuple[int, str]]:
        return [(i, name) for i, name in enumerate(names) if name not in self.areas]

    def check(self, names) -> None:
        for index, name in self.unknown(names):
            raise UnknownArea(index, name)

    def fill(self, request: dict, declared: list[tuple[str, str]]) -> tuple[dict, list[dict]]:
        """The request with each declared area's absent parts filled, and what was filled:
        [{field, value, declared_by}]. `declared`: (area, who) pairs, the first declaration of an
        area counting. The request is not changed."""
        out, assumed, seen = copy.deepcopy(request), [], set()
        for name, by in declared:
            if name in seen or name not in self.areas:
                continue
            seen.add(name)
            for field, value in _fill_area(out, self.areas[name]):
                assumed.append({"field": field, "value": value, "declared_by": by})
        return out, assumed

    def value_of(self, field: str):
        """The value an assumed field was given (for a recorded decision, rendered again)."""
        for name, area in self.areas.items():
            if field == name:
                return copy.deepcopy(area.absent_means)
            if field.startswith(name + ".") and isinstance(area.absent_means, dict):
                return copy.deepcopy(area.absent_means.get(field[len(name) + 1:]))
        return None


def declarations(request_areas, key_areas) -> list[tuple[str, str]]:
    """The request's own declaration first (it names who sent this request), then the key's."""
    return [*((a, BY_REQUEST) for a in request_areas or ()), *((a, BY_KEY) for a in key_areas or ())]


def _is_absent(value) -> bool:
    return value is None


def _fill_area(request: dict, area: Area) -> list[tuple[str, object]]:
    *parents, leaf = area.path.split(".")
    node = request
    for part in parents:
        if not isinstance(node.get(part), dict):
            return []  # the contract requires employee; nothing to fill elsewhere
        node = node[part]
    current = node.get(leaf)
    if _is_absent(current):
        node[leaf] = copy.deepcopy(area.absent_means)
        if isinstance(area.absent_means, dict):
            return [(f"{area.path}.{k}", v) for k, v in area.absent_means.items()]
        return [(area.path, area.absent_means)]
    if not (isinstance(current, dict) and isinstance(area.absent_means, dict)):
        return []  # a list or value given whole
    filled = []
    schema = _schema(area.path)
    for part, value in area.absent_means.items():
        if part in current:
            continue  # given, "unknown" included: the request said so
        candidate = {**current, part: value}
        if schema is not None and schema.validate(schema.dump(candidate)):
            continue  # what is given answers it otherwise (a childbirth with its date is recorded)
        current[part] = copy.deepcopy(value)
        filled.append((f"{area.path}.{part}", value))
    return filled


def _schema(path: str):
    from schemas.fields_doc import nested_schema
    return nested_schema(path)


def _contract_problems(area: Area) -> list[str]:
    """An area must be a field of the check contract, and its value one the contract accepts."""
    from schemas.check import CheckRequestSchema
    from schemas.fields_doc import contract_field

    if contract_field(area.path) is None:
        return [f"areas.{area.path}: not a request field of the check contract"]
    body: dict = {"employee": {"id": "E"}, "action": {"type": "edit_employee_record"}}
    node = body
    *parents, leaf = area.path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = copy.deepcopy(area.absent_means)
    try:
        CheckRequestSchema().load(body)
    except ValidationError as exc:
        return [f"areas.{area.path}.absent_means: {path}: {reason}" for path, reason in flatten_messages(exc.messages)]
    return []
