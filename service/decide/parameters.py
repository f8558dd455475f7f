"""Dated legal parameters (OpenFisca style), one YAML file per parameter.

``rules/labor_law/parameters/maternity/base_days.yaml`` is parameter ``maternity.base_days``::

    description: 产假基本天数 / Basic maternity leave days
    metadata: {unit: day, reference: FEM-7}
    values:
      2012-04-28:                # the date the instrument took effect
        value: 98
        metadata: {reference: FEM-7, note: 女职工劳动保护特别规定 第七条}

An amendment is a new date key, never an edit. The value in force on a date is the one under the
latest key on or before that date. Values may be scalars, mappings or lists; they are returned
read-only (mappings as ``MappingProxyType``, lists as tuples).

No wall-clock reads: every answer depends only on the files and the date passed in.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

from schemas.data_files import ParameterFileSchema
from service.decide.suggest import did_you_mean
from service.decide.yamlfile import load_checked

__all__ = [
    "DEFAULT_ROOT",
    "Citation",
    "ParameterError",
    "ParameterFileError",
    "ParameterNotInForce",
    "ParameterSet",
    "UnknownParameter",
]

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "rules" / "labor_law" / "parameters"

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ParameterError(Exception):
    """Base class for parameter errors."""


class ParameterFileError(ParameterError, ValueError):
    """A parameter file is unreadable or invalid."""

    def __init__(self, file: str | Path, reason: str) -> None:
        self.file = str(file)
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


class UnknownParameter(ParameterError, KeyError):
    """No parameter file of that name."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        super().__init__(f"no parameter named {name!r}" + did_you_mean(name, known))

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class ParameterNotInForce(ParameterError, LookupError):
    """The parameter has no value in force on the date asked (all its values start later)."""

    def __init__(self, name: str, on: date, earliest: date) -> None:
        self.name = name
        self.on = on
        self.earliest = earliest
        super().__init__(
            f"parameter {name!r} has no value in force on {on.isoformat()}: "
            f"its earliest value takes effect on {earliest.isoformat()}"
        )


@dataclass(frozen=True)
class Citation:
    """Where the value in force comes from."""

    parameter: str
    in_force_from: date
    references: tuple[str, ...]  # catalog ids, e.g. ("FEM-7",)
    note: str | None
    unit: str | None
    description: str


@dataclass(frozen=True)
class _Value:
    start: date
    value: Any
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class _Parameter:
    name: str
    file: str
    description: str
    metadata: Mapping[str, Any]
    values: tuple[_Value, ...]  # sorted by start

    def at(self, on: date) -> _Value:
        if isinstance(on, datetime) or not isinstance(on, date):
            raise TypeError(f"'on' must be a date, got {on!r}")
        starts = [v.start for v in self.values]
        i = bisect.bisect_right(starts, on)
        if i == 0:
            raise ParameterNotInForce(self.name, on, starts[0])
        return self.values[i - 1]


class ParameterSet:
    """All parameters under one directory, keyed by dotted name."""

    def __init__(self, parameters: Mapping[str, _Parameter]) -> None:
        self._params = dict(parameters)

    @classmethod
    def load(cls, root: Path | str = DEFAULT_ROOT) -> "ParameterSet":
        root = Path(root)
        if not root.is_dir():
            raise ParameterFileError(root, "parameter root is not a directory")
        params: dict[str, _Parameter] = {}
        for path in sorted(root.rglob("*")):
            if path.is_dir():
                continue
            if path.suffix not in (".yaml", ".yml"):
                continue
            rel = path.relative_to(root).with_suffix("")
            if not all(_NAME_PART.match(part) for part in rel.parts):
                raise ParameterFileError(path, "file and folder names must be [A-Za-z0-9_-] (they form the parameter name)")
            name = ".".join(rel.parts)
            if name in params:
                raise ParameterFileError(path, f"parameter {name!r} is defined twice ({params[name].file})")
            params[name] = _parse_file(path, name)
        if not params:
            raise ParameterFileError(root, "no parameter files found")
        return cls(params)

    # ---- queries --------------------------------------------------------------------------
    def get(self, name: str, *, on: date) -> Any:
        """The value of ``name`` in force on ``on`` (the latest date key <= on)."""
        return self._param(name).at(on).value

    def reference(self, name: str, *, on: date) -> Citation:
        """The citation for the value of ``name`` in force on ``on``."""
        p = self._param(name)
        v = p.at(on)
        refs = _refs(v.metadata.get("reference")) or _refs(p.metadata.get("reference"))
        note = v.metadata.get("note")
        return Citation(
            parameter=name,
            in_force_from=v.start,
            references=refs,
            note=note if isinstance(note, str) else None,
            unit=p.metadata.get("unit"),
            description=p.description,
        )

    def unit(self, name: str) -> str | None:
        """The parameter's `metadata.unit` (day, month, ...), or None."""
        return self._param(name).metadata.get("unit")

    def history(self, name: str) -> tuple[tuple[date, Any], ...]:
        """Every (effective date, value) of ``name``, oldest first."""
        return tuple((v.start, v.value) for v in self._param(name).values)

    def files(self) -> dict[str, str]:
        """Each parameter's file, by name."""
        return {name: p.file for name, p in self._params.items()}

    def written_references(self) -> Iterator[tuple[str, str, str]]:
        """(file, field path, catalog id) for every reference written in the parameter files."""
        for p in self._params.values():
            for ref in _refs(p.metadata.get("reference")):
                yield p.file, "metadata.reference", ref
            for v in p.values:
                for ref in _refs(v.metadata.get("reference")):
                    yield p.file, f"values.{v.start.isoformat()}.metadata.reference", ref

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._params))

    def __len__(self) -> int:
        return len(self._params)

    def _param(self, name: str) -> _Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise UnknownParameter(name, self._params) from None


