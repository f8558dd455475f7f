"""What judging a check on two days costs: evaluate() with the notice day and the effective date
the same (one engine pass) against the same requests with the effective date a month after the
notice (two fact derivations, and a second engine pass unless both days give the same facts).

The mix is every rule example and fixture check (workload.py), each made one-day (no
notice_served_on, no effective_date) and two-day (notice_served_on = as_of, effective_date =
as_of + 31 days). Prints checks/s, mean, p50 and p99 (wall-clock and CPU) for both, and how many
two-day checks needed the second engine pass.

Run:  /work/main/.venv/bin/python benchmarks/bench_two_dates.py [-n 5000]
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from workload import loaded_requests, percentile, request_bodies, snapshot_rules

from service.evaluation import evaluate, judgment_days
from service.rulebook import load_rulebook


def one_day(body: dict) -> dict:
    body = copy.deepcopy(body)
    body["action"].pop("notice_served_on", None)
    body["action"].pop("effective_date", None)
    return body


def two_days(body: dict) -> dict:
    body = one_day(body)
    as_of = dt.date.fromisoformat(str(body["as_of"])[:10])
    body["action"].update(notice_served_on=as_of.isoformat(),
                          effective_date=(as_of + dt.timedelta(days=31)).isoformat())
    return body


def timed(rulebook, requests, n):
    wall, cpu = [], []
    started = time.perf_counter()
    for i in range(n):
        c, t = time.thread_time(), time.perf_counter()
        evaluate(rulebook, requests[i % len(requests)])
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return wall, cpu, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000, help="evaluations per variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rules = snapshot_rules(Path(tmp) / "rules")
        rulebook = load_rulebook(rules)
        bodies = request_bodies(rules)
        one = loaded_requests([one_day(b) for b in bodies])
        two = loaded_requests([two_days(b) for b in bodies])
        # How often the second day's facts differ (a second engine pass), counted with the
        # engine's own calls.
        calls = {"n": 0}
        real = rulebook.match

        def counting(fact):
            calls["n"] += 1
            return real(fact)
        rulebook.match = counting
        for r in two:
            evaluate(rulebook, r)
        rulebook.match = real
        assert all(len(judgment_days(r, r["as_of"])) == 2 for r in two)
        print(f"{len(bodies)} requests; two-day checks needing a second engine pass: "
              f"{calls['n'] - len(two)} of {len(two)}")
        for r in one + two:  # warm up
            evaluate(rulebook, r)
        rows = {}
        for name, requests in (("one day (no notice date)", one), ("two days (notice + effect 31 d later)", two)):
            wall, cpu, total = timed(rulebook, requests, args.n)
            rows[name] = statistics.mean(cpu)
            print(f"{name:40s} {args.n / total:8.0f} checks/s  mean {statistics.mean(wall) * 1e3:.3f} ms  "
                  f"p50 {percentile(wall, .5) * 1e3:.3f} ms  p99 {percentile(wall, .99) * 1e3:.3f} ms  "
                  f"(CPU mean {statistics.mean(cpu) * 1e3:.3f} ms, p99 {percentile(cpu, .99) * 1e3:.3f} ms)")
        a, b = rows.values()
        print(f"two days cost {b / a:.2f}x the CPU of one day")
        rulebook.engine.close()


if __name__ == "__main__":
    main()
