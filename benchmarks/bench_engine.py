"""In-process benchmark of the rule engine with the full rule set, against plain Python.

Prints, for a realistic mix (every rule example and fixture check, see workload.py):
  - start-up: load + validate + compile the full rule set (median of --startups runs);
  - evaluate() (facts + durable-rules + verdict) checks/s, p50, p99;
  - the same pipeline with a plain-Python interpreter of the same compiled conditions
    (plain_rules.py) in place of durable-rules, and the two matchers alone: the engine's overhead;
  - RSS (VmRSS) after 1,000 and after --mem-n (default 200,000) evaluations; with --request-mem-n N,
    also of the whole POST /v1/checks path in-process (test client, SQLite, trail) after 1,000 and N.
Latencies are wall-clock and CPU (thread_time): on a shared machine the wall-clock p99 includes
time the process was preempted by others.
It first checks that the interpreter and the engine fire the same rules on every request.

Run:  /tmp/venv/bin/python benchmarks/bench_engine.py            (about 2 minutes on 2 cores)
      /tmp/venv/bin/python benchmarks/bench_engine.py -n 5000 --mem-n 20000   (quick)
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from plain_rules import PlainRules
from workload import loaded_requests, percentile, request_bodies, snapshot_rules, vm_rss_kib

import service.decide.engine as engine_module
from service.decide.engine import RuleEngine
from service.decide.evaluation import evaluate
from service.decide.facts import derive_facts
from service.decide.rulebook import load_rulebook, validate_rules
from service.decide.verdicts import assemble


def timed(fn, items, n):
    """Wall-clock and CPU (thread_time) seconds per call: on a shared machine the wall-clock p99
    includes time the process was preempted; the CPU p99 does not."""
    samples, cpu = [], []
    wall = time.perf_counter()
    for i in range(n):
        item = items[i % len(items)]
        c, t = time.thread_time(), time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return samples, cpu, time.perf_counter() - wall


def line(label, samples, cpu, wall):
    ms, cpu_ms = [s * 1000 for s in samples], [s * 1000 for s in cpu]
    print(f"  {label:<44} {len(ms) / wall:>7.0f}/s  p50 {percentile(ms, .5):6.3f} ms  "
          f"p99 {percentile(ms, .99):6.3f} ms  mean {statistics.fmean(ms):6.3f} ms  "
          f"(CPU p50 {percentile(cpu_ms, .5):6.3f}, p99 {percentile(cpu_ms, .99):6.3f} ms)")
    return statistics.fmean(ms), percentile(ms, .5), percentile(ms, .99), percentile(cpu_ms, .99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20_000, help="timed checks per measurement (default 20000)")
    parser.add_argument("--mem-n", type=int, default=200_000, help="evaluations for the RSS figure (default 200000)")
    parser.add_argument("--startups", type=int, default=5, help="rule-set loads to time (default 5)")
    parser.add_argument("--request-mem-n", type=int, default=0,
                        help="also RSS of the whole POST /v1/checks path (Flask test client, SQLite, trail) "
                             "after 1,000 and this many requests (default 0: skip; 30000 takes ~5 min)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rules_dir = snapshot_rules(Path(tmp) / "rules")

        # --- start-up -------------------------------------------------------------------------
        loads, validates, compiles = [], [], []
        rulebook = None
        for _ in range(args.startups):
            t = time.perf_counter()
            book = load_rulebook(rules_dir)
            loads.append(time.perf_counter() - t)
            t = time.perf_counter()
            checked = validate_rules(rules_dir)
            validates.append(time.perf_counter() - t)
            conditions = {k: c for r in checked.rules for k, c in r.engine_conditions().items()}
            actions = {k: r.actions for r in checked.rules for k in r.engine_conditions()}
            t = time.perf_counter()
            RuleEngine(conditions, actions=actions).close()  # as load_rulebook builds it
            compiles.append(time.perf_counter() - t)
            if rulebook is None:
                rulebook = book
            else:
                book.engine.close()
        print(f"rule set: {len(rulebook.rules)} rules, version {rulebook.version[:19]}...")
        print(f"start-up: load + validate + compile {statistics.median(loads) * 1000:.0f} ms median "
              f"(min {min(loads) * 1000:.0f}; validate {statistics.median(validates) * 1000:.0f} ms, "
              f"durable-rules compile {statistics.median(compiles) * 1000:.0f} ms) over {args.startups} runs")

        bodies = request_bodies(rules_dir)
        requests = loaded_requests(bodies)
        print(f"mix: {len(requests)} requests (rule examples + fixture checks), {args.n} timed checks each")

        conditions = {k: c for rule in rulebook.rules.values() for k, c in rule.engine_conditions().items()}
        plain = PlainRules(conditions)
        plain_book = dataclasses.replace(rulebook, engine=plain)  # the same rule book, matched in Python

        # --- the interpreter must agree with the engine, or the comparison means nothing -------
        facts = []
        for request in requests:
            f = derive_facts(request, request["as_of"], rulebook.context)
            fact = f.engine_fact()
            by_engine, by_plain = sorted(rulebook.engine.fire(fact)), sorted(plain.fire(fact))
            if by_engine != by_plain:
                raise SystemExit(f"interpreter disagrees with durable-rules on {request}: "
                                 f"{by_engine} vs {by_plain}")
            matches = rulebook.match(fact)
            facts.append((f, fact, matches, rulebook.applicable(request["action"]["type"], request["as_of"])))
        fired_total = sum(sum(m.definite for m in matches.values()) for _, _, matches, _ in facts)
        print(f"agreement: interpreter and durable-rules fire the same rules on all {len(facts)} requests "
              f"({fired_total / len(facts):.2f} rules fired per check on average)")

        # The possible matches as before issue 23 (not restricted to unknowns): the same answers, more
        # action callbacks (each a JSON round of the session in durable-rules' wrapper).
        unguarded = {k: c for rule in rulebook.rules.values() for k, c in rule.engine_conditions(guarded=False).items()}
        before_book = dataclasses.replace(rulebook, engine=RuleEngine(
            unguarded, actions={k: rulebook.rules[k.split("#")[0]].actions for k in unguarded}))
        callbacks, fired = [0, 0], [0]
        complete = engine_module._Ruleset._check_complete

        def counting(collected):  # benchmark only: every action the engine ran, the catch-all included
            fired[0] += len(collected)
            return complete(collected)
        engine_module._Ruleset._check_complete = staticmethod(counting)
        for f, fact, matches, _ in facts:
            before = before_book.match(fact)
            if {k: m.outcome for k, m in before.items()} != {k: m.outcome for k, m in matches.items()} or \
                    {k: m.alternatives for k, m in before.items() if not m.definite} != \
                    {k: m.alternatives for k, m in matches.items() if not m.definite}:
                raise SystemExit(f"restricting the possible matches changed what the engine decided on {fact}")
            for i, engine in enumerate((before_book.engine, rulebook.engine)):
                fired[0] = 0
                engine.fire(fact)
                callbacks[i] += fired[0]
        engine_module._Ruleset._check_complete = staticmethod(complete)
        print(f"possible matches restricted to unknowns: same outcomes and alternatives on all {len(facts)} "
              f"requests; action callbacks per check {callbacks[0] / len(facts):.2f} before, "
              f"{callbacks[1] / len(facts):.2f} after")

        def plain_evaluate(request):
            return evaluate(plain_book, request)

        for r in requests * 3:  # warm up
            evaluate(rulebook, r)
            plain_evaluate(r)

        print("in-process, single thread:")
        n, rules = args.n, len(rulebook.rules)
        full = line("evaluate(): facts + durable-rules + verdict", *timed(lambda r: evaluate(rulebook, r), requests, n))
        # Before and after issue 23's restriction, alternated request by request (the order swapped
        # every pass), so that a burst of load on a shared machine hits both alike.
        pair = ([], [], [], [])
        for i in range(n):
            request = requests[i % len(requests)]
            order = ((0, before_book), (1, rulebook)) if (i // len(requests)) % 2 else ((1, rulebook), (0, before_book))
            for which, book_ in order:
                c, t = time.thread_time(), time.perf_counter()
                evaluate(book_, request)
                pair[which].append(time.perf_counter() - t)
                pair[2 + which].append(time.thread_time() - c)
        line("evaluate(), possible matches as before #23", pair[0], pair[2], sum(pair[0]))
        line("evaluate(), restricted to unknowns (after)", pair[1], pair[3], sum(pair[1]))
        base = line("same with the plain-Python interpreter", *timed(plain_evaluate, requests, n))
        eng = line(f"durable-rules fire() alone ({rules} rules)",
                   *timed(lambda f: rulebook.engine.fire(f[1]), facts, n))
        pla = line("interpreter fire() alone", *timed(lambda f: plain.fire(f[1]), facts, n))
        der = line("derive_facts() alone", *timed(lambda r: derive_facts(r, r["as_of"], rulebook.context), requests, n))
        asm = line("assemble() alone (verdict, findings, checked)",
                   *timed(lambda f: assemble(f[2], f[3], f[0], rulebook.vocabulary, registry=rulebook.citations), facts, n))
        print(f"engine overhead: evaluate() mean {full[0]:.3f} ms vs {base[0]:.3f} ms plain "
              f"({full[0] / base[0]:.2f}x); matching alone {eng[0]:.3f} vs {pla[0]:.3f} ms "
              f"({eng[0] / pla[0]:.1f}x); durable-rules is {eng[0] / full[0] * 100:.0f}% of evaluate(), "
              f"facts {der[0] / full[0] * 100:.0f}%, verdict {asm[0] / full[0] * 100:.0f}%")
        print(f"goal in-process p99 < 1 ms (issue 23): {'MET' if full[2] < 1 else 'MISSED'} (p99 {full[2]:.3f} ms wall-clock, "
              f"{full[3]:.3f} ms CPU; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")

        # --- memory -----------------------------------------------------------------------------
        done = 0
        marks = sorted({1_000, args.mem_n} | {m for m in (10_000, 50_000, 100_000) if m < args.mem_n})
        rss = {}
        started = time.perf_counter()
        for mark in marks:
            while done < mark:
                evaluate(rulebook, requests[done % len(requests)])
                done += 1
            gc.collect()
            rss[mark] = vm_rss_kib()
            print(f"  RSS after {mark:>7,} evaluations: {rss[mark] / 1024:7.1f} MiB "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        growth = (rss[args.mem_n] - rss[1_000]) / 1024
        print(f"memory: {rss[1_000] / 1024:.1f} MiB after 1,000, {rss[args.mem_n] / 1024:.1f} MiB after "
              f"{args.mem_n:,} ({growth:+.1f} MiB); ru_maxrss {maxrss / 1024:.1f} MiB")
        print(f"goal no memory growth: {'MET' if growth < 2 else 'MISSED'} (growth {growth:+.1f} MiB, noise < 2 MiB)")
        if args.request_mem_n:
            request_memory(Path(tmp), rules_dir, bodies, args.request_mem_n)


def request_memory(tmp: Path, rules_dir: Path, bodies: list[dict], n: int) -> None:
    """RSS of the full request path in-process: schema, auth, facts, engine, trail, JSON log."""
    import logging

    from harness import BENCH_KEY, auth_headers

    from service import create_app
    from service.http.observability import configure_json_logging
    configure_json_logging()
    logging.getLogger().handlers[0].stream = open(os.devnull, "w")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp / 'mem.sqlite'}", "DEV_KEY": BENCH_KEY,
                      "RULES_DIR": str(rules_dir)})
    client, headers = app.test_client(), auth_headers()
    done, rss = 0, {}
    for mark in sorted({1_000, n} | {m for m in (5_000, 10_000, 20_000) if m < n}):
        while done < mark:
            response = client.post("/v1/checks", json=bodies[done % len(bodies)], headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)
            done += 1
        gc.collect()
        rss[mark] = vm_rss_kib()
        print(f"  RSS after {mark:>7,} POST /v1/checks (in-process, SQLite): {rss[mark] / 1024:7.1f} MiB", flush=True)
    print(f"request path: {(rss[n] - rss[1_000]) / 1024:+.1f} MiB from 1,000 to {n:,} requests")
    app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