# ---- loading and validation ------------------------------------------------------------------
def _parse_file(path: Path, name: str) -> _Parameter:
    def fail(reason: str) -> ParameterFileError:
        return ParameterFileError(path, reason)

    doc = load_checked(path, ParameterFileSchema(), fail)
    description, metadata = doc["description"], doc.get("metadata", {})
    _check_metadata(fail, "metadata", metadata)

    values: list[_Value] = []
    for key, entry in doc["values"].items():  # keys are unique: the loader rejects duplicates
        start = _parse_date(key)
        if start is None:
            raise fail(f"values: key {key!r} is not an ISO date YYYY-MM-DD")
        where = f"values.{start.isoformat()}"
        entry_meta = entry.get("metadata", {})
        _check_metadata(fail, f"{where}.metadata", entry_meta)
        if not (_refs(entry_meta.get("reference")) or _refs(metadata.get("reference"))):
            raise fail(f"{where}: no reference (give metadata.reference on the value or the file)")
        wrong = _misfit(entry["value"], metadata.get("unit"))
        if wrong:
            raise fail(f"{where}.value: {wrong}")
        values.append(_Value(start, _freeze(entry["value"]), _freeze(entry_meta)))
    values.sort(key=lambda v: v.start)
    return _Parameter(name, str(path), description.strip(), _freeze(dict(metadata)), tuple(values))


# What each unit accepts (rules/README.md, "Parameters"): a count of days, weeks, months, years or
# hours is a whole number; an amount of money or a ratio is any number. A table (a mapping or a
# list) holds the same in its cells, beside empty cells (null) and the ISO dates or months a table
# keys its rows by. A value read as text ("60天") would reach date arithmetic and crash a check.
WHOLE_UNITS = ("day", "week", "month", "year", "hour")
NUMBER_UNITS = ("yuan", "ratio")
UNITS = WHOLE_UNITS + NUMBER_UNITS
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


def _misfit(value: Any, unit: Any) -> str | None:
    """Why the value does not fit its unit, with what to write instead; None when it fits."""
    if unit is None:
        return None
    if unit not in UNITS:
        return (f"unit {unit!r} is not one of {', '.join(UNITS)}"
                + (did_you_mean(str(unit), UNITS) or " — use one of them in metadata.unit"))
    whole = unit in WHOLE_UNITS
    kind = f"a whole number of {unit}s" if whole else "a number"

    def fits(cell: Any, top: bool) -> bool:
        if isinstance(cell, bool):
            return False
        if isinstance(cell, int):
            return cell >= 0 or not whole
        if isinstance(cell, float):
            return not whole
        if top:
            return False
        return cell is None or (isinstance(cell, str) and bool(_DATE_TEXT.match(cell)))

    def first_misfit(node: Any, top: bool) -> Any:
        if isinstance(node, dict):
            return next((bad for v in node.values() if (bad := first_misfit(v, False)) is not _FITS), _FITS)
        if isinstance(node, list):
            return next((bad for v in node if (bad := first_misfit(v, False)) is not _FITS), _FITS)
        return _FITS if fits(node, top) else node

    bad = first_misfit(value, True)
    if bad is _FITS:
        return None
    digits = re.sub(r"\D", "", str(bad)) if isinstance(bad, str) else ""
    example = f"write {digits}" if digits else f"write {kind} such as 60"
    cell = "" if bad is value else " in the table"
    return f"{bad!r}{cell} is not {kind} (unit: {unit}) — {example}, without words or units"


_FITS = object()


def _check_metadata(fail, where: str, meta: dict) -> None:
    ref = meta.get("reference")
    if ref is not None and not (
        (isinstance(ref, str) and ref.strip())
        or (isinstance(ref, list) and ref and all(isinstance(r, str) and r.strip() for r in ref))
    ):
        raise fail(f"{where}.reference must be a catalog id or a non-empty list of them")


def _parse_date(key: Any) -> date | None:
    if isinstance(key, str) and _ISO_DATE.match(key):  # the loader leaves dates as text
        try:
            return date.fromisoformat(key)
        except ValueError:
            return None
    return None


def _refs(ref: Any) -> tuple[str, ...]:
    if isinstance(ref, str):
        return (ref.strip(),)
    if isinstance(ref, (list, tuple)):
        return tuple(r.strip() for r in ref)
    return ()


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
