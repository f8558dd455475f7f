"""Load and fault test: the service under gunicorn on PostgreSQL, concurrent clients, then the
database stopped mid-run.

--hosts gunicorn masters (default 2, standing in for two hosts) serve one PostgreSQL schema; the
clients take them in turn. Every worker of every master runs a sealer thread: one at a time
seals (advisory lock).

Phase 1 (load): --clients client processes POST the realistic mix (workload.py) to /v1/checks for
  --duration seconds (bounded also by --max-requests). Asserts: no 5xx (nor any non-200), and the
  number of check decisions in the trail (SELECT count(*) FROM trail_entries WHERE kind='check')
  equals the number of 200 answers; everything is sealed into one tree, each entry within 2 s of
  being recorded (checkpoint published_at - entry recorded_at), and the trail verifies.
Phase 2 (fault, unless --no-stop): the clients run again; PostgreSQL is stopped with
  `pg_ctlcluster --skip-systemctl-redirect <version> main stop -m fast` for --outage seconds
  (at most 9.5) and started again. Asserts: every check answered while the server was down is 503
  (never a 200, never a 500, never a dropped connection), and the service answers 200 again by
  itself (same gunicorn, no restart) within --recovery seconds; no 200 answer lacks its trail
  entry, and the chain still verifies.

CAUTION: phase 2 stops the machine's PostgreSQL for everyone. It always starts it again (finally).

Run:  /tmp/venv/bin/python benchmarks/load_test.py                 (120 s of load + ~25 s of fault)
      /tmp/venv/bin/python benchmarks/load_test.py --duration 20 --no-stop
      --private-postgres: everything on a throw-away server (initdb in /tmp), stopped instead of the shared one
      --post-fork-dispose runs gunicorn with gunicorn_postfork.conf.py (the proposed fix, see RESULTS.md)
The pytest wrapper is tests/test_load.py (RUN_LOAD_TEST=1; LOAD_TEST_STOP_POSTGRES=1 for phase 2).
Exit status 0 when every assertion holds, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
import harness
from harness import PostgresSchema, PrivateCluster, RunResult, auth_headers, run_clients, start_service
from workload import percentile, request_bodies, snapshot_rules

MAX_OUTAGE = 9.5


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)

    def check(self, ok: bool, text: str) -> None:
        self.say(f"  [{'ok' if ok else 'FAIL'}] {text}")
        if not ok:
            self.failures.append(text)


def pg_cluster(action: str) -> float:
    """stop (fast) or start the machine's PostgreSQL cluster; returns the seconds it took."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action]
    if action == "stop":
        cmd += ["-m", "fast"]
    started = time.monotonic()
    subprocess.run(cmd, check=True, timeout=60, capture_output=True)
    return time.monotonic() - started


def trail_key():
    """The development keys the service made under instance/ (every master shares them)."""
    from service import PROJECT_ROOT
    from service.record.keyring import load_keyring
    return load_keyring({"TRAIL_ORIGIN": "separation-guard.example/trail", "ENV": "development"},
                        PROJECT_ROOT / "instance", PROJECT_ROOT)


def verify_chain(url: str) -> tuple[bool, int, str | None]:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from service.record.verify import verify_chain as verify
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            result = verify(session, trail_key())
        return result.ok, result.entries, (result.reason or f"{result.sealed} sealed, {result.pending} pending")
    finally:
        engine.dispose()


