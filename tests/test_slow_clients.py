"""Against a real gunicorn started with gunicorn.conf.py (issue 21): slow clients do not stall the
service, and what only a real server passes on (a chunked body) is refused in the error shape.

With the sync workers the service had before, six sockets sending their headers a byte at a
time held every worker, and /healthz timed out; gthread workers give each a thread.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service import PROJECT_ROOT
from tests.conftest import check_body

GUNICORN = Path(sys.prefix) / "bin" / "gunicorn"
KEY = "sg_slow-client-test-key"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not GUNICORN.exists():
        pytest.skip("gunicorn is installed by `pip install -e .`")
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "GUNICORN_THREADS"}, "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('slow') / 'sg.sqlite'}",
           "SEPARATION_GUARD_DEV_KEY": KEY, "SEPARATION_GUARD_RULES_WATCH_SECONDS": "0", "WEB_CONCURRENCY": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.Popen([str(GUNICORN), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                           cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or run.poll() is not None:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.5)
        yield port
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=30)


def test_slow_clients_do_not_stall_the_service(server):
    slow = []
    try:
        for _ in range(6):  # more than the 2 workers, as six were more than the 4 sync workers
            sock = socket.create_connection(("127.0.0.1", server))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
            slow.append(sock)
        time.sleep(1)
        for sock in slow:
            sock.sendall(b"X")  # still sending headers
        started = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{server}/healthz", timeout=5) as answer:
            assert answer.status == 200
        request = urllib.request.Request(f"http://127.0.0.1:{server}/v1/checks", data=json.dumps(check_body()).encode(),
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["verdict"] == "deny"
        assert time.monotonic() - started < 5
    finally:
        for sock in slow:
            sock.close()


def _chunked(port: int, chunks: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v1/checks HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n" + chunks)
        sock.shutdown(socket.SHUT_WR)
        raw = b""
        while data := sock.recv(65536):
            raw += data
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("chunks, reason", [
    (b"zz\r\n{}\r\n0\r\n\r\n", "InvalidChunkSize"),
    (b"2\r\n{}XX0\r\n\r\n", "ChunkMissingTerminator"),
    (b"10\r\n{}", "NoMoreData"),
])
def test_a_malformed_chunked_body_is_400_naming_the_body(server, chunks, reason):
    status, body = _chunked(server, chunks)
    assert status == 400 and body["errors"] == [{"path": "(body)", "reason": f"is not a well-formed chunked body ({reason})"}]


def test_a_chunked_body_over_the_limit_is_413_and_one_within_it_is_read_whole(server):
    chunk = b" " * 65536
    status, body = _chunked(server, b"".join(b"10000\r\n" + chunk + b"\r\n" for _ in range(5)) + b"0\r\n\r\n")
    assert status == 413 and body["errors"][0]["path"] == "(body)" and "256 KiB" in body["message"]
    check = json.dumps(check_body()).encode()
    status, body = _chunked(server, b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (check[:100], check[100:]))
                            + b"0\r\n\r\n")
    assert status == 200 and body["verdict"] == "deny"
