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

Run:  .venv/bin/python benchmarks/bench_tenants.py                       (10,000 decisions: a few minutes)
      .venv/bin/python benchmarks/bench_tenants.py --decisions 1000000   (1 M each: hours on 2 cores)
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

    def settle(self, timeout: float = 3600) -> None:
        """Wait for the sealer to drain its queue, then VACUUM ANALYZE."""
        deadline = time.monotonic() + timeout
        while self.pg.scalar("SELECT count(*) FROM trail_pending") and time.monotonic() < deadline:
            time.sleep(1)
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

    def trail_week(self, tenant: str, week: dt.date) -> tuple[float, int]:
        query = urlencode({"at_since": week.isoformat(), "at_until": (week + dt.timedelta(days=6)).isoformat()})
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=120)
        started = time.perf_counter()
        conn.request("GET", f"/v1/trail?{query}", headers=self.headers(tenant))
        response = conn.getresponse()
        data = response.read()
        seconds = time.perf_counter() - started
        conn.close()
        assert response.status == 200, data[:500]
        return seconds, len(json.loads(data)["entries"])

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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        rules_dir = snapshot_rules(Path(tmp) / "rules")
        bodies = request_bodies(rules_dir)
        many = [f"company-{n:02d}" for n in range(args.tenants)]
        deployments = [Deployment("1 tenant", ["default"], rules_dir, Path(tmp) / "one.log", stack),
                       Deployment(f"{args.tenants} tenants", many, rules_dir, Path(tmp) / "many.log", stack)]
        for d in deployments:
            seconds = d.fill(bodies, args.decisions, args.batch, args.clients)
            print(f"  {d.label}: filled {args.decisions} decisions in {seconds:.0f} s "
                  f"({args.decisions / seconds:.0f}/s through /v1/checks:batch)", flush=True)
            d.settle()
            print(f"  {d.label}: sealed and vacuumed, {d.size()}", flush=True)
        weeks = weeks_of(bodies, args.weeks)
        results = {d.label: {"checks": [], "trail": [], "listed": []} for d in deployments}
        for _ in range(args.rounds):
            for d in deployments:
                tenant = d.tenants[len(d.tenants) // 2]
                results[d.label]["checks"] += d.checks(tenant, bodies, args.checks)
                for week in weeks:
                    seconds, listed = d.trail_week(tenant, week)
                    results[d.label]["trail"].append(seconds)
                    results[d.label]["listed"].append(listed)
        print(f"\nPostgreSQL, {args.decisions} decisions per deployment (the {len(bodies)}-request mix), "
              f"{args.rounds} rounds alternating; one tenant's key measured in each")
        print(f"{'deployment':<14} {'check p50 ms':>13} {'check p90':>10} {'trail week p50 ms':>18} {'p90':>7} "
              f"{'entries listed (mean)':>22}")
        for label, r in results.items():
            print(f"{label:<14} {ms(r['checks'], .5):>13.1f} {ms(r['checks'], .9):>10.1f} "
                  f"{ms(r['trail'], .5):>18.1f} {ms(r['trail'], .9):>7.1f} "
                  f"{sum(r['listed']) / len(r['listed']):>22.1f}")
        print("(a week's query lists up to its first page of 50: the tenant's share of the fill decides how many)")


if __name__ == "__main__":
    main()