def sealing(report: Report, pg: PostgresSchema, limit: float = 2.0, timeout: float = 30.0) -> None:
    """Wait until nothing is queued; then every entry's sealing lag, and one tree holding them all."""
    deadline = time.monotonic() + timeout
    while pg.scalar("SELECT count(*) FROM trail_pending") and time.monotonic() < deadline:
        time.sleep(0.2)
    pending = pg.scalar("SELECT count(*) FROM trail_pending")
    report.check(pending == 0, f"nothing left unsealed {timeout:.0f} s after the load ({pending} pending)")
    entries, leaves = pg.scalar("SELECT count(*) FROM trail_entries"), pg.scalar("SELECT count(*) FROM trail_leaves")
    size = pg.scalar("SELECT max(tree_size) FROM trail_checkpoints")
    report.check(entries == leaves == size, f"one tree holds every entry ({entries} entries, {leaves} leaves, "
                                            f"latest checkpoint {size})")
    lags = lag_seconds(pg)
    if lags:
        report.say(f"  sealing lag over {len(lags)} entries: p50 {percentile(lags, .5):.2f} s, "
                   f"p99 {percentile(lags, .99):.2f} s, max {max(lags):.2f} s; "
                   f"{pg.scalar('SELECT count(*) FROM trail_checkpoints')} checkpoints")
        report.check(max(lags) <= limit, f"every entry sealed within {limit:.0f} s (max {max(lags):.2f} s)")


def lag_seconds(pg: PostgresSchema) -> list[float]:
    """Per entry: from recorded_at to the first checkpoint that covers its leaf."""
    from sqlalchemy import text
    with pg._engine.connect() as conn:
        conn.execute(text(f'SET search_path TO "{pg.schema}"'))
        rows = conn.execute(text(
            "SELECT extract(epoch FROM (SELECT c.published_at FROM trail_checkpoints c WHERE c.tree_size > l.leaf_index "
            "ORDER BY c.tree_size LIMIT 1) - e.recorded_at) FROM trail_leaves l JOIN trail_entries e ON e.seq = l.seq "
            "WHERE e.kind = 'check'")).scalars().all()
    return sorted(float(x) for x in rows)


def trail_checks(pg: PostgresSchema) -> int:
    return pg.scalar("SELECT count(*) FROM trail_entries WHERE kind = 'check'")


def summarize(report: Report, label: str, result: RunResult) -> None:
    ok = [s.seconds * 1000 for s in result.ok] or [float("nan")]
    report.say(f"{label}: {len(result.samples)} requests in {result.wall:.1f} s "
               f"({len(result.ok) / max(result.wall, 1e-9):.0f} ok/s), statuses {result.statuses()}, "
               f"p50 {percentile(ok, .5):.1f} ms, p99 {percentile(ok, .99):.1f} ms")


def run(duration: float = 120, clients: int = 8, stop_postgres: bool = True, outage: float = 6.0,
        recovery: float = 30.0, max_requests: int = 500_000, log_dir: Path | None = None,
        private_postgres: bool = False, admin_url: str | None = None, hosts: int = 2) -> Report:
    """`admin_url`: the database whose private schema the service uses (default BENCH_POSTGRES_URL)."""
    report = Report()
    outage = min(outage, MAX_OUTAGE)
    cluster = PrivateCluster() if private_postgres else None
    try:
        return _run(report, duration, clients, stop_postgres, outage, recovery, max_requests, log_dir, cluster,
                    cluster.admin_url if cluster else admin_url or harness.POSTGRES_ADMIN_URL, hosts)
    finally:
        if cluster is not None:
            cluster.destroy()


