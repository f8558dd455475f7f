"""Scenarios: rule examples (rules/**) and fixtures (fixtures/**/*_test.yaml).

A fixture file is a suite with a `now`; each case is one check, or a story of `steps` whose
`record:` events build up the case the later steps carry (reading them and what a case asserts:
service/decide/fixture_cases.py). Everything runs through the same path
as the HTTP check (schema load, fact derivation, durable-rules, verdict assembly), without the
database: the same runner serves `rules test`, `scenarios run` and the gate every candidate rule
set passes before it goes live (service/decide/gate.py). Reporting (tables, JUnit, what-if):
service/tools/scenarios.py.

`now` stands for the wall clock: a request without `as_of` is decided as of `now`'s date in
China, exactly what the clock would give at that moment. It is passed as the request's as_of
instead of freezing the process's clock, because the gate runs inside the serving process
(a frozen clock would leak into other threads) and freezing costs more than the checks.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from marshmallow import ValidationError

from service.decide.evaluation import evaluate
from service.decide.rulebook import RuleBook
from service.decide.verdicts import verdict_of
from service.clock import day_in_china
from service.decide.fixture_cases import (  # noqa: F401 -- the runner's callers read fixtures here too
    asserted, compare, default_fixture_paths, diff_lines, fixture_checks, load_fixture_cases, story_requests)


@dataclass
class Result:
    source: str          # file::case name
    passed: bool
    expected: dict
    actual: dict
    problems: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)   # keys (id@effective_from) of the rules that fired
    seconds: float = 0.0


@dataclass
class Observed:
    """What one check gave: its summary (None when the request could not be decided)."""
    actual: dict | None
    error: str | None = None
    fired: list[str] = field(default_factory=list)


def run_fixture_case(rulebook: RuleBook, case: dict, now: str | None, source: str,
                     as_of: str | None = None) -> Result:
    """`as_of` (ISO date) replaces every request's as_of: what the case gives on that date."""
    started = time.perf_counter()
    if "steps" in case:
        result = _run_story(rulebook, case, now, source, as_of)
    else:
        result = _check(rulebook, case["request"], case["expected"], case.get("now", now), source, as_of)
    result.seconds = time.perf_counter() - started
    return result


def _run_story(rulebook: RuleBook, case: dict, now: str | None, source: str, as_of: str | None) -> Result:
    fired: list[str] = []
    for step_source, request, expected, step_now in fixture_checks(case, now, source):
        result = _check(rulebook, request, expected, step_now, step_source, as_of)
        fired.extend(k for k in result.fired if k not in fired)
        if not result.passed:
            result.fired = fired
            return result
    return Result(source, True, {}, {}, fired=fired)


def observe(rulebook: RuleBook, body: dict, now: str | None, as_of: str | None = None) -> Observed:
    """Decide one request at the moment `now` (None: the request must give as_of)."""
    if as_of is not None:
        body = {**body, "as_of": as_of}
    if "as_of" not in body:
        if now is None:
            return Observed(None, "no `now` for this case, and the request gives no as_of")
        try:
            body = {**body, "as_of": date_at(now).isoformat()}
        except ValueError as exc:
            return Observed(None, f"now: {exc}")
    try:
        request = rulebook.request_schema().load(body)
    except ValidationError as exc:
        return Observed(None, f"invalid request: {exc.messages}")
    outcome = evaluate(rulebook, request)
    return Observed(summarize(outcome.verdict, outcome.findings, outcome.as_of, outcome.checked),
                    fired=[r.key for r in outcome.fired])


def date_at(now: str | dt.date) -> dt.date:
    """The date in China at the moment `now` (ISO 8601; without an offset it is UTC, as freezegun reads it)."""
    return day_in_china(now if isinstance(now, dt.datetime) else dt.datetime.fromisoformat(str(now)))


def _check(rulebook: RuleBook, body: dict, expected: dict, now: str | None, source: str,
           as_of: str | None = None) -> Result:
    if now is None:
        return Result(source, False, expected, {}, ["no `now` for this case"])
    seen = observe(rulebook, body, now, as_of)
    if seen.actual is None:
        return Result(source, False, expected, {}, [seen.error])
    actual = seen.actual
    problems = compare(expected, actual)
    if not problems and as_of is None:  # a what-if date is not the case as written
        problems = unproven(actual["findings"], asserted(expected), expected.get("independent", ()))
    return Result(source, not problems, expected, actual, problems, fired=seen.fired)


