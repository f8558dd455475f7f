"""bench_tenants.py --fill sql: a deployment filled to a million decisions in minutes, not hours.

A seed of real decisions is made through POST /v1/checks:batch (engine, recording, receipts, the
signed sealing queue, sealed by the deployment's own sealer). Then, as the owner of the tables,
its check entries are multiplied in the database with INSERT ... SELECT: each copy takes a new
seq from the trail's sequence, a new UUIDv7-like entry id (the time of its recorded_at in the
first 48 bits), a recorded_at spread evenly over the past --months months (so the rows land in
the monthly partitions, in seq order), a tenant in turn (or 'default'), and an employee id of its
own. (The tenant turns with each round of the seed, so every tenant gets every seed's
as_of.) The copies are then put into their tenant's Merkle tree by the sealer's own append
(service.record.sealer.append_leaves, under the sealer's lock): each copy's content is read back
and hashed as the verifier hashes it, so every tree is real and its checkpoints signed.

What it skips: the copies are not signed one by one through the API, and they skip the sealing
queue and its receipt signatures (which nothing reads once an entry is sealed). That is fair for
what bench_tenants.py measures (index and partition sizes, query plans and latencies over a
million rows), and says nothing of fill throughput (140-210 decisions/s through the API here).
The GIN index of ?rule_id= is dropped during the copy and built again after it (the one index
built in bulk rather than row by row; its size may be a little smaller than grown).
"""
from __future__ import annotations

import time

import workload  # noqa: F401  (puts the project root on sys.path)
from sqlalchemy import create_engine, select, text

from service.record.models import TrailEntry
from service.record.partitions import ensure_ahead
from service.record.sealer import SEALER_LOCK, append_leaves
from service.record.trail import CONTENT, EVERY_TENANT, entry_hash, scope

E = TrailEntry.__table__
CHUNK = 100_000  # rows per INSERT ... SELECT statement (one transaction each)
SEAL_EVERY = 1_000  # leaves per checkpoint, per tenant, as a sealer keeping up publishes them

# The copied columns, as the seed has them; the rest are made per copy below.
_KEPT = ("kind", "as_of", "case_id", "process_type", "action_type", "event_type", "actor_id", "actor_role",
         "client_id", "verdict", "rule_ids", "ruleset_version", "body", "request_digest", "hash_scheme")

_COPY = f"""
INSERT INTO trail_entries (seq, entry_id, recorded_at, employee_id, tenant_id, {", ".join(_KEPT)})
SELECT nextval('trail_entries_seq'),
       substr(t, 1, 8) || '-' || substr(t, 9, 4) || '-7' || substr(r, 1, 3) || '-'
         || substr('89ab', (i % 4)::int + 1, 1) || substr(r, 4, 3) || '-' || substr(r, 7, 12),
       at, employee, tenant, {", ".join(_KEPT)}
FROM (SELECT i, at, lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') AS t,
             md5(i::text || random()::text) AS r,
             CASE WHEN s.employee_id IS NULL THEN NULL ELSE s.employee_id || '.' || (i / :seeds) END AS employee,
             (CAST(:tenants AS text[]))[((i + i / :seeds) % :n_tenants)::int + 1] AS tenant, {", ".join("s." + c for c in _KEPT)}
      FROM (SELECT i, CAST(:start AS timestamp) + i * CAST(:step_us AS double precision) * interval '1 microsecond' AS at
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS i) g
      JOIN bench_seed s ON s.k = g.i % :seeds
      ORDER BY i) c
"""


def multiply(url: str, key, tenants: list[str], total: int, months: int, log=print) -> dict:
    """Copy the seed's check entries until the trail holds `total` more entries; returns timings."""
    engine = create_engine(url)
    timings = {}
    try:
        with engine.begin() as c:
            c.execute(text("CREATE TEMP TABLE bench_seed ON COMMIT PRESERVE ROWS AS SELECT "
                           "row_number() OVER (ORDER BY seq) - 1 AS k, * FROM trail_entries WHERE kind = 'check'"))
            seeds = c.execute(text("SELECT count(*) FROM bench_seed")).scalar()
            first_copy = c.execute(text("SELECT last_value FROM trail_entries_seq")).scalar() + 1
            gin = c.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_trail_rule_ids' "
                                 "AND schemaname = current_schema()")).scalar()
            c.execute(text("DROP INDEX ix_trail_rule_ids"))
            span_us = months * 30.44 * 86400e6
            start = c.execute(text("SELECT (now() AT TIME ZONE 'UTC') - make_interval(secs => :s)"),
                              {"s": span_us / 1e6}).scalar()
            # The past months' partitions, as the migration makes them from the oldest row on.
            ensure_ahead(c, c.execute(text("SELECT current_date")).scalar(), months=0, since=start.date())
        started = time.perf_counter()
        for lo in range(0, total, CHUNK):
            hi = min(total, lo + CHUNK)
            with engine.begin() as c:
                c.execute(text(_COPY), {"seeds": seeds, "tenants": tenants, "n_tenants": len(tenants),
                                        "start": start, "step_us": span_us / total, "lo": lo, "hi": hi})
            log(f"    copied {hi:,} of {total:,} ({time.perf_counter() - started:.0f} s)")
        timings["copy"] = time.perf_counter() - started
        started = time.perf_counter()
        with engine.begin() as c:
            # pg_indexes shows a partitioned index as made `ON ONLY` the parent, which builds none
            # on the partitions: made on the whole table, as the migration makes it.
            c.execute(text(gin.replace(" ON ONLY ", " ON ")))
        timings["gin"] = time.perf_counter() - started
        started = time.perf_counter()
        sealed = seal_copies(engine, key, first_copy, log)
        timings["seal"] = time.perf_counter() - started
        timings.update(seeds=seeds, sealed=sealed)
        return timings
    finally:
        engine.dispose()


def seal_copies(engine, key, first_seq: int, log=print) -> int:
    """Hash every copy from its stored content and append it to its tenant's tree, SEAL_EVERY
    leaves per checkpoint, under the sealer's lock (the deployment's own sealer waits meanwhile)."""
    columns = [E.c.seq, *[E.c[name] for name in CONTENT], E.c.hash_scheme, E.c.tenant_id]
    done, after, started = 0, first_seq - 1, time.perf_counter()
    while True:
        with engine.begin() as c:
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEALER_LOCK})
            scope(c, EVERY_TENANT)
            rows = c.execute(select(*columns).where(E.c.seq > after).order_by(E.c.seq).limit(50_000)).all()
            if not rows:
                return done
            by_tenant: dict[str, list[tuple[int, bytes]]] = {}
            for row in rows:
                values = dict(row._mapping)
                by_tenant.setdefault(values["tenant_id"], []).append((values["seq"], bytes.fromhex(entry_hash(values))))
            for tenant, leaves in by_tenant.items():
                for n in range(0, len(leaves), SEAL_EVERY):
                    append_leaves(c, key, leaves[n:n + SEAL_EVERY], tenant)
        done, after = done + len(rows), rows[-1].seq
        if done % 200_000 < 50_000:
            log(f"    sealed {done:,} ({time.perf_counter() - started:.0f} s)")