def _run(report: Report, duration: float, clients: int, stop_postgres: bool, outage: float, recovery: float,
         max_requests: int, log_dir: Path | None, cluster: PrivateCluster | None, admin_url: str,
         hosts: int) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log_dir = log_dir or tmp
        rules_dir = snapshot_rules(tmp / "rules")
        bodies = request_bodies(rules_dir)
        config = "gunicorn_postfork.conf.py" if harness.POST_FORK_DISPOSE else "gunicorn.conf.py"
        where = f"a private server on port {cluster.port}" if cluster else "the machine's server (pg_ctlcluster)"
        report.say(f"load test: {hosts} gunicorn masters, {clients} clients x {duration:.0f} s, "
                   f"{len(bodies)}-request mix, {config}, "
                   f"PostgreSQL stop: {'yes, ' + str(outage) + ' s, ' + where if stop_postgres else 'no'}")
        with PostgresSchema(admin_url) as pg:
            servers = []
            try:
                for n in range(hosts):  # one at a time: the first migrates the schema
                    servers.append(start_service(pg.url, rules_dir, log_dir / f"load_test_gunicorn_{n}.log"))
                server, ports = servers[0], [s.port for s in servers]
                # --- phase 1: load ------------------------------------------------------------------
                rss_before = server.worker_rss_kib()
                load = run_clients(ports, "/v1/checks", bodies, auth_headers(), clients, max_requests,
                                   duration, keep_verdict=True)
                summarize(report, "phase 1 (load)", load)
                rss_after = server.worker_rss_kib()
                report.say("worker RSS (MiB) before -> after phase 1: " + ", ".join(
                    f"{rss_before[pid] / 1024:.1f} -> {rss_after[pid] / 1024:.1f}"
                    for pid in sorted(rss_before) if pid in rss_after))
                statuses = load.statuses()
                five = sum(n for code, n in statuses.items() if code >= 500)
                report.check(five == 0, f"no 5xx under load ({five})")
                report.check(set(statuses) <= {200}, f"every answer is 200 ({statuses})")
                recorded = trail_checks(pg)
                report.check(recorded == len(load.ok),
                             f"trail decisions = 200 answers ({recorded} recorded, {len(load.ok)} answered)")
                report.check(pg.scalar("SELECT count(*) FROM trail_entries WHERE kind = 'ruleset_change'") == 1,
                             f"the rule set is recorded once by {hosts} masters' workers")
                sealing(report, pg)
                ok, entries, reason = verify_chain(pg.url)
                report.check(ok, f"the trail verifies ({entries} entries; {reason})")
                answered_200 = len(load.ok)

                # --- phase 2: the database stops mid-run --------------------------------------------
                if stop_postgres:
                    answered_200 += fault_phase(report, ports, bodies, clients, outage, recovery, cluster)
                    recorded = trail_checks(pg)
                    report.check(recorded >= answered_200,
                                 f"no 200 without its trail entry ({recorded} recorded, {answered_200} answered 200)")
                    if recorded > answered_200:
                        report.say(f"  note: {recorded - answered_200} decision(s) recorded but answered 503 "
                                   "(commit acknowledged by the server as it shut down): safe, the client retries")
                    report.check(recorded - answered_200 <= clients,
                                 f"at most one in-flight decision per client recorded without a 200 "
                                 f"({recorded - answered_200})")
                    sealing(report, pg, limit=float("inf"))  # entries queued during the outage wait for it
                    ok, entries, reason = verify_chain(pg.url)
                    report.check(ok, f"the trail verifies after the outage ({entries} entries; {reason})")
            finally:
                for s in servers:
                    s.stop()
                errors = [line for s in servers for line in s.log_path.read_text(errors="replace").splitlines()
                          if '"level": "ERROR"' in line]
                if errors:
                    kinds: dict[str, int] = {}
                    for line in errors:
                        key = line[line.find('"message"'):][:160]
                        kinds[key] = kinds.get(key, 0) + 1
                    report.say(f"server log: {len(errors)} ERROR lines; kinds:")
                    for key, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:8]:
                        report.say(f"  {n:>6} x {key}")
    report.say("RESULT: " + ("PASS" if not report.failures else f"FAIL ({len(report.failures)} failed)"))
    return report


