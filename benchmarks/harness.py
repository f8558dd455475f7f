"""Shared by bench_http.py, bench_cerbos.py and load_test.py: start gunicorn (the service or the
echo app) on a free loopback port, a PostgreSQL schema of our own, and a bounded HTTP client.

Benchmark-only code. Loopback only; every client loop is bounded by a count and a deadline.
"""
from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
BENCH_KEY = "sg_bench-key-every-scope"
# BENCH_POST_FORK_DISPOSE=1 (or a script's --post-fork-dispose): run gunicorn with
# gunicorn_postfork.conf.py, the repository's settings plus the proposed post-fork fix.
POST_FORK_DISPOSE = os.environ.get("BENCH_POST_FORK_DISPOSE") == "1"
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/sg_bench")


def on_cpus(cpus: str | None) -> list[str]:
    """A command prefix that runs it, and every process and thread it starts, on these CPUs only
    ("0", "1", "0,1"; None: anywhere), with util-linux's taskset."""
    return ["taskset", "-c", cpus] if cpus else []


def process_cpu(pid: int, reaped: bool = False) -> tuple[float, float]:
    """(user, kernel) CPU seconds of a process and all its threads so far, from /proc (0, 0 when it
    is gone); with `reaped`, plus its children's that have ended (a PostgreSQL backend that ends
    during a measurement counts there, through the postmaster)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    user, kernel = int(fields[11]), int(fields[12])
    if reaped:
        user, kernel = user + int(fields[13]), kernel + int(fields[14])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, kernel / tick


def postgres_cpu_seconds() -> float:
    """Every PostgreSQL server process on the machine, ended backends included (so run on an
    otherwise quiet machine): its backends do the trail's share of the work."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
            except OSError:
                continue
            total += sum(process_cpu(int(entry.name), reaped=True))
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str = "/healthz", timeout: float = 60, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout} s")


def base_config() -> Path:
    """The gunicorn settings every server of a run starts from: gunicorn.conf.py, or the file
    BENCH_GUNICORN_CONF names (benchmarks/gunicorn_sync.conf.py: the sync workers compared)."""
    return Path(os.environ.get("BENCH_GUNICORN_CONF") or ROOT / "gunicorn.conf.py").resolve()


class Gunicorn:
    """gunicorn with the repository's gunicorn.conf.py, bound to 127.0.0.1:<free port>."""

    def __init__(self, app: str, env: dict[str, str], log_path: Path, pythonpath: Path | None = None,
                 config: Path | None = None, cpus: str | None = None):
        self.port = free_port()
        self.log_path = log_path
        config = config or (BENCH / "gunicorn_postfork.conf.py" if POST_FORK_DISPOSE else base_config())
        cmd = [*on_cpus(cpus), str(VENV_BIN / "gunicorn"), "--config", str(config),
               "--bind", f"127.0.0.1:{self.port}"]
        if pythonpath is not None:
            cmd += ["--pythonpath", str(pythonpath)]
        cmd.append(app)
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(self.port, proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"gunicorn {app} did not start; log: {log_path}:\n{log_path.read_text()[-3000:]}")
        # The first worker answers before the others are forked: wait until every worker is up.
        seen, stable_since, deadline = -1, time.monotonic(), time.monotonic() + 15
        while time.monotonic() < deadline and time.monotonic() - stable_since < 1.0:
            count = len(self.worker_rss_kib())
            if count != seen:
                seen, stable_since = count, time.monotonic()
            time.sleep(0.1)

    def worker_rss_kib(self) -> dict[int, int]:
        """VmRSS of each worker process (the arbiter's children), by pid."""
        out = {}
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return out
        for pid in map(int, children):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[pid] = int(line.split()[1])
            except OSError:
                pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the arbiter stops its workers
            try:
                self.proc.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def service_env(database_url: str, rules_dir: Path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "SEPARATION_GUARD_DEV_KEY": BENCH_KEY,
            "SEPARATION_GUARD_RULES_DIR": str(rules_dir), "PYTHONUNBUFFERED": "1"}


class Service(Gunicorn):
    """The service as `make run` starts it: gunicorn and `separation-guard worker` beside it, which
    seals the trail (web processes then leave sealing to it: service/flows/sealing.py). BENCH_WORKER=0
    leaves the worker out (each web process then seals in a thread, as under gunicorn alone)."""

    def __init__(self, database_url: str, rules_dir: Path, log_path: Path, config: Path | None = None,
                 cpus: str | None = None, worker_cpus: str | None = None):
        env = service_env(database_url, rules_dir)
        super().__init__("wsgi:app", env, log_path, config=config, cpus=cpus)
        self.worker = None
        if os.environ.get("BENCH_WORKER", "1") != "0":
            self.worker = subprocess.Popen([*on_cpus(worker_cpus), str(VENV_BIN / "separation-guard"), "worker"], cwd=ROOT,
                                           env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
                                           start_new_session=True)

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=35)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        super().stop()


def start_service(database_url: str, rules_dir: Path, log_path: Path, config: Path | None = None,
                  cpus: str | None = None, worker_cpus: str | None = None) -> Service:
    return Service(database_url, rules_dir, log_path, config=config, cpus=cpus, worker_cpus=worker_cpus)


