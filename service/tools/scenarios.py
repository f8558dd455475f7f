"""QA's side of the scenarios: the pass/fail table, JUnit XML for CI and the what-if report of
`rules test` and `scenarios run`. The runner they report on is service/decide/scenarios.py (the
gate of every candidate rule set runs it too); its names are handed on here for QA's callers.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

from service.decide.fixture_cases import diff_lines
from service.decide.scenarios import (  # noqa: F401 -- the runner, as QA's tools and tests call it
    Observed, Result, asserted, compare, date_at, default_fixture_paths, finding_lines, fixture_checks,
    load_fixture_cases, observe, one_line, rule_example_cases, run_fixture_case, run_rule_example, run_scenarios,
    story_requests, summarize, unproven)


def write_junit(results: list[Result], path: Path | str, name: str = "separation-guard") -> None:
    """JUnit XML for CI: one testsuite per file, one testcase per example or fixture case."""
    suites: dict[str, list[Result]] = {}
    for r in results:
        file = r.source.split("::", 1)[0]
        suites.setdefault(file, []).append(r)
    failures = sum(not r.passed for r in results)
    root = ET.Element("testsuites", name=name, tests=str(len(results)), failures=str(failures),
                      errors="0", time=f"{sum(r.seconds for r in results):.3f}")
    for file, members in suites.items():
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(members)),
                              failures=str(sum(not r.passed for r in members)), errors="0", skipped="0",
                              time=f"{sum(r.seconds for r in members):.3f}")
        for r in members:
            case_name = r.source.split("::", 1)[1] if "::" in r.source else r.source
            case = ET.SubElement(suite, "testcase", classname=file, name=case_name, time=f"{r.seconds:.3f}")
            if not r.passed:
                failure = ET.SubElement(case, "failure", message=(r.problems or ["failed"])[0], type="mismatch")
                failure.text = "\n".join(failure_lines(r))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def failure_lines(result: Result) -> list[str]:
    """Why a case failed: its diff, and what the diff cannot show (a case that proves nothing)."""
    lines = diff_lines(result.expected, result.actual) or list(result.problems)
    return lines + [p for p in result.problems if p.startswith(("proves nothing", "independent:")) and p not in lines]


def print_table(results: list[Result], echo: Callable[[str], None]) -> None:
    for r in results:
        echo(f"{'PASS' if r.passed else 'FAIL'}  {r.source}")  # whole: a name is how a case is found
        if not r.passed:
            for line in failure_lines(r) + finding_lines(r.actual):
                echo(f"        {line}")
    failed = sum(not r.passed for r in results)
    echo(f"{len(results) - failed} passed, {failed} failed")


def verdict_changed(result: Result) -> bool:
    """Whether the case's verdict (a fixture's, or an example's own rule's) is not the expected one."""
    if "expect" in result.expected:
        return result.actual.get("rule_verdict") != result.expected["expect"]
    return result.actual.get("verdict") != result.expected.get("verdict")


def print_what_if(results: list[Result], as_of: str, echo: Callable[[str], None]) -> None:
    """`scenarios run --as-of`: each case decided as of another date than the one its expectation
    was written for. A difference is what would change on that date, not a failure."""
    changed = [r for r in results if not r.passed]
    for r in changed:
        label = "VERDICT" if verdict_changed(r) else "RULES  "
        echo(f"{label}  {r.source}")
        for line in diff_lines(r.expected, r.actual) or r.problems:
            echo(f"        {line}")
    verdicts = sum(verdict_changed(r) for r in changed)
    echo(f"What if every request were decided as of {as_of}: of {len(results)} case(s), "
         f"{verdicts} verdict(s) would change, {len(changed) - verdicts} more would change only their "
         f"rules or facts, {len(results) - len(changed)} would stay as expected.")
