"""JSON in and out through orjson: strict reading that names where a body goes wrong, fast answers.

Reading: orjson refuses what the standard library lets through and then chokes on (NaN and
Infinity, a number too large for a double, an unpaired surrogate escape, nesting past 1,024
levels: the standard library raised RecursionError or ValueError, a 500). When orjson refuses a
body, the refusal is traced back to the field it happened in, so the 400 names it.

Writing: the answer's JSON has the semantics Flask's default provider gave it: UTF-8, never an
ASCII escape; dates and date-times as ISO 8601 (orjson's RFC 3339); Decimal as a string; keys in
the order given; no NaN or Infinity (orjson writes null, so the document stays valid JSON).
"""
from __future__ import annotations

import datetime as dt
import decimal
import re
import typing as t

import orjson
from flask import request
from flask.json.provider import JSONProvider
from werkzeug.exceptions import UnsupportedMediaType

# What Flask's default provider does beyond what orjson does natively.
def _default(value: t.Any) -> t.Any:
    if isinstance(value, (dt.date, dt.time)):  # a subclass orjson leaves alone (freezegun's FakeDate)
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_OPTIONS = orjson.OPT_NON_STR_KEYS  # {401: 3} becomes {"401": 3}, as the standard library does


def dumps_bytes(value: t.Any, *, sort_keys: bool = False, indent: bool = False) -> bytes:
    option = _OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0) | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, default=_default, option=option)


class InvalidJson(ValueError):
    """A body that is not JSON we accept; `path` names where, `reason` says what."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


BODY = "(body)"  # the path of a fault in the document itself rather than in one field
_SHOWN_LEVELS = 12  # a 5,000-deep path is shown by its start


def loads_strict(raw: bytes | str) -> t.Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _explain(raw, exc) from None


def _explain(raw: bytes | str, exc: orjson.JSONDecodeError) -> InvalidJson:
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as bad:
            prefix = bytes(raw)[:bad.start].decode("utf-8", errors="replace")
            return InvalidJson(path_at(prefix, len(prefix)), "is not valid UTF-8")
        try:
            orjson.loads(text)  # again on the text, so the position counts characters
        except orjson.JSONDecodeError as again:
            exc = again
    else:
        text = raw
    reason = str(exc.msg)
    if "depth limit" in reason or "recursion" in reason:
        reason = "is nested more than 1024 levels deep"
    elif "infinity" in reason:
        reason = "is a number too large to represent (more than about 308 digits)"
    elif "surrogate" in reason:
        reason = "contains invalid Unicode (an unpaired surrogate escape)"
    else:
        reason = f"is not valid JSON ({reason})"
    return InvalidJson(path_at(text, exc.pos), reason)


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def path_at(text: str, position: int) -> str:
    """The dotted path (employee.contract.type, checks.0.as_of) of the value at `position`."""
    stack: list[list] = []  # per open container: [is_object, key or index, expecting_key]
    for token in _TOKEN.finditer(text):
        if token.start() >= position:
            break
        value = token.group()
        top = stack[-1] if stack else None
        if value in "{[":
            stack.append([value == "{", None if value == "{" else 0, value == "{"])
        elif value in "}]":
            if stack:
                stack.pop()
        elif value == ",":
            if top is not None:
                if top[0]:
                    top[2] = True
                else:
                    top[1] += 1
        elif value == ":":
            if top is not None:
                top[2] = False
        elif top is not None and top[0] and top[2] and value.startswith('"'):
            try:
                top[1] = orjson.loads(value)
            except orjson.JSONDecodeError:
                top[1] = value.strip('"')
    parts = [str(frame[1]) for frame in stack if frame[1] is not None]
    if not parts:
        return BODY
    if len(parts) > _SHOWN_LEVELS:
        return ".".join(parts[:_SHOWN_LEVELS]) + f"… ({len(parts)} levels)"
    return ".".join(parts)


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider on orjson: every answer, and every body read through Flask."""

    mimetype = "application/json"

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        # Flask's session serializer passes separators; orjson is always compact.
        return dumps_bytes(obj, sort_keys=bool(kwargs.get("sort_keys")), indent=bool(kwargs.get("indent"))).decode()

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        return loads_strict(s)

    def response(self, *args: t.Any, **kwargs: t.Any):
        obj = self._prepare_response_obj(args, kwargs)
        # The trailing newline is Flask's, kept so that the bytes on the wire stay the same.
        return self._app.response_class(dumps_bytes(obj) + b"\n", mimetype=self.mimetype)


def refuse_other_bodies() -> None:
    """Before each request: a POST, PUT or PATCH body must be JSON (415 otherwise)."""
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")
    if request.method in ("POST", "PUT", "PATCH") and has_body and not request.is_json \
            and request.endpoint != "pages.login":  # the pages' sign-in form posts a form
        raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")