def start_echo(log_path: Path, config: Path | None = None) -> Gunicorn:
    return Gunicorn("echo_app:app", {}, log_path, pythonpath=BENCH, config=config)


# --- PostgreSQL: a database of our own (sg_bench), a fresh schema per run ----------------------

class PostgresSchema:
    """A schema in the sg_bench database (created if absent); dropped on exit."""

    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        self.admin_url = admin_url
        url = make_url(admin_url)
        server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": url.database}) is None:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
        server.dispose()
        self.schema = f"bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._engine = create_engine(admin_url, pool_pre_ping=True)  # survives a restart of the server
        with self._engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        separator = "&" if "?" in admin_url else "?"
        self.url = f"{admin_url}{separator}options=-csearch_path%3D{self.schema}"

    def scalar(self, sql: str):
        from sqlalchemy import text
        with self._engine.connect() as conn:
            conn.execute(text(f'SET search_path TO "{self.schema}"'))
            return conn.scalar(text(sql))

    def drop(self) -> None:
        from sqlalchemy import text
        self._engine.dispose()  # connections from before a restart of the server are dead
        with self._engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self._engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.drop()


class PrivateCluster:
    """A throw-away PostgreSQL server (initdb in a temporary directory, run as the postgres user, on a
    free loopback port): the load test can stop it without stopping the machine's shared server."""

    def __init__(self, cpus: str | None = None):
        self.cpus = cpus
        version = sorted(os.listdir("/usr/lib/postgresql"))[-1]
        self.bin = Path("/usr/lib/postgresql") / version / "bin"
        self.dir = Path(tempfile.mkdtemp(prefix="sg_pg_"))
        os.chmod(self.dir, 0o777)
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                           "--no-sync"], timeout=120)
        self.start()
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/sg_bench"

    def _as_postgres(self, cmd: list[str], timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + cmd, check=True, timeout=timeout, capture_output=True)

    def start(self) -> None:
        self._as_postgres([*on_cpus(self.cpus), str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                           "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"])

    def stop(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the client --------------------------------------------------------------------------------

@dataclass
class Sample:
    started: float      # time.time() when the request was sent
    seconds: float      # latency
    status: int         # HTTP status, 0 for a connection error
    verdict: str | None = None


@dataclass
class ClientSpec:
    port: int
    path: str
    bodies: list[dict]
    headers: dict[str, str]
    count: int              # at most this many requests
    deadline: float         # and not past this time.time()
    start_at: float = 0.0   # all clients begin together
    offset: int = 0         # where in `bodies` this client starts
    keep_verdict: bool = False
    timeout: float = 35.0


@dataclass
class RunResult:
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.status == 200]

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for s in self.samples:
            out[s.status] = out.get(s.status, 0) + 1
        return dict(sorted(out.items()))


def run_client(spec: ClientSpec) -> list[Sample]:
    """One client: one http.client connection, requests one after another (it reconnects when the
    server closes: gunicorn's sync workers answer `Connection: close`)."""
    payloads = [json.dumps(b).encode() for b in spec.bodies]
    headers = {"Content-Type": "application/json", **spec.headers}
    conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=spec.timeout)
    samples: list[Sample] = []
    while time.time() < spec.start_at:
        time.sleep(0.001)
    for i in range(spec.count):
        if time.time() >= spec.deadline:
            break
        payload = payloads[(spec.offset + i) % len(payloads)]
        wall, t = time.time(), time.perf_counter()
        verdict = None
        try:
            conn.request("POST", spec.path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
            if spec.keep_verdict and status == 200:
                verdict = json.loads(data).get("verdict")
            if response.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=spec.timeout)
        samples.append(Sample(wall, time.perf_counter() - t, status, verdict))
    conn.close()
    return samples


def run_clients(port: int | list[int], path: str, bodies: list[dict], headers: dict[str, str], clients: int,
                count: int, seconds: float, keep_verdict: bool = False) -> RunResult:
    """`clients` client processes (not threads: a GIL-bound client would be the bottleneck) sharing
    `count` requests, all stopped after `seconds`. Several ports (several gunicorn masters, standing
    in for hosts): the clients take them in turn."""
    ports = port if isinstance(port, list) else [port]
    port = ports[0]
    if clients == 1:
        start = time.time()
        samples = run_client(ClientSpec(port, path, bodies, headers, count, start + seconds,
                                        keep_verdict=keep_verdict))
        return RunResult(samples, time.time() - start)
    start = time.time() + 2.0  # spawned clients need a moment to import
    specs = [ClientSpec(ports[i % len(ports)], path, bodies, headers, -(-count // clients), start + seconds, start,
                        offset=i * 7, keep_verdict=keep_verdict) for i in range(clients)]
    # spawn, not fork: the load test runs clients from a thread while the main thread stops PostgreSQL.
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        parts = pool.map(run_client, specs)
    samples = sorted((s for part in parts for s in part), key=lambda s: s.started)
    first = min((s.started for s in samples), default=start)
    wall = max((s.started + s.seconds for s in samples), default=first) - first
    return RunResult(samples, wall)


def use_post_fork_dispose(on: bool) -> None:
    global POST_FORK_DISPOSE
    POST_FORK_DISPOSE = POST_FORK_DISPOSE or on


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {BENCH_KEY}"}
