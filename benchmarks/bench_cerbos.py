"""Against a peer: the pregnancy + Art. 40 decision in Cerbos and in our service, sequentially, in one run.

1. Installs the npm package @cerbos/cerbos-linux-x64 into a temporary directory (`npm install`;
   or uses --cerbos-bin / $CERBOS_BIN), finds the binary in node_modules.
2. `cerbos compile benchmarks/cerbos/policies` (the policy, its JSON schema and its test suite).
3. Starts Cerbos twice (disk driver on benchmarks/cerbos/policies, schema enforcement `reject`,
   telemetry off, HTTP and gRPC on 127.0.0.1 free ports): with its audit log off, and with it on
   (`audit.enabled: true`, `backend: local`, access and decision logs: every decision logged to
   its local store), and our service under gunicorn (gunicorn.conf.py) on PostgreSQL (trail on)
   and on SQLite.
4. Checks both give the same decision (deny, lcl-42-4.protected-period), then measures in
   --rounds interleaved rounds of --count sequential requests each:
     - Cerbos CheckResources (POST /api/check/resources), keep-alive connection;
     - Cerbos, a new connection per request (as our service is called: gunicorn's sync workers
       close the connection after every answer);
     - our POST /v1/checks on PostgreSQL and on SQLite (decision recorded in the trail);
     - the same check on PostgreSQL with `Prefer: citations=refs` (a smaller answer), the README's
       first check on PostgreSQL (issue 23's HTTP overhead goal), and the bare Flask echo
       (benchmarks/echo_app.py) under the same gunicorn;
     - each of those four in-process too (Flask test client, this process, the same schema,
       writing the request log line the served process writes), and the README's check once more
       without that line.
   Prints p50 / p99 for each, whether our sequential p50 on PostgreSQL is within 2.0x of
   Cerbos's with its audit log on (issue 23's goal), keep-alive, measured in the same run, and
   the HTTP overhead: HTTP p50 minus in-process p50 (issue 23: at most 0.5 ms for our check), with
   each answer's size: the echo's overhead is the server's and the network's alone.
   With --server-timing, the PostgreSQL service and the echo run with gunicorn_timed.conf.py, and
   the overhead is split into the time inside gunicorn's request (the app and its write) and outside.
   If Cerbos cannot be installed it says so and measures only our service.

Run:  /tmp/venv/bin/python benchmarks/bench_cerbos.py [--rounds 5 --count 400] [--post-fork-dispose]
"""
from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import workload  # noqa: F401  (puts the project root on sys.path)
import harness
from harness import (BENCH, Gunicorn, PostgresSchema, auth_headers, free_port, run_clients, start_echo,
                     start_service, wait_http)
from workload import PREGNANT_ART40, percentile, readme_check, snapshot_rules

POLICIES = BENCH / "cerbos" / "policies"
REFS, ECHO = "service, PostgreSQL, refs", "bare Flask echo"
README = "README's check, PostgreSQL"
PREFER_REFS = {"Prefer": "citations=refs"}

NPM_PACKAGE = "@cerbos/cerbos-linux-x64"

CERBOS_REQUEST = {
    "requestId": "bench",
    "principal": {"id": "HR7", "roles": ["hr"]},
    "resources": [{
        "actions": ["terminate_with_notice"],
        "resource": {"kind": "employee_separation", "id": "E1001",
                     "attr": {"as_of": "2026-02-10", "gender": "female", "pregnancy_status": "pregnant"}},
    }],
}


