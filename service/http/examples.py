"""The request examples of the OpenAPI document (examples.json), by operationId: the README's
first check and the walkthrough's events, as sent there. /docs offers the first as the body
"Try it out" sends. tests/test_openapi.py keeps them equal to the README and posts each one,
expecting the status it states and an answer as documented."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_FILE = Path(__file__).with_name("examples.json")


@cache
def _all() -> dict[str, list[dict]]:
    return json.loads(_FILE.read_text(encoding="utf-8"))


def request_examples(operation_id: str) -> dict[str, dict]:
    """An operation's examples as OpenAPI Example Objects, by name (the first is /docs' default)."""
    return {e["name"]: {"summary": e["summary"], "description": f"Answered {e['status']}.", "value": e["value"]}
            for e in _all()[operation_id]}


def listed(operation_id: str) -> list[dict]:
    """name, summary, status (the answer's), path (the path parameters, if any) and value."""
    return _all()[operation_id]
