"""Statute texts by reference: answer size and sequential latency, full answer vs citations=refs.

Starts the service under gunicorn (gunicorn.conf.py) on PostgreSQL (trail on; a fresh schema in
sg_bench) and posts, sequentially, in --rounds interleaved rounds of --count requests each:
  - the README's first check (a complete record: deny + obligations), service/http/examples.json;
  - a sparse request (workload.PREGNANT_ART40: most protections unknown, many findings);
each as the default answer and with `Prefer: citations=refs`. Prints the answer's size in bytes
and p50 / p99 per form, over all rounds (a quiet machine gives steadier figures).

Run:  .venv/bin/python benchmarks/bench_citations.py [--rounds 3 --count 300] [--sqlite]
"""
from __future__ import annotations

import argparse
import http.client
import json
import tempfile
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from harness import PostgresSchema, auth_headers, run_clients, start_service
from workload import PREGNANT_ART40, percentile, readme_check, snapshot_rules

FORMS = {"full": {}, "refs": {"Prefer": "citations=refs"}}


def answer_size(port: int, body: dict, headers: dict) -> tuple[int, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/checks", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json", **auth_headers(), **headers})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    assert response.status == 200, (response.status, data[:300])
    return len(data), len(json.loads(data)["findings"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=300, help="sequential requests per round and form")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()
    requests = {"README check": readme_check(), "sparse check": json.loads(json.dumps(PREGNANT_ART40))}
    with tempfile.TemporaryDirectory() as tmp:
        rules = snapshot_rules(Path(tmp) / "rules")
        database = None if args.sqlite else PostgresSchema()
        url = f"sqlite:///{tmp}/bench.sqlite" if args.sqlite else database.url
        try:
            with start_service(url, rules, Path(tmp) / "service.log") as server:
                samples: dict[tuple[str, str], list[float]] = {}
                for _ in range(args.rounds):
                    for name, body in requests.items():
                        for form, headers in FORMS.items():
                            result = run_clients(server.port, "/v1/checks", [body], {**auth_headers(), **headers},
                                                 1, args.count, 120)
                            samples.setdefault((name, form), []).extend(s.seconds * 1000 for s in result.ok)
                print(f"{'request':<14} {'form':<5} {'bytes':>7} {'findings':>8} {'n':>5} {'p50 ms':>7} {'p99 ms':>7}")
                for (name, form), ms in samples.items():
                    size, findings = answer_size(server.port, requests[name], FORMS[form])
                    print(f"{name:<14} {form:<5} {size:>7} {findings:>8} {len(ms):>5} "
                          f"{percentile(ms, 0.50):>7.2f} {percentile(ms, 0.99):>7.2f}")
        finally:
            if database is not None:
                database.drop()
    print("database:", "SQLite" if args.sqlite else "PostgreSQL", "| rounds:", args.rounds, "| count:", args.count)


if __name__ == "__main__":
    main()
