"""Where the time of one POST /v1/checks goes, in-process (Flask test client), on SQLite and PostgreSQL.

Wraps the phases of a request with timers (benchmark-only monkeypatching, in this process only):
auth key lookup, request schema load, evaluate() (facts + durable-rules + verdict), building the
trail entry, appending and committing it, the response dump and the JSON request log; the rest is
Flask / werkzeug / flask-smorest. With --cprofile it also prints cProfile's top functions.

Run:  /tmp/venv/bin/python benchmarks/profile_request.py [-n 2000] [--cprofile] [--no-postgres]
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import io
import logging
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from harness import BENCH_KEY, PostgresSchema, auth_headers
from workload import request_bodies, snapshot_rules

import schemas.check
import service.http.auth
import service.http.checks
import service.flows.check
import service.http.observability
import service.record.trail
from service import create_app

SPENT: dict[str, float] = defaultdict(float)


def timed(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - t
    return wrapper


def instrument() -> None:
    service.http.auth._client_for = timed("auth: API key lookup (1 SELECT)", service.http.auth._client_for)
    schemas.check.CheckRequestSchema.load = timed("request schema load (marshmallow)",
                                                  schemas.check.CheckRequestSchema.load)
    service.flows.check.evaluate = timed("evaluate(): facts + durable-rules + verdict", service.flows.check.evaluate)
    service.flows.check.decision_entry = timed("decision_entry(): the trail entry's content and digests",
                                        service.flows.check.decision_entry)
    service.record.trail.append_and_commit = timed("append_and_commit(): insert, queue and commit the trail entry",
                                            service.record.trail.append_and_commit)
    service.record.trail.Appended.receipt = timed("the receipt: Ed25519 signature", service.record.trail.Appended.receipt)
    service.http.checks._decide = timed("_decide", service.http.checks._decide)
    schemas.check.CheckResultSchema.dump = timed("response schema dump (marshmallow)",
                                                 schemas.check.CheckResultSchema.dump)
    log = service.http.observability.request_log
    log.info = timed("JSON request log line", log.info)


def run(label: str, url: str, rules_dir: Path, bodies: list[dict], n: int, profile: bool) -> None:
    # The sealer is not timed here (it runs beside the requests, in its own thread or worker).
    app = create_app({"DATABASE_URL": url, "DEV_KEY": BENCH_KEY, "RULES_DIR": str(rules_dir),
                      "TRAIL_SEALER_THREAD": False})
    client = app.test_client()
    headers = auth_headers()
    for body in bodies[:100]:
        client.post("/v1/checks", json=body, headers=headers)
    SPENT.clear()
    profiler = cProfile.Profile() if profile else None
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for i in range(n):
        response = client.post("/v1/checks", json=bodies[i % len(bodies)], headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
    if profiler:
        profiler.disable()
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    decide = SPENT.pop("_decide")
    SPENT["the rest of _decide"] = decide - SPENT["evaluate(): facts + durable-rules + verdict"] - \
        SPENT["decision_entry(): the trail entry's content and digests"] - \
        SPENT["append_and_commit(): insert, queue and commit the trail entry"] - \
        SPENT["the receipt: Ed25519 signature"]
    SPENT["Flask, werkzeug, flask-smorest, test client (the rest)"] = total - sum(SPENT.values())
    print(f"{label}: {total / n * 1000:.2f} ms per request over {n} requests, of which {cpu / n * 1000:.2f} ms "
          f"CPU in this process (the rest: waiting for the database server, or preempted)" +
          (" (under cProfile: inflated)" if profile else ""))
    for name, seconds in sorted(SPENT.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<56} {seconds / n * 1000:7.3f} ms  {seconds / total * 100:5.1f}%")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
    app.extensions["db_engine"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    # The served process logs one JSON line per request (wsgi.py); do the same, to nowhere.
    service.http.observability.configure_json_logging()
    logging.getLogger().handlers[0].stream = open("/dev/null", "w")
    instrument()
    with tempfile.TemporaryDirectory() as tmp:
        rules_dir = snapshot_rules(Path(tmp) / "rules")
        bodies = request_bodies(rules_dir)
        run("SQLite", f"sqlite:///{tmp}/profile.sqlite", rules_dir, bodies, args.n, args.cprofile)
        if not args.no_postgres:
            with PostgresSchema() as pg:
                run("PostgreSQL", pg.url, rules_dir, bodies, args.n, args.cprofile)


if __name__ == "__main__":
    main()