def unproven(findings: list[dict], asserted: set[str], independent: Iterable[str] = ()) -> list[str]:
    """The rules a check asserts give their verdict that it does not rest on (rules/README.md, section 4).

    Switching a rule off is its findings removed and the verdict assembled again from the rest
    (the engine's other matches do not depend on it: no engine is rebuilt). Only what the facts
    given settle counts: a warn for want of facts (`unknown:`) is what the case does not know, not
    what it shows. Switching off each asserted deny or warn that fired must change the verdict, or
    leave no settled finding of its verdict (the one warn of a deny). Rules the case lists under
    `independent:` each give the verdict on their own: they are switched off together. An
    obligation never changes a verdict; the case's exact `obligations` already fail without it."""
    settled = [f for f in findings if f["outcome"] != "unknown"]
    verdict = verdict_of(settled)
    independent = set(independent)
    problems = [f"independent: {rule_id} is not a deny or warn rule the check gives — list only rules "
                f"the case names under `fired`" for rule_id in sorted(independent)
                if not any(f["rule_id"] == rule_id and f["verdict"] != "obligation" for f in settled)
                or rule_id not in asserted]
    for rule_id in sorted(asserted):
        own = next((f for f in settled if f["rule_id"] == rule_id), None)
        if own is None or own["verdict"] == "obligation":
            continue
        together = {rule_id} | ({f["rule_id"] for f in settled if f["rule_id"] in independent
                                 and f["verdict"] == own["verdict"]} if rule_id in independent else set())
        rest = [f for f in settled if f["rule_id"] not in together]
        keep = sorted(f["rule_id"] for f in rest if f["verdict"] == own["verdict"])
        if verdict_of(rest) != verdict or not keep:
            continue
        also = f" (with {', '.join(sorted(together - {rule_id}))})" if len(together) > 1 else ""
        them = "it" if len(keep) == 1 else "them"
        problems.append(f"proves nothing for {rule_id}: switched off{also}, the check still gives "
                        f"{own['verdict']} by {', '.join(keep)} — isolate the protection (give the facts that "
                        f"rule {them} out), or, if each gives the verdict on its own, list both under "
                        f"`independent:` (rules/README.md, section 4)")
    return problems


def summarize(verdict: str, findings: list[dict], as_of: dt.date, checked: list[dict] = ()) -> dict:
    return {
        "verdict": verdict,
        "as_of": as_of.isoformat(),
        "rule_ids": sorted(f["rule_id"] for f in findings if f["verdict"] != "obligation"),
        "obligations": sorted(f["rule_id"] for f in findings if f["verdict"] == "obligation"),
        "unknown": sorted(f["rule_id"] for f in findings if f.get("outcome") == "unknown"),
        "citations": sorted({c["ref"] for f in findings for c in f["citations"]}),
        "missing_facts": sorted({m for f in findings for m in f["missing_facts"]}),
        "findings": [{"rule_id": f["rule_id"], "verdict": f["verdict"], "outcome": f.get("outcome", "fired"),
                      "missing_facts": list(f["missing_facts"]),
                      "citations": [citation_label(c) for c in f["citations"]]} for f in findings],
        "cleared": sorted(c["rule_id"] for c in checked if c["outcome"] == "cleared"),
    }


def citation_label(citation: dict) -> str:
    """`LCL-42-4 (art. 42 item 4)`: the ref and where it is in its law."""
    where = f"art. {citation['article']}" + (f" item {citation['item']}" if citation.get("item") else "")
    return f"{citation['ref']} ({where})"


def finding_lines(actual: dict) -> list[str]:
    """Every finding of the check: outcome (fired, unknown, dates_differ), missing facts, citations."""
    findings = actual.get("findings") or []
    if not findings:
        return ["findings: none (allow)"] if actual.get("verdict") == "allow" else []
    lines = ["findings:"]
    for f in findings:
        missing = f"  missing: {', '.join(f['missing_facts'])}" if f["missing_facts"] else ""
        lines.append(f"  {f['rule_id']}  {f['verdict']} ({f['outcome']}){missing}")
        if f["citations"]:
            lines.append(f"      cites {'; '.join(f['citations'])}")
    return lines


