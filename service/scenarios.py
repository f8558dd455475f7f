"""Time-frozen scenarios: rule examples (rules/**) and fixtures (fixtures/**/*_test.yaml).

A fixture file is a suite with a frozen `now`; each case is one check, or a story of `steps`
whose `record:` events build up the case the later steps carry. Everything runs through the
same path as the HTTP check (schema load, fact derivation, durable-rules, verdict assembly),
without the database.
"""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from freezegun import freeze_time
from marshmallow import ValidationError

from schemas.check import CheckRequestSchema
from service import PROJECT_ROOT
from service.evaluation import evaluate
from service.rulebook import RuleBook
from service.yamlfile import load_yaml


@dataclass
class Result:
    source: str          # file::case name
    passed: bool
    expected: dict
    actual: dict
    problems: list[str] = field(default_factory=list)


def default_fixture_paths() -> list[Path]:
    return sorted((PROJECT_ROOT / "fixtures").rglob("*_test.yaml"))


def load_fixture_cases(path: Path) -> list[tuple[str, dict, str]]:
    """(case id, case, suite now) for each case of a fixture file."""
    suite = load_yaml(path)
    rel = _rel(path)
    now = suite.get("now")
    return [(f"{rel}::{case['name']}", case, case.get("now", now)) for case in suite["cases"]]


def run_fixture_case(rulebook: RuleBook, case: dict, now: str | None, source: str) -> Result:
    if "steps" in case:
        return _run_story(rulebook, case, now, source)
    return _check(rulebook, case["request"], case["expected"], case.get("now", now), source)


def _run_story(rulebook: RuleBook, case: dict, now: str | None, source: str) -> Result:
    story_case = copy.deepcopy(case.get("case", {}))
    story_case.setdefault("events", [])
    for index, step in enumerate(case["steps"], start=1):
        request = copy.deepcopy(step["request"])
        if story_case.get("id"):
            request["case"] = copy.deepcopy(story_case)
        result = _check(rulebook, request, step["expected"], step.get("now", now),
                        f"{source} step {index}")
        if not result.passed:
            return result
        if "record" in step:
            story_case["events"].append(step["record"])
    return Result(source, True, {}, {})


def _check(rulebook: RuleBook, body: dict, expected: dict, now: str | None, source: str) -> Result:
    if now is None:
        return Result(source, False, expected, {}, ["no frozen `now` for this case"])
    with freeze_time(now):
        try:
            request = CheckRequestSchema().load(body)
        except ValidationError as exc:
            return Result(source, False, expected, {}, [f"invalid request: {exc.messages}"])
        outcome = evaluate(rulebook, request)
    actual = summarize(outcome.verdict, outcome.findings, outcome.as_of)
    return Result(source, not (problems := compare(expected, actual)), expected, actual, problems)


def summarize(verdict: str, findings: list[dict], as_of: dt.date) -> dict:
    return {
        "verdict": verdict,
        "as_of": as_of.isoformat(),
        "rule_ids": sorted(f["rule_id"] for f in findings if f["verdict"] != "obligation"),
        "obligations": sorted(f["rule_id"] for f in findings if f["verdict"] == "obligation"),
        "citations": sorted({c["ref"] for f in findings for c in f["citations"]}),
        "missing_facts": sorted({m for f in findings for m in f["missing_facts"]}),
    }


def compare(expected: dict, actual: dict) -> list[str]:
    """Exact on verdict, rule ids and (when given) obligations; citations and missing facts must be present."""
    problems = []
    if expected.get("verdict") != actual["verdict"]:
        problems.append(f"verdict: expected {expected.get('verdict')}, got {actual['verdict']}")
    for key in ("rule_ids", "obligations"):
        if key in expected and sorted(expected[key]) != actual[key]:
            missing = sorted(set(expected[key]) - set(actual[key]))
            extra = sorted(set(actual[key]) - set(expected[key]))
            problems.append(f"{key}: missing {missing}, unexpected {extra}")
    for key in ("citations", "missing_facts"):
        absent = sorted(set(expected.get(key, [])) - set(actual[key]))
        if absent:
            problems.append(f"{key}: expected {absent} among {actual[key]}")
    if "as_of" in expected and expected["as_of"] != actual["as_of"]:
        problems.append(f"as_of: expected {expected['as_of']}, got {actual['as_of']}")
    return problems


def rule_example_cases(rulebook: RuleBook) -> list[tuple[str, object, dict]]:
    """(id, rule, example) for every example of every rule."""
    return [(f"{rule.file}::{rule.id}::{example['name']}", rule, example)
            for rule in sorted(rulebook.rules.values(), key=lambda r: (r.file, r.key))
            for example in rule.examples]


def run_rule_example(rulebook: RuleBook, rule, example: dict, source: str) -> Result:
    """An example states what this one rule says for the request: its verdict, or none."""
    body = example["request"]
    try:
        request = CheckRequestSchema().load(body)
    except ValidationError as exc:
        return Result(source, False, {"expect": example["expect"]}, {}, [f"invalid request: {exc.messages}"])
    if "as_of" not in request:
        return Result(source, False, {"expect": example["expect"]}, {}, ["examples must give as_of"])
    outcome = evaluate(rulebook, request)
    own = [f for f in outcome.findings if f["rule_id"] == rule.id]
    got = own[0]["verdict"] if own else "none"
    passed = got == example["expect"]
    return Result(source, passed, {"expect": example["expect"]}, {"rule_verdict": got},
                  [] if passed else [f"rule {rule.id}: expected {example['expect']}, got {got}"])


def run_scenarios(rulebook: RuleBook, paths: Iterable[Path]) -> list[Result]:
    results = [run_rule_example(rulebook, rule, example, source)
               for source, rule, example in rule_example_cases(rulebook)]
    for path in paths:
        for source, case, now in load_fixture_cases(Path(path)):
            results.append(run_fixture_case(rulebook, case, now, source))
    return results


def print_table(results: list[Result], echo: Callable[[str], None]) -> None:
    width = min(100, max((len(r.source) for r in results), default=10))
    for r in results:
        echo(f"{'PASS' if r.passed else 'FAIL'}  {r.source[:width]}")
        for problem in r.problems:
            echo(f"        {problem}")
    failed = sum(not r.passed for r in results)
    echo(f"{len(results) - failed} passed, {failed} failed")


def _rel(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)
