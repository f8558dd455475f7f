"""`rules explain FILE`: the answer the EHR would get for a check request, read by a person.

The request is decided exactly as POST /v1/checks decides it (schema load, fact derivation, the
engine, verdict assembly) against the rule files on disk, without the database: no decision id and
no receipt, since nothing is recorded.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from marshmallow import ValidationError

from schemas.check import CheckRequestSchema, CheckResultSchema
from schemas.errors import flatten_messages
from service.decide.evaluation import evaluate
from service.decide.rulebook import RuleBook
from service.decide.yamlfile import YAMLError, load_yaml


class RequestFileError(ValueError):
    """The request file cannot be read or is not a check request; the message names the field."""


def read_request(path: Path, schema=None) -> dict:
    """A check request from a JSON or YAML file, loaded as the API loads it."""
    try:
        if path.suffix.lower() == ".json":
            body = json.loads(path.read_text(encoding="utf-8"))
        else:
            body = load_yaml(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestFileError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise RequestFileError(f"{path}:{exc.lineno}: error: not valid JSON: {exc.msg}") from exc
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise RequestFileError(f"{path}{line}: error: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(body, dict):
        raise RequestFileError(f"{path}: error: a check request is a mapping (employee, action, ...)")
    if "case_id" in body:
        raise RequestFileError(f"{path}: error: case_id names a case in the service's ledger, which explain "
                               f"does not read — send the case itself under `case`")
    try:
        return (schema or CheckRequestSchema)().load(body)
    except ValidationError as exc:
        fields = "; ".join(f"{f}: {r}" for f, r in flatten_messages(exc.messages))
        raise RequestFileError(f"{path}: error: the service would refuse this request (422): {fields}") from exc


def answer(rulebook: RuleBook, request: dict) -> dict:
    """What POST /v1/checks answers, less decision_id and receipt (nothing is recorded)."""
    outcome = evaluate(rulebook, request)
    return CheckResultSchema().dump({"verdict": outcome.verdict, "as_of": outcome.as_of,
                                     "ruleset_version": outcome.ruleset_version,
                                     "findings": outcome.findings, "checked": outcome.checked})


def print_answer(result: dict, echo: Callable[[str], None]) -> None:
    """The answer as a bilingual table: verdict, each finding, then every rule checked."""
    echo(f"verdict 结论: {result['verdict']}   as_of: {result['as_of']}   rules: {result['ruleset_version']}")
    findings = result.get("findings") or []
    echo(f"\nfindings 认定 ({len(findings)}):")
    if not findings:
        echo("  (none: allow)")
    for f in findings:
        echo(f"  {f['verdict']:<10} {f['outcome']:<12} {f['rule_id']}")
        echo(f"      {f['title'].get('zh', '')} / {f['title'].get('en', '')}")
        if f.get("missing_facts"):
            echo(f"      missing 缺少的事实: {', '.join(f['missing_facts'])}")
        for d in f.get("dates") or []:
            echo(f"      {d['as']} {d['date']}: {d['outcome']}")
        for c in f.get("citations") or []:
            item = f" item {c['item']}" if c.get("item") else ""
            echo(f"      cites {c['ref']:<12} {c.get('law', '')} art. {c.get('article', '')}{item} ({c.get('role', '')})")
    checked = result.get("checked") or []
    echo(f"\nchecked 已检查的规则 ({len(checked)}):")
    width = max((len(c["rule_id"]) for c in checked), default=0)
    for c in checked:
        echo(f"  {c['rule_id']:<{width}}  {c['verdict']:<10} {c['outcome']}")
