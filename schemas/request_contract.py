"""The request schemas, built from the fact vocabulary of a rule set (rules/facts/*.yaml).

A `source: request` fact is declared once, in the vocabulary: its type, enum values, `min`/`max`,
whether it is sensitive, and how the request carries it (`request:` — its contract text, whether
it is required in its object, whether "unknown" is accepted). Its marshmallow field is made here
from that declaration, so adding a request field a rule reads needs no Python: the field is
validated, documented (OpenAPI, `make schemas`) and copied into the facts the rules see
(service/decide/facts/__init__.py).

The Python schemas (schemas/employee.py, action.py, case.py, check.py, ledger.py) keep the
structure only: identifiers, lists, the fields that Python derivation reads and no rule does, and
the checks across fields. Each is the base of the class built here, which keeps its name, so the
OpenAPI components keep theirs. An object the vocabulary names that no base declares
(`employee.foo.bar` without an `employee.foo`) is made as a new nested object.

Built once per vocabulary (cached): the same rule set gives the same classes.
"""
from __future__ import annotations

import copy
from functools import cached_property, lru_cache
from pathlib import Path

from marshmallow import Schema, fields, validate

from schemas.fields import Day, StrictBoolean, StrictFloat, StrictInteger, one_of

SHIPPED_RULES = Path(__file__).resolve().parents[1] / "rules"


class RequestContract:
    """The request schemas of one vocabulary. Every schema nested in two of them is the same class,
    as the OpenAPI document needs (one component per name)."""

    def __init__(self, build):
        from schemas import requests
        self._build = build
        self.check: type[Schema] = build(requests.CheckRequestBase)        # CheckRequestSchema
        self.batch: type[Schema] = build(requests.CheckBatchRequestBase)   # CheckBatchRequestSchema
        self.employee: type[Schema] = build(requests.EmployeeSchema)       # EmployeeSchema

    @cached_property
    def event(self) -> type[Schema]:
        """CaseEventRequestSchema (asked for later: few callers need it)."""
        from schemas import requests
        return self._build(requests.CaseEventRequestBase)


def contract_for(vocabulary, parameters) -> RequestContract:
    """The request schemas of a rule set: its vocabulary, and its parameters for `values_of`."""
    clashing = {name for name, _ in clashes(vocabulary)}  # refused by the loader; left out here
    facts = tuple(spec for spec in vocabulary.facts.values() if spec.source == "request" and spec.name not in clashing)
    values_of = tuple(sorted({spec.request.values_of: _parameter_values(parameters, spec.request.values_of)
                              for spec in facts if spec.request.values_of}.items()))
    return _build(facts, values_of, _original_ages(parameters))


@lru_cache(maxsize=1)
def shipped() -> RequestContract:
    """The contract of the rules/ folder the service ships with: the module-level schema names
    (schemas.check.CheckRequestSchema...) and the served OpenAPI document."""
    from service.decide.parameters import ParameterSet
    from service.decide.vocabulary import Vocabulary
    return contract_for(Vocabulary.load(SHIPPED_RULES / "facts"),
                        ParameterSet.load(SHIPPED_RULES / "labor_law" / "parameters"))


def field_for(spec, choices: tuple = ()) -> fields.Field:
    """The marshmallow field of one request fact, from its declaration."""
    kwargs: dict = {"metadata": {"description": spec.request.description or spec.description}}
    if spec.request.required:
        kwargs["required"] = True
    if spec.type == "enum":
        values = (*spec.values, "unknown") if spec.request.unknown else spec.values
        return fields.String(validate=one_of(values), **kwargs)
    if spec.type == "bool":
        return StrictBoolean(**kwargs)
    if spec.type == "date":
        return Day(**kwargs)
    if spec.type in ("int", "number"):
        if choices:
            kwargs["validate"] = validate.OneOf(choices)
        elif spec.minimum is not None or spec.maximum is not None:
            kwargs["validate"] = validate.Range(min=spec.minimum, max=spec.maximum)
        return (StrictInteger if spec.type == "int" else StrictFloat)(**kwargs)
    return fields.String(validate=validate.Length(min=1, max=2000), **kwargs)


def _parameter_values(parameters, name: str) -> tuple:
    """Every value of a parameter's table, over all its dated versions (the original retirement
    ages 50, 55 and 60)."""
    found: set = set()
    for _, table in parameters.history(name):
        found.update(table.values() if hasattr(table, "values") else [table])
    return tuple(sorted(found))


