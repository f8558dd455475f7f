"""Bytes stored per decision on PostgreSQL, every table and index counted, and the sealer's pace.

N checks of the realistic mix (workload.py) are recorded in-process and sealed (one sealing round
per --seal-every checks, as a sealer keeping up would). Storage is measured as the growth of
pg_total_relation_size (heap, TOAST, every index) over all tables of a fresh schema, from the
state right after start-up (which holds the rule set's version entry, recorded once) to the
state after the N decisions, divided by N. Measured twice: as written (the sealing queue's dead
rows not yet vacuumed) and after VACUUM (what autovacuum leaves: the queue's space is reused).

With --story-every K (default 20), every K checks one case's story also goes through the case
ledger (POST /v1/cases/<id>/events: a resignation submitted, approved, withdrawn, the withdrawal
accepted: four trail entries, its case, events and notifications): the mix of checks and case
events issue 23 measures. Bytes are then given per trail entry (check or case event) and per check.

Run:  .venv/bin/python benchmarks/bench_storage.py [-n 5000] [--story-every 20 | 0 for checks only]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from harness import BENCH_KEY, PostgresSchema, auth_headers
from workload import request_bodies, snapshot_rules

from service import create_app
from service.flows.sealing import seal_once

SIZES = """SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind = 'r'"""


def sizes(engine) -> dict[str, int]:
    from sqlalchemy import text
    with engine.connect() as conn:
        return dict(conn.execute(text(SIZES)).all())


# Each relation of a table (heap with its TOAST, each index), partitions summed under their parent.
DETAIL = """SELECT coalesce(pp.relname, t.relname) AS tbl, '(heap + toast)' AS rel,
                  sum(pg_table_size(t.oid)) FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
             LEFT JOIN pg_inherits i ON i.inhrelid = t.oid LEFT JOIN pg_class pp ON pp.oid = i.inhparent
            WHERE n.nspname = current_schema() AND t.relkind = 'r' GROUP BY 1
            UNION ALL
            SELECT coalesce(pp.relname, t.relname), coalesce(pi.relname, x.relname), sum(pg_relation_size(x.oid))
             FROM pg_index ix JOIN pg_class x ON x.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             LEFT JOIN pg_inherits i ON i.inhrelid = t.oid LEFT JOIN pg_class pp ON pp.oid = i.inhparent
             LEFT JOIN pg_inherits ii ON ii.inhrelid = x.oid LEFT JOIN pg_class pi ON pi.oid = ii.inhparent
            WHERE n.nspname = current_schema() AND t.relkind = 'r' GROUP BY 1, 2"""


def detail(engine) -> dict[tuple[str, str], int]:
    from sqlalchemy import text
    with engine.connect() as conn:
        return {(t, r): int(b) for t, r, b in conn.execute(text(DETAIL)).all()}


def vacuum(engine) -> None:
    from sqlalchemy import text
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


EMPLOYEE = {"id": "E1001", "gender": "female", "department": "SALES", "birth_date": "1994-05-12",
            "hire_date": "2021-03-01", "region": "CN-BJ", "pregnancy": {"status": "not_pregnant"}, "children": [],
            "medical_treatment": {"status": "none"}}
STORY = [("resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee", {"form": "written"}),
         ("resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager", {}),
         ("withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee", {"form": "verbal"}),
         ("withdrawal_accepted", "2026-01-08T15:00:00+08:00", "M3", "manager", {})]


def story(client, headers, case_id: str) -> int:
    """One case's story through the ledger (as tests/test_ledger.py's seed): four trail entries."""
    for n, (kind, at, actor, role, extra) in enumerate(STORY):
        body = {"client_key": f"{case_id}-{n}", "employee": EMPLOYEE,
                "event": {"type": kind, "at": at, "actor": {"id": actor, "role": role}, **extra}}
        if n == 0:
            body["case"] = {"kind": "resignation", "hr_owner_id": "HR7", "manager_id": "M3"}
        response = client.post(f"/v1/cases/{case_id}/events", json=body, headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
    return len(STORY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--seal-every", type=int, default=200)
    parser.add_argument("--detail", action="store_true", help="also each table's heap and each index, vacuumed")
    parser.add_argument("--story-every", type=int, default=20,
                        help="one case's four-event story every this many checks (0: checks only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, PostgresSchema() as pg:
        rules_dir = snapshot_rules(Path(tmp) / "rules")
        bodies = request_bodies(rules_dir)
        app = create_app({"DATABASE_URL": pg.url, "DEV_KEY": BENCH_KEY, "RULES_DIR": str(rules_dir),
                          "TRAIL_SEALER_THREAD": False})
        engine = app.extensions["db_engine"]
        seal_once(app)
        vacuum(engine)
        before, before_detail = sizes(engine), detail(engine)
        client, headers = app.test_client(), auth_headers()
        seal_seconds, rounds, events = 0.0, 0, 0
        for i in range(args.n):
            response = client.post("/v1/checks", json=bodies[i % len(bodies)], headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)
            if args.story_every and (i + 1) % args.story_every == 0:
                events += story(client, headers, f"BENCH-{i}")
            if (i + 1) % args.seal_every == 0:
                t = time.perf_counter()
                seal_once(app)
                seal_seconds += time.perf_counter() - t
                rounds += 1
        while seal_once(app):
            pass
        written = sizes(engine)
        vacuum(engine)
        vacuumed = sizes(engine)
        entries = args.n + events
        print(f"PostgreSQL, {args.n} checks of the {len(bodies)}-request mix and {events} case events "
              f"({events // 4} stories), sealed every {args.seal_every}; bytes per trail entry ({entries}):")
        print(f"  {'table':<22} {'as written B/entry':>22} {'after VACUUM':>14}")
        for table in sorted(written, key=lambda t: -(written[t] - before.get(t, 0))):
            grown, kept = written[table] - before.get(table, 0), vacuumed[table] - before.get(table, 0)
            print(f"  {table:<22} {grown / entries:>22.0f} {kept / entries:>14.0f}")
        total_w = sum(written.values()) - sum(before.values())
        total_v = sum(vacuumed.values()) - sum(before.values())
        print(f"  {'total':<22} {total_w / entries:>22.0f} {total_v / entries:>14.0f}")
        if args.detail:
            after_detail = detail(engine)
            print("  each relation, vacuumed (partitions summed under their parent), B/entry:")
            for (table, rel), size in sorted(after_detail.items(), key=lambda kv: -(kv[1] - before_detail.get(kv[0], 0))):
                grown = size - before_detail.get((table, rel), 0)
                if grown:
                    print(f"    {table:<20} {rel:<58} {grown / entries:>6.0f}")
        print(f"goal <= 1,200 B per decision (trail entry), vacuumed: {'MET' if total_v / entries <= 1200 else 'MISSED'} "
              f"({total_v / entries:.0f} B; {total_v / args.n:.0f} B per check with its share of the case events)")
        print(f"  the rule set's version entry (once per version): {before.get('trail_entries', 0)} B "
              "of trail_entries before the first decision")
        print(f"  sealing: {seal_seconds / max(rounds, 1) * 1000:.1f} ms per round of {args.seal_every} "
              f"({seal_seconds / max(rounds * args.seal_every, 1) * 1e6:.0f} us per entry)")
        engine.dispose()


if __name__ == "__main__":
    main()
