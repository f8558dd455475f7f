"""What recording a decision costs under load, and which process pays it (issue 23, goal 3).

The same service twice, with 8 client processes posting the realistic mix to POST /v1/checks:
  - "trail off": the trail append patched to a no-op (gunicorn_no_trail.conf.py) on SQLite, which
    no check then touches (on PostgreSQL, in 4 runs, its throughput was 1-11% lower, within the
    run-to-run noise of this benchmark on a 2-core VM);
  - "trail on": PostgreSQL, every decision durably recorded before its answer, and
    `separation-guard worker` beside it sealing the trail, as `make run` starts them.
For each it prints the throughput and the CPU each group of processes spent per answered request
(from /proc: the gunicorn workers in user and kernel time, the worker, every PostgreSQL process
on the machine, so run it on an otherwise quiet one, and the rest of the machine: the clients and
this script), and the whole machine's busy time per request (/proc/stat). When the machine is saturated, throughput is its cores divided by that busy
time, so trail-on / trail-off is busy(off) / busy(on), and the per-process figures say where the
difference goes.

Two layouts of the 2 cores (--layout, default both):
  shared  every process on both cores, as bench_http.py runs (the issue's goal is measured so);
  split   the web server alone on CPU 0; PostgreSQL (a private server, started pinned), the worker
          and the clients on CPU 1: a web host whose database and worker run elsewhere, as in
          production. Throughput is then bound by the web processes' own CPU, so the ratio is
          what recording costs the web tier.

Run:  .venv/bin/python benchmarks/bench_recording.py [--rounds 3] [--seconds 15] [--layout both]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
from harness import (PostgresSchema, PrivateCluster, auth_headers, postgres_cpu_seconds, process_cpu, run_clients,
                     start_service)
from workload import request_bodies, snapshot_rules

NO_TRAIL = Path(__file__).resolve().parent / "gunicorn_no_trail.conf.py"
TICK = os.sysconf("SC_CLK_TCK")
GROUPS = ("web user", "web kernel", "worker", "PostgreSQL", "clients, rest")


def _machine_busy() -> float:
    """CPU seconds the machine has spent not idle (every core), from /proc/stat."""
    ticks = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK  # idle, iowait


def _snapshot(server) -> dict[str, float]:
    web = [process_cpu(pid) for pid in server.worker_rss_kib()]
    worker = process_cpu(server.worker.pid) if server.worker else (0.0, 0.0)
    return {"web user": sum(u for u, _ in web), "web kernel": sum(k for _, k in web),
            "worker": sum(worker), "PostgreSQL": postgres_cpu_seconds(), "machine": _machine_busy()}


@contextmanager
def clients_on(cpus: set[int] | None):
    """The client processes (spawned from this one) on these CPUs: they inherit its affinity."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def measure(server, bodies: list[dict], clients: int, seconds: float, client_cpus: set[int] | None) -> dict:
    with clients_on(client_cpus):
        run_clients(server.port, "/v1/checks", bodies, auth_headers(), 1, 200, 30)  # warm every code path
        run_clients(server.port, "/v1/checks", bodies, auth_headers(), clients, 50 * clients, 10)
        done: dict = {}
        load = threading.Thread(target=lambda: done.update(result=run_clients(
            server.port, "/v1/checks", bodies, auth_headers(), clients, 10 ** 7, seconds)))
        called = time.time()
        load.start()
        # run_clients starts its clients 2 s after the call: count from then, not their start-up.
        time.sleep(max(0.0, called + 2.5 - time.time()))
        since, before = time.time(), _snapshot(server)
        load.join()
        after = _snapshot(server)
    result = done["result"]
    if not result.ok or len(result.ok) != len(result.samples):
        raise SystemExit(f"non-200 answers: {result.statuses()}; see {server.log_path}")
    answered = sum(1 for sample in result.ok if sample.started >= since)
    per = {name: (after[name] - before[name]) * 1000 / answered for name in before}
    per["clients, rest"] = per["machine"] - sum(per[name] for name in GROUPS[:-1])
    per["rate"] = len(result.ok) / result.wall
    return per


def report(layout: str, off: dict, on: dict) -> float:
    ratio = on["rate"] / off["rate"] * 100
    print(f"  {'':<10} {'req/s':>7} {'machine':>8} " + " ".join(f"{g:>13}" for g in GROUPS) + "   (ms CPU per request)")
    for label, row in (("trail off", off), ("trail on", on)):
        print(f"  {label:<10} {row['rate']:>7.0f} {row['machine']:>8.2f} " + " ".join(f"{row[g]:>13.2f}" for g in GROUPS))
    print(f"  {'recording':<10} {'':>7} {on['machine'] - off['machine']:>+8.2f} "
          + " ".join(f"{on[g] - off[g]:>+13.2f}" for g in GROUPS))
    web_off, web_on = off["web user"] + off["web kernel"], on["web user"] + on["web kernel"]
    model = off["machine"] / on["machine"] if layout == "shared" else web_off / web_on
    basis = "machine busy, off / on" if layout == "shared" else "web processes' CPU, off / on"
    print(f"  {layout}: trail-on throughput {ratio:.0f}% of trail-off (goal >= 80%); "
          f"the CPU accounting predicts {model * 100:.0f}% ({basis})", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15, help="each measurement (default 15 s)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layout", choices=("shared", "split", "both"), default="both")
    args = parser.parse_args()
    if os.cpu_count() < 2 and args.layout != "shared":
        raise SystemExit("the split layout needs 2 CPUs")
    layouts = ("shared", "split") if args.layout == "both" else (args.layout,)
    print(f"{args.clients} client processes, {args.seconds:.0f} s a measurement, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    ratios: dict[str, list[float]] = {layout: [] for layout in layouts}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rules = snapshot_rules(tmp / "rules")
        bodies = request_bodies(rules)
        cluster = PrivateCluster(cpus="1") if "split" in layouts else None
        try:
            for round_ in range(1, args.rounds + 1):
                for layout in layouts:
                    split = layout == "split"
                    web, rest, client_cpus = ("0", "1", {1}) if split else (None, None, None)
                    print(f"round {round_}, {layout} (load average {os.getloadavg()[0]:.1f}):")
                    with start_service(f"sqlite:///{tmp / f'off_{round_}_{layout}.sqlite'}", rules,
                                       tmp / "off.log", config=NO_TRAIL, cpus=web, worker_cpus=rest) as server:
                        off = measure(server, bodies, args.clients, args.seconds, client_cpus)
                    with (PostgresSchema(cluster.admin_url) if split else PostgresSchema()) as pg:
                        with start_service(pg.url, rules, tmp / "on.log", cpus=web, worker_cpus=rest) as server:
                            on = measure(server, bodies, args.clients, args.seconds, client_cpus)
                    ratios[layout].append(report(layout, off, on))
        finally:
            if cluster is not None:
                cluster.destroy()
    for layout, values in ratios.items():
        print(f"{layout}: trail-on / trail-off {min(values):.0f}–{max(values):.0f}% over {len(values)} round(s); "
              f"goal >= 80% in each: {'MET' if min(values) >= 80 else 'MISSED'}")


if __name__ == "__main__":
    main()
