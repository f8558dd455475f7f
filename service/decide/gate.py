"""The gate every candidate rule set passes before it goes live: every example of its rules and
every fixture case, run against it with the runner of `rules test` and `scenarios run`
(service/decide/scenarios.py, no database: a story's `record:` events build its case in memory).
Putting a rule set live (start-up, the watcher, the reload endpoint) is service/flows/rules_live.py.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from cachetools import LRUCache

from service.decide.rulebook import RuleBook, content_version
from service.decide.scenarios import run_scenarios


@dataclass(frozen=True)
class FailingCase:
    case: str                # file::rule::example, or fixture file::case (step n)
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.case}: {'; '.join(self.problems)}"


@dataclass(frozen=True)
class GateResult:
    cases_run: int
    failing: tuple[FailingCase, ...]
    fixtures: str | None     # the fixtures folder that was run, None: the examples alone

    @property
    def ok(self) -> bool:
        return not self.failing


class RuleSetRefused(Exception):
    """The candidate loads but fails some of its own examples or of the fixtures."""

    def __init__(self, version: str, result: GateResult):
        self.version, self.result = version, result
        shown = "\n".join(f"  - {f}" for f in result.failing)
        super().__init__(f"rule set {version} refused: {len(result.failing)} of {result.cases_run} rule "
                         f"example(s) and fixture case(s) fail against it "
                         f"({'fixtures: ' + result.fixtures if result.fixtures else 'examples only'}):\n{shown}\n"
                         f"`separation-guard rules test --rules-dir RULES --fixtures FIXTURES` shows each failure's diff.")


# The same content gives the same outcomes: the result of a (rules, fixtures) pair is kept per
# process, so every app the test suite creates on the same files gates once. Content hashes, never
# paths or times, so an edited rule or fixture file is always gated again.
_GATED: LRUCache = LRUCache(maxsize=32)
_GATED_LOCK = threading.Lock()


def fixtures_version(folder: Path) -> str | None:
    return content_version(folder) if folder.is_dir() else None


def passed(candidate: RuleBook, run) -> GateResult:
    """`run(candidate)`, the candidate's gate; unless it passes, the candidate's engine is closed
    (nothing else will serve from it) and RuleSetRefused is raised with the result."""
    try:
        result = run(candidate)
    except BaseException:
        candidate.engine.close()
        raise
    if not result.ok:
        candidate.engine.close()
        raise RuleSetRefused(candidate.version, result)
    return result


def gate(rulebook: RuleBook, folder: Path, log: logging.Logger | None = None) -> GateResult:
    """Every example of the candidate's rules and every fixture case under `folder`, run against it."""
    present = folder.is_dir()
    if not present and log is not None:
        log.warning("fixtures folder %s does not exist: the rule examples alone gate the rule set", folder)
    key = (rulebook.version, str(folder) if present else None, fixtures_version(folder))
    with _GATED_LOCK:
        if key in _GATED:
            return _GATED[key]
    result = run_gate(rulebook, folder)
    with _GATED_LOCK:
        _GATED[key] = result
    return result


def run_gate(rulebook: RuleBook, folder: Path) -> GateResult:
    """The gate itself, never cached (benchmarks/bench_gate.py times it).

    A fixture file that cannot be read or run fails as a whole, named by its path: it must refuse
    the candidate, not crash the request that noticed the edit.
    """
    present = folder.is_dir()
    runs = [("rule examples", lambda: run_scenarios(rulebook, []))]
    for path in sorted(folder.rglob("*_test.yaml")) if present else []:
        runs.append((str(path), lambda path=path: run_scenarios(rulebook, [path], examples=False)))
    cases, failing = 0, []
    for name, run in runs:
        try:
            results = run()
        except Exception as exc:  # noqa: BLE001 (any failure to run refuses the candidate)
            cases += 1
            failing.append(FailingCase(name, (f"could not be run: {type(exc).__name__}: {exc}",)))
            continue
        cases += len(results)
        failing += [FailingCase(r.source, tuple(r.problems)) for r in results if not r.passed]
    return GateResult(cases, tuple(failing), str(folder) if present else None)
