"""POST /v1/checks over HTTP under gunicorn (gunicorn.conf.py), against a bare Flask echo (our ceiling).

Starts, one after another, each on 127.0.0.1 at a free port with the repository's gunicorn.conf.py:
  - benchmarks/echo_app.py: parses the same JSON and echoes it (no rules, no database);
  - the service on SQLite (a temporary file);
  - the service on PostgreSQL (a fresh schema in the sg_bench database, created if absent).
Every check is recorded in the trail (the service always records before answering).
For each it runs a sequential client and --clients concurrent client processes (http.client,
one kept-alive connection per client; sync workers close it after each answer, so each request
then reconnects, as a real client of that configuration would), over the realistic mix of workload.py, each
bounded by --count requests and --seconds, and prints req/s, p50, p99, errors, % of bare Flask,
and the server's CPU per request: gunicorn's workers, and every PostgreSQL process on the machine
(so run it on an otherwise quiet machine).

Then --clients clients post the same mix to /v1/checks:batch, --batch checks per call (checks/s).
"service, trail off" is the service with the trail append patched to a no-op in the benchmark's own
gunicorn (gunicorn_no_trail.conf.py): what recording a decision costs.

Run:  /tmp/venv/bin/python benchmarks/bench_http.py                       (about 3 minutes)
      /tmp/venv/bin/python benchmarks/bench_http.py --count 1000 --seconds 10   (quick)
Env:  WEB_CONCURRENCY=<n> changes gunicorn's workers (default: gunicorn.conf.py's, 4 on 2 cores);
      GUNICORN_THREADS=<n> each gthread worker's threads (default 8);
      BENCH_GUNICORN_CONF=benchmarks/gunicorn_sync.conf.py runs every server with sync workers instead;
      BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/sg_bench).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
import harness
from harness import (PostgresSchema, RunResult, auth_headers, postgres_cpu_seconds, process_cpu, run_clients,
                     start_echo, start_service)
from workload import percentile, request_bodies, snapshot_rules

NO_TRAIL = Path(__file__).resolve().parent / "gunicorn_no_trail.conf.py"


def measure(server, bodies: list[dict], clients: int, count: int, seconds: float,
            warmup: int) -> tuple[RunResult, int, tuple[float, float]]:
    warm = run_clients(server.port, "/v1/checks", bodies, auth_headers(), 1, warmup, 30)
    workers, before = list(server.worker_rss_kib()), (_cpu_seconds(server.worker_rss_kib()), postgres_cpu_seconds())
    result = run_clients(server.port, "/v1/checks", bodies, auth_headers(), clients, count, seconds)
    spent = (_cpu_seconds(workers) - before[0], postgres_cpu_seconds() - before[1])
    per_request = tuple(seconds_ * 1000 / max(1, len(result.samples)) for seconds_ in spent)
    return result, len(warm.ok), per_request


def _cpu_seconds(pids) -> float:
    """User + system CPU of these processes so far (the clients are not counted)."""
    return sum(sum(process_cpu(pid)) for pid in pids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes (default 8)")
    parser.add_argument("--count", type=int, default=3000, help="requests per measurement at most (default 3000)")
    parser.add_argument("--seconds", type=float, default=20, help="time bound per measurement (default 20 s)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--batch", type=int, default=100,
                        help="also measure POST /v1/checks:batch with this many checks per call (0: skip)")
    parser.add_argument("--post-fork-dispose", action="store_true",
                        help="gunicorn_postfork.conf.py: the repository's settings plus the proposed post-fork fix")
    args = parser.parse_args()
    harness.use_post_fork_dispose(args.post_fork_dispose)

    rows = []
    batch_rows = []
    cpu_rows: dict[tuple[str, int], tuple[float, float]] = {}
    warm_ok: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rules_dir = snapshot_rules(tmp / "rules")
        bodies = request_bodies(rules_dir)
        batches = [{"checks": [bodies[(i * args.batch + j) % len(bodies)] for j in range(args.batch)]}
                   for i in range(len(bodies))] if args.batch else []
        workers = os.environ.get("WEB_CONCURRENCY", "gunicorn.conf.py default")
        config = "gunicorn_postfork.conf.py" if harness.POST_FORK_DISPOSE else harness.base_config().name
        print(f"mix: {len(bodies)} requests; {config}, workers: {workers}; client processes: 1 and "
              f"{args.clients}; bounds: {args.count} requests / {args.seconds:.0f} s per measurement; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

        def bench(label: str, server_factory):
            with server_factory() as server:
                for clients in (1, args.clients):
                    result, warmed, cpu = measure(server, bodies, clients, args.count, args.seconds, args.warmup)
                    warm_ok[label] = warm_ok.get(label, 0) + warmed
                    rows.append((label, clients, result))
                    cpu_rows[(label, clients)] = cpu
                    print(f"  done: {label}, {clients} client(s): {len(result.ok)} ok in {result.wall:.1f} s, "
                          f"statuses {result.statuses()}", flush=True)
                    if not result.ok:  # a figure of errors is no figure: say so, with the server's log
                        raise SystemExit(f"{label}: no request answered 200 ({result.statuses()}); "
                                         f"see {server.log_path}:\n{server.log_path.read_text()[-2000:]}")
                if args.batch and label.startswith("service") and label != "service, trail off":
                    # A bulk caller (a nightly re-check, say): the same mix, args.batch checks per call.
                    result = run_clients(server.port, "/v1/checks:batch", batches, auth_headers(), args.clients,
                                         max(1, args.count // 10), args.seconds)
                    batch_rows.append((label, args.clients, result))
                    print(f"  done: {label}, batches of {args.batch}, {args.clients} client(s): {len(result.ok)} ok "
                          f"in {result.wall:.1f} s, statuses {result.statuses()}", flush=True)

        bench("bare Flask echo", lambda: start_echo(tmp / "echo.log"))
        bench("service, trail off", lambda: start_service(f"sqlite:///{tmp / 'no_trail.sqlite'}", rules_dir,
                                                          tmp / "no_trail.log", config=NO_TRAIL))
        bench("service, SQLite", lambda: start_service(f"sqlite:///{tmp / 'bench.sqlite'}", rules_dir,
                                                       tmp / "sqlite.log"))
        if not args.no_postgres:
            with PostgresSchema() as pg:
                bench("service, PostgreSQL", lambda: start_service(pg.url, rules_dir, tmp / "pg.log"))
                decisions = pg.scalar("SELECT count(*) FROM trail_entries WHERE kind = 'check'")
            answered = sum(len(r.ok) for label, _, r in rows if label == "service, PostgreSQL") + warm_ok[
                "service, PostgreSQL"] + sum(len(r.ok) * args.batch for label, _, r in batch_rows
                                             if label == "service, PostgreSQL")
            print(f"  PostgreSQL trail: {decisions} check decisions recorded for {answered} 200 answers "
                  f"(incl. warm-up)")

    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    ceiling = {clients: len(r.ok) / r.wall for label, clients, r in rows if label == "bare Flask echo"}
    unrecorded = {clients: len(r.ok) / r.wall for label, clients, r in rows if label == "service, trail off"}
    print()
    print(f"{'server':<22} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8} "
          f"{'% of bare Flask':>16} {'% of trail off':>15} {'CPU ms/req: workers':>20} {'postgres':>9}")
    for label, clients, r in rows:
        ms = [s.seconds * 1000 for s in r.ok] or [float("nan")]
        rate = len(r.ok) / r.wall
        workers_cpu, postgres_cpu = cpu_rows[(label, clients)]
        print(f"{label:<22} {clients:>7} {rate:>8.0f} {percentile(ms, .5):>8.2f} {percentile(ms, .99):>8.2f} "
              f"{len(r.samples) - len(r.ok):>8} {rate / ceiling[clients] * 100:>15.0f}% "
              f"{rate / unrecorded[clients] * 100:>14.0f}% {workers_cpu:>20.2f} {postgres_cpu:>9.2f}")
    if batch_rows:
        print(f"\n{'POST /v1/checks:batch':<22} {'clients':>7} {'checks/s':>9} {'p50 ms/call':>12} "
              f"{'p99 ms/call':>12} {'non-200':>8}")
        for label, clients, r in batch_rows:
            ms = [s.seconds * 1000 for s in r.ok] or [float("nan")]
            print(f"{label:<22} {clients:>7} {len(r.ok) * args.batch / r.wall:>9.0f} {percentile(ms, .5):>12.1f} "
                  f"{percentile(ms, .99):>12.1f} {len(r.samples) - len(r.ok):>8}")
    print()
    for label, clients, r in rows:
        if label == "service, PostgreSQL" and clients == args.clients:
            share = len(r.ok) / r.wall / ceiling[clients] * 100
            print(f"goal HTTP >= 60% of bare Flask with the trail on (PostgreSQL, {clients} clients): "
                  f"{'MET' if share >= 60 else 'MISSED'} ({share:.0f}%)")
            share = len(r.ok) / r.wall / unrecorded[clients] * 100
            print(f"goal trail-on throughput >= 80% of trail-off (PostgreSQL, {clients} clients): "
                  f"{'MET' if share >= 80 else 'MISSED'} ({share:.0f}%)")
    for label, clients, r in batch_rows:
        if label == "service, PostgreSQL":
            rate = len(r.ok) * args.batch / r.wall
            print(f"goal /v1/checks:batch >= 2,000 checks/s on PostgreSQL (issue 23): {'MET' if rate >= 2000 else 'MISSED'} "
                  f"({rate:,.0f} checks/s)")


if __name__ == "__main__":
    main()
