"""A request field of the check contract, described from its schema: what GET /v1/requirements
says of a field that is not a fact of the vocabulary (employee.children, action.notice_served_on)."""
from __future__ import annotations

from functools import lru_cache

from marshmallow import fields, validate

from schemas.fields import Day, StrictBoolean


def _type(field: fields.Field) -> str:
    if isinstance(field, fields.List):
        return "list"
    if isinstance(field, fields.Nested):
        return "object"
    if isinstance(field, (Day, fields.Date)):
        return "date"
    if isinstance(field, (StrictBoolean, fields.Boolean)):
        return "bool"
    if isinstance(field, fields.Integer):
        return "int"
    if isinstance(field, fields.Number):
        return "number"
    return "enum" if _choices(field) else "string"


def _choices(field: fields.Field) -> list:
    validators = field.validators if isinstance(field.validators, list) else [field.validators]
    for v in validators:
        if isinstance(v, validate.OneOf):
            return [c for c in v.choices if c != "unknown"]
    return []


def _schema_of(field: fields.Field):
    if isinstance(field, fields.List):
        field = field.inner
    return field.schema if isinstance(field, fields.Nested) else None


def field_at(schema, dotted: str, items: bool = True):
    """The field of `schema` at a dotted path (`[]` marks may be written), or None; `items`: a
    list's item field rather than the list."""
    node = schema
    parts = dotted.replace("[]", "").split(".")
    for i, part in enumerate(parts):
        if not hasattr(node, "fields"):
            return None
        found = next((f for n, f in node.fields.items() if (f.data_key or n) == part), None)
        if found is None:
            return None
        if i == len(parts) - 1 and not items:
            return found
        while isinstance(found, fields.List):
            found = found.inner
        if i == len(parts) - 1:
            return found
        node = found.schema if isinstance(found, fields.Nested) else None
    return None


def _lookup(path: str):
    """The check contract's field at a request path (a list itself, not its items)."""
    from schemas.check import CheckRequestSchema

    return field_at(CheckRequestSchema(), path, items=False)


@lru_cache(maxsize=None)
def contract_field(path: str) -> dict | None:
    """{description, type, values, parts} of a request field path, or None when the contract has
    no such field. `parts`: an object's (or a list's items') own fields, one level down."""
    field = _lookup(path)
    if field is None:
        return None
    out = {"description": field.metadata.get("description", ""), "type": _type(field),
           "values": _choices(field), "required": field.required}
    inner = _schema_of(field)
    if inner is not None and not out["description"]:
        # An object described by its parts only (employee.childbirth): its most telling part's words.
        described = [f.metadata["description"] for f in inner.fields.values() if f.metadata.get("description")]
        out["description"] = next((d for d in described if " / " in d), described[0] if described else "")
    if inner is not None:
        out["parts"] = [{"name": name, "type": _type(f), "values": _choices(f), "required": f.required}
                        for name, f in inner.fields.items()]
    return out


@lru_cache(maxsize=None)
def required_paths() -> tuple[str, ...]:
    """The fields every check must carry: required, under required objects only."""
    from schemas.check import CheckRequestSchema

    out = []

    def walk(schema, prefix):
        for name, field in schema.fields.items():
            if field.required:
                out.append(prefix + name) if _schema_of(field) is None else walk(_schema_of(field), f"{prefix}{name}.")

    walk(CheckRequestSchema(), "")
    return tuple(out)


def nested_schema(path: str):
    """The schema of an object field of the check contract (employee.childbirth), or None."""
    field = _lookup(path)
    return None if field is None else _schema_of(field)
