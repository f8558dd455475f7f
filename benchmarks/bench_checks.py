"""In-process benchmark of POST /v1/checks (Flask test client, SQLite on disk, trail on).

Prints checks per second and p50/p99 latency for the whole request (validation, facts, engine,
verdict, storing the decision), and separately for the evaluation alone (facts + engine +
verdict, no HTTP, no database). Run: make bench  (or python benchmarks/bench_checks.py -n 5000)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas.check import CheckRequestSchema  # noqa: E402
from service import create_app  # noqa: E402
from service.decide.evaluation import evaluate  # noqa: E402

BENCH_KEY = "sg_bench-key-every-scope"
REQUESTS = [
    {"as_of": "2026-02-10",
     "employee": {"id": "E1", "gender": "female", "pregnancy": {"status": "pregnant"}, "children": [],
                  "medical_treatment": {"status": "none"}},
     "action": {"type": "terminate_with_notice", "actor": {"id": "HR7", "role": "hr"}}},
    {"as_of": "2026-02-10",
     "employee": {"id": "E2", "gender": "male", "medical_treatment": {"status": "none"}},
     "action": {"type": "terminate_economic_layoff", "actor": {"id": "HR7", "role": "hr"}}},
    {"as_of": "2026-02-10",
     "employee": {"id": "E3", "gender": "female", "children": [{"birth_date": "2025-06-01"}]},
     "action": {"type": "non_renewal_at_expiry", "actor": {"id": "HR7", "role": "hr"}}},
    {"as_of": "2026-02-10",
     "employee": {"id": "E1001", "gender": "female", "pregnancy": {"status": "pregnant"}, "children": [],
                  "medical_treatment": {"status": "none"}},
     "action": {"type": "execute_offboarding", "actor": {"id": "HR7", "role": "hr"}},
     "case": {"id": "SEP-1", "kind": "resignation", "events": [
         {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00", "actor": {"id": "E1001", "role": "employee"}, "form": "written"},
         {"type": "resignation_approved", "at": "2026-01-06T09:00:00+08:00", "actor": {"id": "M3", "role": "manager"}},
         {"type": "withdrawal_requested", "at": "2026-01-08T09:00:00+08:00", "actor": {"id": "E1001", "role": "employee"}},
         {"type": "withdrawal_accepted", "at": "2026-01-08T15:00:00+08:00", "actor": {"id": "M3", "role": "manager"}}]}},
]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(label: str, samples: list[float], wall: float) -> None:
    ms = [s * 1000 for s in samples]
    print(f"{label:<34} {len(samples) / wall:>9.0f} checks/s   p50 {percentile(ms, .5):6.3f} ms"
          f"   p99 {percentile(ms, .99):6.3f} ms   mean {statistics.fmean(ms):6.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=4000, help="checks per measurement (default 4000)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite", "DEV_KEY": BENCH_KEY})
        print(f"start-up (load + validate + compile {len(app.extensions['rulebook'].rules)} rules, "
              f"create app): {(time.perf_counter() - started) * 1000:.1f} ms")
        rulebook = app.extensions["rulebook"]
        loaded = [CheckRequestSchema().load(r) for r in REQUESTS]
        for r in loaded * 50:  # warm up
            evaluate(rulebook, r)

        samples = []
        wall = time.perf_counter()
        for i in range(args.n):
            t = time.perf_counter()
            evaluate(rulebook, loaded[i % len(loaded)])
            samples.append(time.perf_counter() - t)
        report("evaluation (facts+engine+verdict)", samples, time.perf_counter() - wall)

        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {BENCH_KEY}"  # every /v1 endpoint needs a key
        for r in REQUESTS * 25:
            client.post("/v1/checks", json=r)
        samples = []
        wall = time.perf_counter()
        for i in range(args.n):
            t = time.perf_counter()
            response = client.post("/v1/checks", json=REQUESTS[i % len(REQUESTS)])
            samples.append(time.perf_counter() - t)
            assert response.status_code == 200, response.get_data(as_text=True)
        report("POST /v1/checks in-process", samples, time.perf_counter() - wall)


if __name__ == "__main__":
    main()
