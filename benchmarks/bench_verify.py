"""Verifying the trail at scale: the full scan's rate, the cost per new entry of an incremental
verification, and GET /v1/trail/verify's latency, at N entries (1M by default) on PostgreSQL.

The fill: a few hundred real decisions are made through POST /v1/checks:batch (the engine, the
recording, the writer's hashing), then copied with new ids and times by direct core inserts
(their content hashed by service.record.trail, as the writer does; the rule-id GIN index is built
after the fill rather than during it) and sealed into the tree by
the sealer's own append (service.record.sealer.append_leaves: leaves, nodes and one signed
checkpoint per --seal-every entries, as a sealer keeping up makes them). The copies skip the
sealing queue and its receipt signatures, which verification does not read for sealed entries.

Run:  BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
      .venv/bin/python benchmarks/bench_verify.py [-n 1000000] [--new 1000 10000]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from harness import BENCH_KEY, PostgresSchema, auth_headers
from workload import request_bodies, snapshot_rules
from sqlalchemy import insert, select, text

from service import create_app
from service.record.models import TrailEntry
from service.flows.sealing import seal_once
from service.record.sealer import append_leaves
from service.record.trail import CONTENT, entry_hash
from service.record.verification import FULL, INCREMENTAL, SAMPLE, run

E = TrailEntry.__table__
_COLUMNS = [*CONTENT, "hash_scheme"]


def templates(app, bodies: list[dict], count: int) -> list[dict]:
    """`count` real decisions, made and recorded by the service, as content to copy."""
    client, headers = app.test_client(), auth_headers()
    for start in range(0, count, 50):
        batch = [bodies[i % len(bodies)] for i in range(start, min(count, start + 50))]
        answer = client.post("/v1/checks:batch", json={"checks": batch}, headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)
    while seal_once(app):
        pass
    with app.extensions["db_engine"].connect() as c:
        return [dict(r._mapping) for r in c.execute(select(*[E.c[n] for n in _COLUMNS]).where(E.c.kind == "check"))]


def fill(engine, key, models: list[dict], n: int, seal_every: int) -> float:
    """Append n copies of the models, sealed seal_every at a time; returns the seconds taken."""
    started, base = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    done = 0
    while done < n:
        chunk = []
        for i in range(done, min(n, done + seal_every)):
            values = dict(models[i % len(models)])
            values.update(entry_id=str(uuid.uuid4()), recorded_at=base + dt.timedelta(microseconds=i))
            chunk.append(values)
        hashes = [bytes.fromhex(entry_hash(v)) for v in chunk]
        with engine.begin() as c:
            seqs = c.execute(insert(E).returning(E.c.seq, sort_by_parameter_order=True), chunk).scalars().all()
            append_leaves(c, key, list(zip(seqs, hashes)))
        done += len(chunk)
        if done % 100_000 < seal_every:
            print(f"  filled {done} of {n} ({time.perf_counter() - started:.0f} s)", flush=True)
    return time.perf_counter() - started


def timed(engine, key, mode: str, sample: int = SAMPLE):
    started = time.perf_counter()
    _, result = run(engine, key, mode, requested_by="bench", sample=sample)
    assert result.ok, result.reason
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, nargs="*", default=[1000, 10_000])
    parser.add_argument("--seal-every", type=int, default=1000)
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="Keep the schema (to look at it afterwards)")
    parser.add_argument("--reuse", metavar="URL", help="A schema kept by --keep: measure again, without the fill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        pg = None if args.reuse else stack.enter_context(PostgresSchema())
        rules_dir = snapshot_rules(Path(tmp) / "rules")
        app = create_app({"DATABASE_URL": args.reuse or pg.url, "DEV_KEY": BENCH_KEY, "RULES_DIR": str(rules_dir),
                          "TRAIL_SEALER_THREAD": False, "TRAIL_VERIFY_SECONDS": 0})
        engine, key = app.extensions["db_engine"], app.extensions["trail_key"]
        if args.reuse:
            with engine.connect() as c:
                models = [dict(r._mapping) for r in c.execute(
                    select(*[E.c[n] for n in _COLUMNS]).where(E.c.kind == "check").limit(args.models))]
            args.filled = "reused"
        else:
            models = templates(app, request_bodies(rules_dir), args.models)
            args.filled = f"filled in {fill_fast(engine, key, models, args.n - len(models) - 1, args.seal_every):.0f} s"
        measure(app, engine, key, models, args)
        if args.keep and pg is not None:
            pg.drop = lambda: print(f"  kept: {pg.url}")
        engine.dispose()


def fill_fast(engine, key, models: list[dict], n: int, seal_every: int) -> float:
    """The first fill. The GIN index of GET /v1/trail?rule_id= costs most of an insert (fastupdate
    off) and no verification reads it: it is built after the fill, as CREATE INDEX does it in bulk."""
    with engine.begin() as c:
        gin = c.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_trail_rule_ids' "
                             "AND schemaname = current_schema()")).scalar()
        c.execute(text("DROP INDEX ix_trail_rule_ids"))
    seconds = fill(engine, key, models, n, seal_every)
    with engine.begin() as c:
        c.execute(text(gin))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    return seconds


def measure(app, engine, key, models: list[dict], args) -> None:
    with engine.connect() as c:
        entries = c.execute(text("SELECT count(*) FROM trail_entries")).scalar()
        size = c.execute(text("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                              "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                              "AND c.relkind = 'r'")).scalar()
    print(f"PostgreSQL, {entries} entries ({len(models)} real decisions copied; {args.filled}; {size})")
    seconds, result = timed(engine, key, FULL)
    print(f"  full verification: {seconds:.1f} s, {result.checked / seconds:,.0f} entries/s "
          f"({result.checked} leaves, {result.checkpoints} checkpoints)")
    for sample in (0, SAMPLE, 256):
        timed(engine, key, INCREMENTAL, sample)  # the first of each warms the cache
        seconds, result = timed(engine, key, INCREMENTAL, sample)
        print(f"  incremental, nothing new, spot check of {sample} old leaves: {seconds * 1000:.0f} ms "
              "(the fixed cost: checkpoints, resume point, queue, spot check)")
    for new in args.new:
        fill(engine, key, models, new, args.seal_every)
        seconds, result = timed(engine, key, INCREMENTAL)
        assert result.checked == new, (result.checked, new)
        print(f"  incremental after {new} new entries (spot check of {SAMPLE}): {seconds * 1000:.0f} ms, "
              f"{seconds / new * 1e6:.0f} us per new entry (from checkpoint {result.from_size} "
              f"to {result.checkpoint})")
    client, headers = app.test_client(), auth_headers()
    for method, path, status in (("GET", "/v1/trail/verify", 200), ("POST", "/v1/trail/verify", 202)):
        times = []
        for _ in range(30):
            started = time.perf_counter()
            answer = client.open(path, method=method, headers=headers)
            times.append(time.perf_counter() - started)
            assert answer.status_code == status, answer.get_data(as_text=True)
        print(f"  {method} {path} at {entries} entries: median {statistics.median(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms (in-process test client, 30 requests)")


if __name__ == "__main__":
    main()
