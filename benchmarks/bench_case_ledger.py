"""What checking a case's rows against the trail costs per decision (service.record.case_trail).

Records a case of N events (an approval ping-pong: the state machine accepts each), then times
case_rows() (the rows read, the trail entries read, each entry's hash recomputed and compared
with its leaf or its signed queue row) against reading the rows alone, both with the events still
queued (each queue row's Ed25519 signature verified) and sealed. Prints milliseconds per call.

    .venv/bin/python -m benchmarks.bench_case_ledger [--events 5 50] [-n 300] [--database-url URL]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from sqlalchemy import select

from service import create_app
from service.record import db
from service.record.case_trail import case_rows
from service.record.models import CaseEvent
from service.flows.sealing import wait_until_sealed

KEY = "sg_bench-key"
EMPLOYEE = {"id": "E1", "gender": "male", "department": "SALES", "birth_date": "1990-01-01"}


def _record(client, case_id: str, events: int) -> None:
    types = ["resignation_submitted"] + ["resignation_approved" if i % 2 else "resignation_submitted"
                                         for i in range(1, events)]
    for i, type_ in enumerate(types):
        body = {"client_key": f"{case_id}-{i}", "employee": EMPLOYEE,
                "event": {"type": type_, "at": f"2026-01-05T09:{i // 60:02d}:{i % 60:02d}+08:00",
                          "actor": {"id": "M3" if type_ == "resignation_approved" else "E1",
                                    "role": "manager" if type_ == "resignation_approved" else "employee",
                                    "department": "SALES"}}}
        if i == 0:
            body["case"] = {"kind": "resignation", "hr_owner_id": "HR7", "manager_id": "M3"}
        client.post(f"/v1/cases/{case_id}/events", json=body, headers={"Authorization": f"Bearer {KEY}"})


def _time(app, fn, n: int) -> float:
    with app.app_context():
        with db.read_session() as session:
            fn(session)  # warm
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                fn(session)
                samples.append(time.perf_counter() - start)
                session.expire_all()
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[5, 50])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{folder}/bench.sqlite"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "DEV_KEY": KEY, "TRAIL_SEAL_SECONDS": 0})
    client = app.test_client()
    print(f"database: {url.split(':', 1)[0]}, median of {args.n} calls, ms per call")
    for events in args.events:
        case_id = f"BENCH-{events}"
        _record(client, case_id, events)
        with app.app_context():
            recorded = len(case_rows(db.read_session(), case_id, tenant_id="default"))

        def rows_alone(session):
            return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))

        def checked(session):
            return case_rows(session, case_id, tenant_id="default")

        queued = _time(app, checked, args.n)
        wait_until_sealed(app)
        sealed = _time(app, checked, args.n)
        alone = _time(app, rows_alone, args.n)
        print(f"{recorded:3d} events: rows alone {alone:.3f}; checked against the trail: queued {queued:.3f}, "
              f"sealed {sealed:.3f}")


if __name__ == "__main__":
    main()