def fault_phase(report: Report, port: int | list[int], bodies: list[dict], clients: int, outage: float, recovery: float,
                cluster: PrivateCluster | None) -> int:
    def postgres(action: str) -> float:
        if cluster is None:
            return pg_cluster(action)
        started = time.monotonic()
        cluster.stop() if action == "stop" else cluster.start()
        return time.monotonic() - started

    before, window = 4.0, 4.0 + outage + recovery + 4.0
    box: dict[str, RunResult] = {}
    worker = threading.Thread(target=lambda: box.setdefault("r", run_clients(
        port, "/v1/checks", bodies, auth_headers(), clients, 10**6, window + 2.0, keep_verdict=True)))
    worker.start()
    time.sleep(2.0 + before)  # clients start 2 s after the call (they are spawned processes)
    down_at = up_at = None
    try:
        stop_began = time.time()
        took = postgres("stop")
        down_at = time.time()
        report.say(f"phase 2: PostgreSQL stopped ({took:.1f} s to stop), down for {outage:.1f} s")
        time.sleep(max(0.0, outage - (down_at - stop_began)))
    finally:
        start_began = time.time()
        took = postgres("start")
        up_at = time.time()
        report.say(f"phase 2: PostgreSQL started again ({took:.1f} s to start); "
                   f"outage {up_at - stop_began:.1f} s from stop to ready")
    worker.join(timeout=window + 120)
    result = box["r"]
    summarize(report, "phase 2 (fault)", result)
    during = [s for s in result.samples if s.started >= down_at and s.started + s.seconds <= start_began]
    codes: dict[int, int] = {}
    for s in during:
        codes[s.status] = codes.get(s.status, 0) + 1
    allows = sum(1 for s in during if s.status == 200 and s.verdict == "allow")
    report.check(bool(during), f"checks were answered while the database was down ({len(during)})")
    report.check(allows == 0, f"never a 200 allow while the database was down ({allows})")
    report.check(set(codes) <= {503}, f"every check while down is 503 ({dict(sorted(codes.items()))})")
    after = [s for s in result.samples if s.started >= up_at]
    first_ok = next((s for s in after if s.status == 200), None)
    report.check(first_ok is not None and first_ok.started - up_at <= recovery,
                 "the service recovers by itself: "
                 + (f"first 200 {first_ok.started - up_at:.2f} s after PostgreSQL was up" if first_ok
                    else f"no 200 within {recovery:.0f} s"))
    tail = [s for s in after if first_ok is not None and s.started >= first_ok.started + 2.0]
    tail_codes: dict[int, int] = {}
    for s in tail:
        tail_codes[s.status] = tail_codes.get(s.status, 0) + 1
    report.check(bool(tail) and set(tail_codes) <= {200},
                 f"every check 2 s after recovery is 200 ({dict(sorted(tail_codes.items()))})")
    during_ids = {id(s) for s in during}
    around = [s for s in result.samples if id(s) not in during_ids]
    five = {}
    for s in around:
        if s.status >= 500 and s.status != 503 or s.status == 0:
            five[s.status] = five.get(s.status, 0) + 1
    report.check(not five, f"around the outage, failures are 503 only (other 5xx / dropped: {five})")
    return len(result.ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=120, help="seconds of load in phase 1 (default 120)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes (default 8)")
    parser.add_argument("--hosts", type=int, default=2, help="gunicorn masters on the one database (default 2)")
    parser.add_argument("--max-requests", type=int, default=500_000, help="request bound for phase 1")
    parser.add_argument("--outage", type=float, default=6.0, help=f"seconds PostgreSQL stays down (max {MAX_OUTAGE})")
    parser.add_argument("--recovery", type=float, default=30.0, help="seconds allowed to answer 200 again")
    parser.add_argument("--no-stop", action="store_true", help="skip phase 2 (do not stop PostgreSQL)")
    parser.add_argument("--post-fork-dispose", action="store_true",
                        help="gunicorn_postfork.conf.py: the repository's settings plus the proposed post-fork fix")
    parser.add_argument("--private-postgres", action="store_true",
                        help="run on a throw-away PostgreSQL server (initdb in /tmp) and stop that one, not the "
                             "machine's shared server")
    parser.add_argument("--log-dir", type=Path, help="keep gunicorn's log here")
    args = parser.parse_args()
    harness.use_post_fork_dispose(args.post_fork_dispose)
    report = run(args.duration, args.clients, not args.no_stop, args.outage, args.recovery, args.max_requests,
                 args.log_dir, args.private_postgres, hosts=args.hosts)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