def rule_example_cases(rulebook: RuleBook) -> list[tuple[str, object, dict]]:
    """(id, rule, example) for every example of every rule."""
    return [(f"{rule.file}::{rule.id}::{example['name']['en']}", rule, example)
            for rule in sorted(rulebook.rules.values(), key=lambda r: (r.file, r.key))
            for example in rule.examples]


def run_rule_example(rulebook: RuleBook, rule, example: dict, source: str,
                     as_of: str | None = None) -> Result:
    """An example states what this one rule says for the request: its verdict, or none."""
    started = time.perf_counter()
    body = example["request"] if as_of is None else {**example["request"], "as_of": as_of}
    try:
        request = rulebook.request_schema().load(body)
    except ValidationError as exc:
        return Result(source, False, {"expect": example["expect"]}, {}, [f"invalid request: {exc.messages}"])
    if "as_of" not in request:
        return Result(source, False, {"expect": example["expect"]}, {}, ["examples must give as_of"])
    outcome = evaluate(rulebook, request)
    # What the rule itself said: its verdict, "unknown" (a warn naming missing facts) or "none".
    own = next((c for c in outcome.checked if c["rule_id"] == rule.id), None)
    got = {"fired": rule.verdict, "unknown": "unknown", "dates_differ": "dates_differ"}.get(own["outcome"], "none") \
        if own else "none"
    passed = got == example["expect"]
    summary = summarize(outcome.verdict, outcome.findings, outcome.as_of, outcome.checked)
    problem = f"rule {rule.id}: expected {example['expect']}, got {got}"
    if got == "unknown" and example["expect"] in (rule.verdict, "warn"):
        mine = next((f for f in summary["findings"] if f["rule_id"] == rule.id), None)
        missing = ", ".join(mine["missing_facts"]) if mine and mine["missing_facts"] else "facts"
        problem = (f"rule {rule.id}: expected {example['expect']}, but its outcome is unknown (missing: {missing}): "
                   f"it warns only because they are missing — give them, or write `expect: unknown`")
    problems = [] if passed else [problem]
    if passed and as_of is None and example["expect"] in ("deny", "warn", "obligation"):
        problems = unproven(summary["findings"], {rule.id})
    return Result(source, not problems, {"expect": example["expect"]},
                  {"rule_verdict": got, "findings": summary["findings"]},
                  problems,
                  fired=[r.key for r in outcome.fired], seconds=time.perf_counter() - started)


def run_scenarios(rulebook: RuleBook, paths: Iterable[Path], as_of: str | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  examples: bool = True) -> list[Result]:
    """Every rule example (unless examples=False) and every case of the fixture files.

    `progress(done, total)` is called after each case; `as_of` replaces every request's as_of.
    """
    cases = []
    if examples:
        cases += [(run_rule_example, (rulebook, rule, example, source))
                  for source, rule, example in rule_example_cases(rulebook)]
    unreadable = []
    for path in paths:
        try:
            cases += [(run_fixture_case, (rulebook, case, now, source))
                      for source, case, now in load_fixture_cases(Path(path))]
        except Exception as exc:  # noqa: BLE001 -- a broken fixture file is a failure of that file, not a crash
            unreadable.append(Result(str(path), False, {}, {}, [f"could not be run: cannot read this fixture file: "
                                                                f"{one_line(exc)}"]))
    results = list(unreadable)
    for done, (run, args) in enumerate(cases, start=1):
        try:
            results.append(run(*args, as_of=as_of))
        except Exception as exc:  # noqa: BLE001 -- a case the runner cannot run fails; the others still run
            results.append(Result(args[-1], False, {}, {}, [f"cannot run this case: {one_line(exc)}"]))
        if progress is not None:
            progress(done, len(cases))
    return results


def one_line(exc: BaseException) -> str:
    """An exception as one line a rule author can act on: the file and line when it has them."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f"{mark.name}:{mark.line + 1}: {getattr(exc, 'problem', None) or exc}".replace("\n", " ")
    if type(exc) is KeyError:  # a subclass (UnknownParameter) has its own words
        return f"the field {exc.args[0]!r} is missing"
    text = str(exc).replace("\n", " ").strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
