"""How long the gate takes: build the full rule set and run every rule example and fixture case
against it (service/decide/gate.py), which start-up, the watcher and the reload endpoint all do
before a rule set goes live.

Prints median, min and max over --runs runs of:
  - build: load + validate + compile the rule set (load_rulebook);
  - gate: every rule example and every fixture case (uncached: run_gate);
  - build + gate: what a reload costs the worker that does it;
  - the per-process cache hit (same rules and fixtures content: only the two content hashes).
Wall-clock and CPU (process_time): on a shared machine wall-clock includes preemption.

Run:  /work/main/.venv/bin/python benchmarks/bench_gate.py [--runs 15]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from workload import ROOT, snapshot_rules

from service.decide.gate import gate, run_gate
from service.decide.rulebook import load_rulebook
from service.tools.scenarios import fixture_checks, load_fixture_cases, rule_example_cases


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def row(label: str, wall: list[float], cpu: list[float]) -> None:
    ms = [s * 1000 for s in wall]
    print(f"  {label:<28} median {statistics.median(ms):8.1f} ms   min {min(ms):8.1f}   max {max(ms):8.1f}"
          f"   (CPU median {statistics.median(cpu) * 1000:7.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--fixtures", type=Path, default=ROOT / "fixtures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as work:
        rules = snapshot_rules(Path(work) / "rules")
        build, gated, total, hit = ([], []), ([], []), ([], []), ([], [])
        result = None
        for _ in range(args.runs):
            book, b_wall, b_cpu = timed(lambda: load_rulebook(rules))
            result, g_wall, g_cpu = timed(lambda: run_gate(book, args.fixtures))
            for (wall, cpu), w, c in ((build, b_wall, b_cpu), (gated, g_wall, g_cpu),
                                      (total, b_wall + g_wall, b_cpu + g_cpu)):
                wall.append(w)
                cpu.append(c)
            gate(book, args.fixtures)  # fill the cache, then time a hit
            _, h_wall, h_cpu = timed(lambda: gate(book, args.fixtures))
            hit[0].append(h_wall)
            hit[1].append(h_cpu)
            book.engine.close()
    paths = sorted(args.fixtures.rglob("*_test.yaml"))
    examples = len(rule_example_cases(book))
    checks = sum(len(fixture_checks(case, now, source)) for path in paths
                 for source, case, now in load_fixture_cases(path))
    print(f"Gate on the full rule set: {len(book.rules)} rule versions; {result.cases_run} cases, "
          f"{len(result.failing)} failing: {examples} rule examples and {result.cases_run - examples} cases "
          f"of {len(paths)} fixture files ({checks} checks, a story's steps each one); {args.runs} runs")
    row("build", *build)
    row("gate", *gated)
    row("build + gate", *total)
    row("gate, cached (same content)", *hit)


if __name__ == "__main__":
    main()