def _original_ages(parameters) -> tuple:
    """gender -> its original statutory ages (every dated value), for the check that the age
    given fits the gender (schemas/employee.py)."""
    ages: dict[str, set[int]] = {}
    for _, table in parameters.history("retirement.original_age"):
        for category, age in table.items():
            ages.setdefault(category.split("_", 1)[0], set()).add(age)
    return tuple((gender, tuple(sorted(values))) for gender, values in sorted(ages.items()))


def clashes(vocabulary) -> list[tuple[str, str]]:
    """(fact, reason) for each request fact the structure in schemas/ already holds: a field
    declared there (one Python derivation reads), or a path through a field that is no object."""
    bases = _bases()
    out = []
    for name, spec in vocabulary.facts.items():
        if spec.source != "request":
            continue
        parts = name.split(".")
        for depth, part in enumerate(parts, 1):
            path, base = ".".join(parts[:depth]), bases.get(".".join(parts[:depth - 1]))
            declared = base._declared_fields.get(part) if base is not None else None
            if declared is None or path in bases:
                if base is None or declared is None:
                    break  # a new field or object from here on
                continue
            out.append((name, f"{path} is already a field of the check request, declared in schemas/ "
                              f"({type(declared).__name__}, read by Python derivation): name another field"
                              if depth == len(parts) else
                              f"{path} is a field of the check request (schemas/), not an object: a request "
                              f"fact cannot sit under it"))
            break
    return out


def _bases() -> dict[str, type[Schema]]:
    """Where each structural schema sits in a check request (its facts' dotted prefix)."""
    from schemas import action, case, employee, requests
    return {
        "": requests.CheckRequestBase, "employee": employee.EmployeeSchema, "employer": employee.EmployerSchema,
        "employee.pregnancy": employee.PregnancySchema, "employee.childbirth": employee.ChildbirthSchema,
        "employee.miscarriage": employee.MiscarriageSchema,
        "employee.medical_treatment": employee.MedicalTreatmentSchema,
        "employee.contract": employee.ContractSchema,
        "employee.occupational_disease": employee.OccupationalDiseaseSchema,
        "employee.work_injury": employee.WorkInjurySchema,
        "employee.work_injury.paid_suspension": employee.PaidSuspensionSchema,
        "employee.union_officer": employee.UnionOfficerSchema, "employee.family": employee.FamilySchema,
        "action": action.ActionSchema, "action.actor": action.ActorSchema, "action.layoff": action.LayoffSchema,
        "case": case.CaseSchema,
    }


@lru_cache(maxsize=8)
def _build(facts: tuple, values_of: tuple, ages: tuple) -> RequestContract:
    choices = dict(values_of)
    bases = _bases()
    leaves: dict[str, dict[str, fields.Field]] = {}
    for spec in facts:
        parent, _, leaf = spec.name.rpartition(".")
        leaves.setdefault(parent, {})[leaf] = field_for(spec, choices.get(spec.request.values_of, ()))
    # Objects the vocabulary names that no base declares: new nested objects, under their parent.
    children: dict[str, dict[str, str]] = {}
    for path in list(leaves):
        while path not in bases:
            parent, _, name = path.rpartition(".")
            bases[path] = type(f"{''.join(p.title() for p in name.split('_'))}Schema", (Schema,),
                               {"__module__": __name__})
            children.setdefault(parent, {})[name] = path
            path = parent
    where = {base: path for path, base in bases.items()}
    built: dict[type, type] = {}

    def build(base: type[Schema]) -> type[Schema]:
        if base in built:
            return built[base]
        attrs: dict = {"__module__": base.__module__, "__qualname__": base.__qualname__}
        for name, declared in base._declared_fields.items():
            renested = _renest(declared, build)
            if renested is not None:
                attrs[name] = renested
        path = where.get(base)
        if path is not None:
            attrs.update(leaves.get(path, {}))
            for name, child in children.get(path, {}).items():
                attrs[name] = fields.Nested(build(bases[child]))
        if path == "employee":
            attrs["original_ages"] = dict(ages)
        built[base] = type(base.__name__, (base,), attrs)
        return built[base]

    return RequestContract(build)


def _renest(declared: fields.Field, build) -> fields.Field | None:
    """A copy of a Nested (or List of Nested) field pointing at the built class, or None when the
    field holds no schema."""
    if isinstance(declared, fields.Nested) and isinstance(declared.nested, type) \
            and issubclass(declared.nested, Schema):
        field = copy.copy(declared)
        field.nested = build(declared.nested)
        return field
    if isinstance(declared, fields.List) and isinstance(declared.inner, fields.Nested):
        inner = _renest(declared.inner, build)
        if inner is not None:
            field = copy.copy(declared)
            field.inner = inner
            return field
    return None
