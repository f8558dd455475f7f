"""The gate a company's pack passes before it serves its tenant (service/decide/gate.py is the
statutes'). Three parts, all run against the candidate pack rule book:

1. the examples of the statutes and of the pack's own rules (the process rules' examples are the
   default configuration's: under another chain or SLA they say something else, and the pack's
   own fixtures are what test the process rules under its configuration);
2. the pack's own fixtures (rules/companies/<tenant>/fixtures/*_test.yaml), asserted in full;
3. every check of the shared fixtures (fixtures/), decided with the pack and with the serving rule
   set (the default pack): the statutory findings must be the same, and the pack's verdict no
   less severe than the statutes' (the most severe statutory finding). The shared fixtures' own
   assertions hold for the statutes, which passed them; a company rule may add a finding to any
   of them, never take one away. The process rules' findings may differ, and must: they read the
   tenant's configuration (a 1-day SLA is overdue where the default's 2 days are not, and knows its
   deadline where the default's needs next year's calendar).
"""
from __future__ import annotations

import threading
from pathlib import Path

from cachetools import LRUCache

from service.decide.gate import FailingCase, GateResult, fixtures_version
from service.decide.packs import COMPANY
from service.decide.rulebook import RuleBook
from service.decide.scenarios import (Result, fixture_checks, load_fixture_cases, observe, one_line,
                                      rule_example_cases, run_rule_example, run_scenarios)

SEVERITY = {"allow": 0, "warn": 1, "deny": 2}
STATUTES = "labor_law"

_GATED: LRUCache = LRUCache(maxsize=64)
_SHARED: LRUCache = LRUCache(maxsize=4)   # what the statutes alone answer to each shared check
_LOCK = threading.Lock()


def gate_pack(pack: RuleBook, base: RuleBook, shared: Path) -> GateResult:
    """The gate, kept per (pack, statutes, fixtures) content, as service/decide/gate.py keeps its own."""
    key = (pack.version, base.version, fixtures_version(shared))
    with _LOCK:
        if key in _GATED:
            return _GATED[key]
    result = run_pack_gate(pack, base, shared)
    with _LOCK:
        _GATED[key] = result
    return result


def run_pack_gate(pack: RuleBook, base: RuleBook, shared: Path) -> GateResult:
    results = pack_results(pack, base, shared)
    failing = tuple(FailingCase(r.source, tuple(r.problems)) for r in results if not r.passed)
    return GateResult(len(results), failing, str(shared) if shared.is_dir() else None)


def pack_results(pack: RuleBook, base: RuleBook, shared: Path) -> list[Result]:
    """Every case of the gate, passed or not (`rules test --pack` prints them)."""
    results = [run_rule_example(pack, rule, example, source) for source, rule, example in rule_example_cases(pack)
               if rule.family in (STATUTES, COMPANY)]
    own = sorted((pack.pack.folder / "fixtures").rglob("*_test.yaml")) if pack.pack is not None else []
    for path in own:
        name = path.relative_to(pack.pack.folder.parent.parent).as_posix()  # companies/<tenant>/fixtures/...
        for result in run_scenarios(pack, [path], examples=False):
            _, sep, case = result.source.partition("::")
            result.source = f"{name}{sep}{case}"
            results.append(result)
    for source, problems in statutes_hold(pack, base, shared):
        results.append(Result(source, not problems, {"statutes": "as without the pack"}, {}, problems))
    return results


def shared_checks(shared: Path) -> list[tuple[str, dict | None, str | None]]:
    """(source, request, now) of every check the shared fixtures make, stories step by step; a file
    that cannot be read is one entry with no request (it fails the candidate, named by its path)."""
    out = []
    for path in sorted(shared.rglob("*_test.yaml")) if shared.is_dir() else []:
        try:
            cases = load_fixture_cases(path)
        except Exception as exc:  # noqa: BLE001 (an unreadable fixture refuses the candidate, never crashes a request)
            out.append((str(path), None, f"{type(exc).__name__}: {one_line(exc)}"))
            continue
        for source, case, now in cases:
            out += [(step, request, step_now) for step, request, _, step_now in fixture_checks(case, now, source)]
    return out


def statutes_hold(pack: RuleBook, base: RuleBook, shared: Path) -> list[tuple[str, list[str]]]:
    """(source, problems) per shared check: the pack's statutory findings against the statutes' own."""
    statutes = {r.id for r in base.rules.values() if r.family == STATUTES}
    key = (base.version, fixtures_version(shared))
    with _LOCK:
        answered = _SHARED.get(key)
    if answered is None:
        answered = {source: observe(base, request, now) for source, request, now in shared_checks(shared)
                    if request is not None}
        with _LOCK:
            _SHARED[key] = answered
    out = []
    for source, request, now in shared_checks(shared):
        if request is None:  # `now` holds why the file cannot be read
            out.append((source, [f"could not be run: {now}"]))
            continue
        alone, with_pack = answered[source], observe(pack, request, now)
        out.append((source, weakened(alone, with_pack, statutes)))
    return out


def statutory(actual: dict, statutes: set[str]) -> list[tuple]:
    return sorted((f["rule_id"], f["verdict"], f["outcome"], tuple(f["missing_facts"]))
                  for f in actual["findings"] if f["rule_id"] in statutes)


def weakened(alone, with_pack, statutes: set[str]) -> list[str]:
    """What the pack changed of the statutes' answer: nothing, or why it is refused."""
    if alone.actual is None or with_pack.actual is None:
        return [] if (alone.error is None) == (with_pack.error is None) else \
            [f"the pack decides what the statutes alone could not, or the reverse: {alone.error or with_pack.error}"]
    problems = []
    if statutory(alone.actual, statutes) != statutory(with_pack.actual, statutes):
        problems.append(f"statutory findings differ with the pack: {statutory(with_pack.actual, statutes)} "
                        f"instead of {statutory(alone.actual, statutes)}")
    floor = statutory_verdict(alone.actual, statutes)
    if SEVERITY[with_pack.actual["verdict"]] < SEVERITY[floor]:
        problems.append(f"the pack lowers the statutes' verdict from {floor} to {with_pack.actual['verdict']}")
    return problems


def statutory_verdict(actual: dict, statutes: set[str]) -> str:
    """The verdict the statutes' own findings give (an obligation never changes an allow)."""
    return max((f["verdict"] for f in actual["findings"] if f["rule_id"] in statutes and f["verdict"] in SEVERITY),
               key=SEVERITY.__getitem__, default="allow")