def install_cerbos(into: Path) -> Path:
    """npm install the package into `into`; the binary's path. Raises RuntimeError with npm's words."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(into), NPM_PACKAGE],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"npm install {NPM_PACKAGE} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    package = into / "node_modules" / "@cerbos" / "cerbos-linux-x64"
    candidates = [p for p in package.rglob("*") if p.is_file() and p.name.startswith("cerbos")
                  and os.access(p, os.X_OK)]
    if not candidates:
        raise RuntimeError(f"no cerbos binary found under {package}")
    version = json.loads((package / "package.json").read_text()).get("version")
    print(f"cerbos: {NPM_PACKAGE}@{version} installed with npm into {into}")
    return candidates[0]


class Cerbos:
    def __init__(self, binary: Path, workdir: Path, audit: bool = False):
        self.port, grpc = free_port(), free_port()
        workdir = workdir / ("cerbos-audit" if audit else "cerbos")
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "cerbos.yaml"
        audit_config = {"enabled": False}
        if audit:
            audit_config = {"enabled": True, "accessLogsEnabled": True, "decisionLogsEnabled": True,
                            "backend": "local", "local": {"storagePath": str(workdir / "audit")}}
        config.write_text(json.dumps({  # JSON is YAML
            "server": {"httpListenAddr": f"127.0.0.1:{self.port}", "grpcListenAddr": f"127.0.0.1:{grpc}"},
            "storage": {"driver": "disk", "disk": {"directory": str(POLICIES), "watchForChanges": False}},
            "schema": {"enforcement": "reject"},
            "audit": audit_config,
            "telemetry": {"disabled": True},
        }, indent=2))
        self._log = open(workdir / "cerbos.log", "ab")
        self.proc = subprocess.Popen([str(binary), "server", f"--config={config}"], stdout=self._log,
                                     stderr=subprocess.STDOUT, env={**os.environ, "CERBOS_NO_TELEMETRY": "1"},
                                     start_new_session=True)
        wait_http(self.port, "/_cerbos/health", proc=self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _timed(client, body: dict, headers: dict, count: int) -> list[float]:
    out = []
    for _ in range(count):
        t = time.perf_counter()
        response = client.post("/v1/checks", json=body, headers=headers)
        out.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return out


def _server_times(tmp: Path) -> list[float]:
    """The durations gunicorn_timed.conf.py wrote since the last call (it removes the files)."""
    out = []
    for path in tmp.glob("timed.*"):
        out += [float(line) for line in path.read_text().split()]
        path.unlink()
    return out


def post_json(port: int, path: str, body: dict, headers: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    data = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=400, help="sequential requests per target per round")
    parser.add_argument("--seconds", type=float, default=30, help="time bound per target per round")
    parser.add_argument("--cerbos-bin", default=os.environ.get("CERBOS_BIN"),
                        help="an installed cerbos binary (default: npm install into a temporary directory)")
    parser.add_argument("--server-timing", action="store_true",
                        help="gunicorn_timed.conf.py for the PostgreSQL service and the echo: splits the HTTP "
                             "overhead into the time outside the app and inside gunicorn's request")
    parser.add_argument("--post-fork-dispose", action="store_true",
                        help="gunicorn_postfork.conf.py: the repository's settings plus the proposed post-fork fix")
    args = parser.parse_args()
    harness.use_post_fork_dispose(args.post_fork_dispose)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cerbos = cerbos_audit = None
        binary = Path(args.cerbos_bin) if args.cerbos_bin else None
        if binary is None:
            try:
                binary = install_cerbos(tmp / "npm")
            except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
                print("=" * 78)
                print(f"CERBOS NOT MEASURED: the npm package {NPM_PACKAGE} could not be installed here:\n{exc}")
                print("=" * 78)
        if binary is not None:
            compiled = subprocess.run([str(binary), "compile", str(POLICIES)], capture_output=True, text=True,
                                      timeout=120)
            print("cerbos compile:", (compiled.stdout.strip().splitlines() or ["?"])[-1])
            if compiled.returncode != 0:
                print(compiled.stdout, compiled.stderr)
                return 1
            cerbos = Cerbos(binary, tmp)
            cerbos_audit = Cerbos(binary, tmp, audit=True)

        rules_dir = snapshot_rules(tmp / "rules")
        readme = readme_check()
        targets: list[tuple[str, int, str, dict, dict]] = []
        servers: list[Gunicorn] = []
        pg = PostgresSchema()
        try:
            if cerbos is not None:
                status, answer = post_json(cerbos.port, "/api/check/resources", CERBOS_REQUEST, {})
                effect = answer["results"][0]["actions"]["terminate_with_notice"]
                outputs = [o["val"]["rule_id"] for o in answer["results"][0].get("outputs", [])]
                print(f"cerbos decision: {status} {effect} {outputs}")
                assert effect == "EFFECT_DENY", answer
                targets.append(("Cerbos (keep-alive)", cerbos.port, "/api/check/resources", CERBOS_REQUEST, {}))
                targets.append(("Cerbos (new connection each)", cerbos.port, "/api/check/resources",
                                CERBOS_REQUEST, {"Connection": "close"}))
                targets.append(("Cerbos, audit log on", cerbos_audit.port, "/api/check/resources", CERBOS_REQUEST, {}))
                targets.append(("Cerbos, audit on, new conn.", cerbos_audit.port, "/api/check/resources",
                                CERBOS_REQUEST, {"Connection": "close"}))
            timed = BENCH / "gunicorn_timed.conf.py" if args.server_timing else None
            os.environ["SG_TIMED_PREFIX"] = str(tmp / "timed")  # the servers inherit it
            for label, url in (("service, PostgreSQL", pg.url), ("service, SQLite", f"sqlite:///{tmp / 'c.sqlite'}")):
                server = start_service(url, rules_dir, tmp / f"{label[-6:]}.log",
                                       config=timed if label == "service, PostgreSQL" else None)
                servers.append(server)
                status, answer = post_json(server.port, "/v1/checks", PREGNANT_ART40, auth_headers())
                rule_ids = [f["rule_id"] for f in answer.get("findings", [])]
                print(f"{label} decision: {status} {answer.get('verdict')} {rule_ids}")
                assert status == 200 and answer["verdict"] == "deny" and "lcl-42-4.protected-period" in rule_ids
                targets.append((label, server.port, "/v1/checks", PREGNANT_ART40, auth_headers()))
                if label == "service, PostgreSQL":
                    targets.append((REFS, server.port, "/v1/checks", PREGNANT_ART40, {**auth_headers(), **PREFER_REFS}))
                    targets.append((README, server.port, "/v1/checks", readme, auth_headers()))
            echo = start_echo(tmp / "echo.log", config=timed)
            servers.append(echo)
            targets.append((ECHO, echo.port, "/v1/checks", PREGNANT_ART40, {}))

            # The same requests in-process (Flask test client, the same schema), writing the JSON
            # request log line the served process writes (wsgi.py), to a file here: the HTTP
            # overhead goal compares the two p50s of one run. The echo's overhead is the server's
            # and the network's alone; the refs form's says what the answer's size adds.
            import echo_app
            from service import create_app
            from service.http.observability import configure_json_logging
            configure_json_logging()
            logging.getLogger().handlers[0].stream = open(tmp / "in_process.log", "w")
            inproc = create_app({"DATABASE_URL": pg.url, "DEV_KEY": harness.BENCH_KEY, "RULES_DIR": str(rules_dir),
                                 "TRAIL_SEALER_THREAD": False})
            clients = {target[0]: (echo_app.app if target[0] == ECHO else inproc).test_client()
                       for target in targets if target[0] in (README, "service, PostgreSQL", REFS, ECHO)}
            samples_inproc: dict[str, list[float]] = {label: [] for label in clients}
            silent: list[float] = []  # the README's check without the log line: what the line costs

            def in_process(count: int) -> None:
                for label, port, path, body, headers in targets:
                    if label in clients:
                        samples_inproc[label] += _timed(clients[label], body, headers, count)
                logging.getLogger().setLevel(logging.WARNING)
                silent.extend(_timed(clients[README], readme, auth_headers(), count))
                logging.getLogger().setLevel(logging.INFO)
            in_process(100)
            samples_inproc = {label: [] for label in clients}
            silent.clear()
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.rounds} rounds x "
                  f"{args.count} sequential requests per target")
            samples: dict[str, list[float]] = {t[0]: [] for t in targets}
            errors: dict[str, int] = {t[0]: 0 for t in targets}
            sizes: dict[str, int] = {}
            for label, port, path, body, headers in targets:  # warm up
                run_clients(port, path, [body], headers, 1, 100, 10)
                sizes[label] = len(json.dumps(post_json(port, path, body, headers)[1], ensure_ascii=False).encode())
            inside: dict[str, list[float]] = {}  # --server-timing: pre_request to post_request, by target
            for _ in range(args.rounds):
                for label, port, path, body, headers in targets:
                    _server_times(tmp)  # what the warm-up and the other targets left
                    result = run_clients(port, path, [body], headers, 1, args.count, args.seconds)
                    samples[label] += [s.seconds * 1000 for s in result.ok]
                    errors[label] += len(result.samples) - len(result.ok)
                    if timed:
                        inside.setdefault(label, []).extend(_server_times(tmp))
                in_process(args.count)
            print(f"load average at the end {os.getloadavg()[0]:.1f}")
            inproc.extensions["db_engine"].dispose()
        finally:
            for server in servers:
                server.stop()
            for c in (cerbos, cerbos_audit):
                if c is not None:
                    c.stop()
            pg.drop()

    print()
    print(f"{'sequential, same decision':<32} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, ms in samples.items():
        print(f"{label:<32} {len(ms):>6} {percentile(ms, .5):>8.2f} {percentile(ms, .99):>8.2f} {errors[label]:>7}")
    print(f"\n{'HTTP p50 - in-process p50':<32} {'bytes':>7} {'HTTP':>8} {'in-proc.':>8} {'overhead':>9}")
    for label in samples_inproc:
        http_p50, inproc_p50 = percentile(samples[label], .5), percentile(samples_inproc[label], .5)
        print(f"{label:<32} {sizes[label]:>7} {http_p50:>8.2f} {inproc_p50:>8.2f} {http_p50 - inproc_p50:>9.2f}")
    if inside:
        print(f"\n{'with --server-timing':<32} {'HTTP':>8} {'inside':>8} {'outside':>8} {'inside - in-proc.':>18}")
        for label in samples_inproc:
            if inside.get(label):
                http_p50, in_p50 = percentile(samples[label], .5), percentile(inside[label], .5)
                print(f"{label:<32} {http_p50:>8.2f} {in_p50:>8.2f} {http_p50 - in_p50:>8.2f} "
                      f"{in_p50 - percentile(samples_inproc[label], .5):>+18.2f}")
        print("(inside: gunicorn's pre_request to post_request, the app and its write; outside: the rest of HTTP p50)")
    overhead = percentile(samples[README], .5) - percentile(samples_inproc[README], .5)
    print(f"the README's check in-process without the request log line: p50 {percentile(silent, .5):.2f} ms "
          f"(the line: {percentile(samples_inproc[README], .5) - percentile(silent, .5):+.2f} ms)")
    print(f"goal HTTP overhead (HTTP p50 - in-process p50, the README's check, PostgreSQL) <= 0.5 ms: "
          f"{'MET' if overhead <= 0.5 else 'MISSED'} ({overhead:.2f} ms)")
    if cerbos is None:
        print("\ngoal sequential p50 within 2.0x of Cerbos with its audit log on: NOT MEASURED "
              "(Cerbos could not be installed)")
        return 0
    reference = percentile(samples["Cerbos, audit log on"], .5)
    fresh = percentile(samples["Cerbos, audit on, new conn."], .5)
    for label in ("service, PostgreSQL", "service, SQLite"):
        ours = percentile(samples[label], .5)
        print(f"goal sequential p50 within 2.0x of Cerbos, audit log on ({label}): "
              f"{'MET' if ours <= 2.0 * reference else 'MISSED'} ({ours:.2f} ms = {ours / reference:.2f}x "
              f"{reference:.2f} ms keep-alive; {ours / fresh:.2f}x {fresh:.2f} ms new connection each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
