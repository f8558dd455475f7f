"""Many companies on one deployment cost nothing measurable (issue 22, item 9): one deployment
serving 1 tenant beside one serving 50 tenants, each filled with the same --decisions decisions,
in the same run, on the same machine.

Each deployment is the service under gunicorn (the repository's gunicorn.conf.py, its sealer as
it runs in production) on a fresh PostgreSQL schema (the sg_bench database, as bench_http.py).
The fill goes through POST /v1/checks:batch (--batch checks per call, --clients client processes):
in the 50-tenant deployment each call carries the key of one tenant, the tenants in turn, so each
tenant holds 1/50 of the decisions. The realistic mix of workload.py is used, with its own as_of
dates. After the fill, the sealing queue drains and VACUUM ANALYZE runs, as autovacuum would.

Then, alternating between the two deployments (so a busy moment of the shared machine falls on
both), one client measures sequentially:
  - POST /v1/checks (one check, recorded before it answers) with one tenant's key: p50, p90;
  - GET /v1/trail?at_since=&at_until= over one week (a one-week trail query of that tenant,
    the first page of 50), for weeks across the mix's as_of dates: p50, p90.

With --fill sql (benchmarks/fill_sql.py) a seed of --seed real decisions per deployment goes
through the batch endpoint, then is multiplied in the database (INSERT ... SELECT, as the owner)
up to --decisions, recorded_at spread over the past --months months, and sealed into each
tenant's tree by the sealer's append: minutes for a million instead of 1.5 hours. It measures
the same things over the same number of rows (index and partition sizes, query plans, latencies),
not fill throughput. Then it also measures a one-week query by recorded_at
(GET /v1/trail?since=&until=, which prunes partitions), prints the EXPLAIN of both week queries
and the bytes per decision.

Run:  .venv/bin/python benchmarks/bench_tenants.py                       (10,000 decisions: a few minutes)
      .venv/bin/python benchmarks/bench_tenants.py --decisions 1000000   (1 M each: hours on 2 cores)
      .venv/bin/python benchmarks/bench_tenants.py --fill sql --decisions 1000000   (1 M each: minutes)
Env:  BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/sg_bench).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import inspect
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import fill_sql
import workload  # noqa: F401  (puts the project root on sys.path)
from harness import BENCH_KEY, ClientSpec, PostgresSchema, run_client, start_service
from workload import percentile, request_bodies, snapshot_rules

from service import create_app
from service.http.keys import create_client

SCOPES = ["checks", "trail:read"]


def create_keys(database_url: str, rules_dir: Path, tenants: list[str]) -> dict[str, str]:
    """One key per tenant, made as `separation-guard keys create NAME --tenant T` makes it; the
    app made here also migrates the fresh schema."""
    app = create_app({"DATABASE_URL": database_url, "DEV_KEY": BENCH_KEY, "RULES_DIR": str(rules_dir),
                      "TRAIL_SEALER_THREAD": False})
    tenant_arg = next((p for p in ("tenant", "tenant_id") if p in inspect.signature(create_client).parameters), None)
    if tenant_arg is None and tenants != ["default"]:
        raise SystemExit("keys have no tenant here (service.http.keys.create_client takes none): "
                         "this benchmark needs issue 22's tenants")
    keys = {}
    with app.extensions["db_sessions"]() as session, session.begin():
        for tenant in tenants:
            extra = {tenant_arg: tenant} if tenant_arg else {}
            keys[tenant] = create_client(session, f"bench-{tenant}", SCOPES, **extra)
    app.extensions["db_engine"].dispose()
    return keys


class Deployment:
    """The service on its own schema, with one key per tenant."""

    def __init__(self, label: str, tenants: list[str], rules_dir: Path, log: Path, stack: contextlib.ExitStack):
        self.label, self.tenants = label, tenants
        self.pg = stack.enter_context(PostgresSchema())
        self.keys = create_keys(self.pg.url, rules_dir, tenants)
        self.server = stack.enter_context(start_service(self.pg.url, rules_dir, log))

    def headers(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}

    def fill(self, bodies: list[dict], decisions: int, batch: int, clients: int) -> float:
        """`decisions` checks through /v1/checks:batch, the tenants in turn; returns the seconds taken."""
        calls = -(-decisions // batch)
        per_tenant = [calls // len(self.tenants) + (i < calls % len(self.tenants)) for i in range(len(self.tenants))]
        payloads = [{"checks": [bodies[(i * batch + j) % len(bodies)] for j in range(batch)]}
                    for i in range(len(bodies))]
        # A spec per (tenant, client): every client process works through its share of each tenant.
        specs = []
        for n, tenant in enumerate(self.tenants):
            share = [per_tenant[n] // clients + (c < per_tenant[n] % clients) for c in range(clients)]
            specs += [ClientSpec(self.server.port, "/v1/checks:batch", payloads, self.headers(tenant), count,
                                 time.time() + 10 * 24 * 3600, offset=n * 13 + c * 7, timeout=120)
                      for c, count in enumerate(share) if count]
        started = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(clients) as pool:
            samples = [s for part in pool.imap_unordered(run_client, specs) for s in part]
        seconds = time.perf_counter() - started
        failed = [s.status for s in samples if s.status != 200]
        if failed:
            raise SystemExit(f"{self.label}: {len(failed)} of {len(samples)} batch calls failed: {sorted(set(failed))}")
        return seconds

    def fill_sql(self, bodies: list[dict], decisions: int, seed: int, batch: int, clients: int, months: int,
                 rules_dir: Path) -> dict:
        """`seed` real checks through the batch endpoint, sealed by the deployment's sealer, then
        multiplied in the database up to `decisions` and sealed by the sealer's append (fill_sql.py)."""
        # Every tenant gets a few calls of its own, so every tenant's log starts from real decisions.
        batch = max(1, min(batch, seed // (2 * len(self.tenants))))
        timings = {"seed_seconds": self.fill(bodies, seed, batch, clients)}
        self.settle(vacuum=False)
        app = create_app({"DATABASE_URL": self.pg.url, "DEV_KEY": BENCH_KEY, "RULES_DIR": str(rules_dir),
                          "TRAIL_SEALER_THREAD": False})
        try:
            timings |= fill_sql.multiply(self.pg.url, app.extensions["trail_key"], self.tenants,
                                         decisions - seed, months, log=lambda m: print(f"  {self.label}:{m}", flush=True))
        finally:
            app.extensions["db_engine"].dispose()
        return timings

    def settle(self, timeout: float = 3600, vacuum: bool = True) -> None:
        """Wait for the sealer to drain its queue, then VACUUM ANALYZE."""
        deadline = time.monotonic() + timeout
        while self.pg.scalar("SELECT count(*) FROM trail_pending") and time.monotonic() < deadline:
            time.sleep(1)
        if not vacuum:
            return
        from sqlalchemy import create_engine, text
        engine = create_engine(self.pg.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        engine.dispose()

    def checks(self, tenant: str, bodies: list[dict], count: int) -> list[float]:
        spec = ClientSpec(self.server.port, "/v1/checks", bodies, self.headers(tenant), count, time.time() + 600)
        samples = run_client(spec)
        assert all(s.status == 200 for s in samples), {s.status for s in samples}
        return [s.seconds for s in samples]

    def trail_week(self, tenant: str, week: dt.date, by: str = "at") -> tuple[float, int]:
        """One week's first page: by the entries' own time (at_since/at_until: a check's as_of day)
        or by when they were recorded (since/until: recorded_at, the partition key)."""
        names = ("at_since", "at_until") if by == "at" else ("since", "until")
        query = urlencode({names[0]: week.isoformat(), names[1]: (week + dt.timedelta(days=7)).isoformat()})
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        started = time.perf_counter()
        conn.request("GET", f"/v1/trail?{query}", headers=self.headers(tenant))
        response = conn.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        conn.close()
        assert response.status == 200, data[:500]
        return seconds, len(json.loads(data)["entries"])

    def recorded_weeks(self, count: int) -> list[dt.date]:
        """The Mondays of `count` weeks evenly over the span of recorded_at (the partitions)."""
        first, last = (self.pg.scalar(f"SELECT {f}(recorded_at)::date FROM trail_entries") for f in ("min", "max"))
        step = max(1, (last - first).days // count)
        days = [first + dt.timedelta(days=step * i + step // 2) for i in range(count)]
        return sorted({d - dt.timedelta(days=d.weekday()) for d in days if d <= last})

    def explain(self, tenant: str, week: dt.date, by: str) -> str:
        """EXPLAIN ANALYZE of the first query the week's page makes (trail_api.py: `_by_event_time`
        for at_since/at_until, `search` for since/until), as the service issues it."""
        until = week + dt.timedelta(days=7)
        if by == "at":
            where = (f"((kind = 'check' AND as_of >= '{week}' AND as_of <= '{until - dt.timedelta(days=1)}') "
                     "OR kind IN ('case_event', 'event_refused')) AND seq > 0")
            limit = 500
        else:
            where = f"recorded_at >= '{week}' AND recorded_at < '{until}'"
            limit = 51
        sql = (f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM trail_entries WHERE tenant_id = '{tenant}' "
               f"AND {where} ORDER BY seq LIMIT {limit}")
        from sqlalchemy import create_engine, text
        engine = create_engine(self.pg.url)
        with engine.connect() as conn:
            plan = "\n".join(r[0] for r in conn.execute(text(sql)))
        engine.dispose()
        return plan

    def verify(self, tenant: str, rules_dir: Path) -> str:
        """A full verification of one tenant's log, as `trail verify --full --tenant` runs it."""
        from service.record.verification import FULL, run
        app = create_app({"DATABASE_URL": self.pg.url, "DEV_KEY": BENCH_KEY, "RULES_DIR": str(rules_dir),
                          "TRAIL_SEALER_THREAD": False})
        started = time.perf_counter()
        _, result = run(app.extensions["db_engine"], app.extensions["trail_key"], FULL, requested_by="bench",
                        tenant_id=tenant)
        app.extensions["db_engine"].dispose()
        return (f"log of {tenant} verified in full: {'ok' if result.ok else 'FAILED: ' + str(result.reason)}, "
                f"{result.checked} leaves, {time.perf_counter() - started:.1f} s")

    def bytes_per_decision(self) -> dict[str, float]:
        """pg_total_relation_size (table, indexes, TOAST) over trail_entries' partitions, and over
        every table of the schema, divided by the entries recorded."""
        entries = self.pg.scalar("SELECT count(*) FROM trail_entries")
        trail = self.pg.scalar("SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('trail_entries') "
                               "WHERE isleaf")
        total = self.pg.scalar("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE n.nspname = current_schema() AND c.relkind = 'r'")
        partitions = self.pg.scalar("SELECT count(*) FROM pg_partition_tree('trail_entries') WHERE isleaf")
        return {"entries": entries, "trail": trail / entries, "all": total / entries, "partitions": partitions}

    def size(self) -> str:
        return self.pg.scalar("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                              "JOIN pg_namespace n ON n.oid = c.relnamespace "
                              "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')")


def weeks_of(bodies: list[dict], count: int) -> list[dt.date]:
    """The Mondays of `count` weeks at even quantiles of the mix's as_of dates: busy weeks are
    asked about as often as they hold decisions."""
    days = sorted(dt.date.fromisoformat(b["as_of"][:10]) for b in bodies)
    picked = [days[min(len(days) - 1, (2 * i + 1) * len(days) // (2 * count))] for i in range(count)]
    return sorted({day - dt.timedelta(days=day.weekday()) for day in picked})


def ms(samples: list[float], q: float) -> float:
    return percentile(samples, q) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=10_000, help="decisions per deployment (default 10,000)")
    parser.add_argument("--tenants", type=int, default=50, help="tenants of the many-tenant deployment (default 50)")
    parser.add_argument("--batch", type=int, default=100, help="checks per /v1/checks:batch call (default 100)")
    parser.add_argument("--clients", type=int, default=4, help="client processes filling (default 4)")
    parser.add_argument("--checks", type=int, default=200, help="single checks measured per round (default 200)")
    parser.add_argument("--weeks", type=int, default=8, help="one-week queries per round (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="measurement rounds, alternating deployments")
    parser.add_argument("--fill", choices=("api", "sql"), default="api",
                        help="api: every decision through the batch endpoint; sql: a seed through it, "
                             "multiplied in the database (fill_sql.py)")
    parser.add_argument("--seed", type=int, default=2000, help="--fill sql: real decisions per deployment")
    parser.add_argument("--months", type=int, default=6, help="--fill sql: recorded_at spread over these months")
    parser.add_argument("--verify", type=int, default=0, metavar="N",
                        help="after the fill, verify N tenants' logs in full (the trees are real)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        rules_dir = snapshot_rules(Path(tmp) / "rules")
        bodies = request_bodies(rules_dir)
        many = [f"company-{n:02d}" for n in range(args.tenants)]
        deployments = [Deployment("1 tenant", ["default"], rules_dir, Path(tmp) / "one.log", stack),
                       Deployment(f"{args.tenants} tenants", many, rules_dir, Path(tmp) / "many.log", stack)]
        for d in deployments:
            if args.fill == "sql":
                t = d.fill_sql(bodies, args.decisions, args.seed, args.batch, args.clients, args.months, rules_dir)
                print(f"  {d.label}: {args.seed} real decisions through /v1/checks:batch in {t['seed_seconds']:.0f} s, "
                      f"then their {t['seeds']} check entries multiplied in SQL to {args.decisions} decisions "
                      f"in {t['copy']:.0f} s (+{t['gin']:.0f} s rule-id GIN index), {t['sealed']} copies sealed "
                      f"by the sealer's append in {t['seal']:.0f} s", flush=True)
            else:
                seconds = d.fill(bodies, args.decisions, args.batch, args.clients)
                print(f"  {d.label}: filled {args.decisions} decisions in {seconds:.0f} s "
                      f"({args.decisions / seconds:.0f}/s through /v1/checks:batch)", flush=True)
            d.settle()
            print(f"  {d.label}: sealed and vacuumed, {d.size()}", flush=True)
            for tenant in d.tenants[:args.verify]:
                print(f"  {d.label}: {d.verify(tenant, rules_dir)}", flush=True)
        weeks = weeks_of(bodies, args.weeks)
        kinds = ("at", "recorded") if args.fill == "sql" else ("at",)
        recorded = {d.label: d.recorded_weeks(args.weeks) for d in deployments}
        results = {d.label: {k: [] for k in ("checks", "at", "at_listed", "recorded", "recorded_listed")}
                   for d in deployments}
        for _ in range(args.rounds):
            for d in deployments:
                tenant = d.tenants[len(d.tenants) // 2]
                results[d.label]["checks"] += d.checks(tenant, bodies, args.checks)
                for by in kinds:
                    for week in (weeks if by == "at" else recorded[d.label]):
                        seconds, listed = d.trail_week(tenant, week, by)
                        results[d.label][by].append(seconds)
                        results[d.label][f"{by}_listed"].append(listed)
        how = ("a seed through /v1/checks:batch, multiplied in SQL (not signed one by one through the API)"
               if args.fill == "sql" else "every decision through /v1/checks:batch")
        print(f"\nPostgreSQL, {args.decisions} decisions per deployment ({how}; the {len(bodies)}-request mix), "
              f"{args.rounds} rounds alternating; one tenant's key measured in each")
        print(f"{'deployment':<14} {'check p50 ms':>13} {'check p90':>10} {'week by as_of p50 ms':>21} {'p90':>7} "
              f"{'listed':>7}" + (f" {'week by recorded_at p50 ms':>27} {'p90':>7} {'listed':>7}" if len(kinds) > 1 else ""))
        for label, r in results.items():
            line = (f"{label:<14} {ms(r['checks'], .5):>13.1f} {ms(r['checks'], .9):>10.1f} "
                    f"{ms(r['at'], .5):>21.1f} {ms(r['at'], .9):>7.1f} {sum(r['at_listed']) / len(r['at_listed']):>7.1f}")
            if len(kinds) > 1:
                line += (f" {ms(r['recorded'], .5):>27.1f} {ms(r['recorded'], .9):>7.1f} "
                         f"{sum(r['recorded_listed']) / len(r['recorded_listed']):>7.1f}")
            print(line)
        print("(a week's query lists up to its first page of 50: the tenant's share of the fill decides how many)")
        if args.fill == "sql":
            print("(--fill sql: all but the seed were multiplied in SQL, not signed one by one through the API: "
                  "the rows, indexes, partitions and trees are those of the fill size, so sizes, plans and query "
                  "latencies are measured; fill throughput is not)")
        for d in deployments:
            b = d.bytes_per_decision()
            print(f"\n{d.label}: {b['entries']} trail entries in {b['partitions']} partitions of trail_entries: "
                  f"{b['trail']:.0f} B per decision there (tables, indexes, TOAST), {b['all']:.0f} B over every table")
            tenant = d.tenants[len(d.tenants) // 2]
            for by, week in (("at", weeks[len(weeks) // 2]), ("recorded", recorded[d.label][len(recorded[d.label]) // 2])):
                if by in kinds:
                    print(f"EXPLAIN, {d.label}, tenant {tenant}, week of {week} by {by}:\n{d.explain(tenant, week, by)}")

if __name__ == "__main__":
    main()
