"""BENCHMARK ONLY: the run's gunicorn settings plus a timer around each request inside gunicorn.

`bench_cerbos.py --server-timing` starts the service and the bare echo with it, to split the
HTTP overhead (HTTP p50 minus in-process p50) into the time outside the app (gunicorn's poller
and thread hand-off, parsing the request, the loopback, the client) and the time inside gunicorn's
request (from gunicorn's pre_request hook to its post_request hook: the WSGI app and the write of
its answer). Each duration is appended, after it is taken, to $SG_TIMED_PREFIX.<pid>.
"""
import os
import runpy
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = os.environ.get("BENCH_GUNICORN_CONF") or str(ROOT / "gunicorn.conf.py")
globals().update({name: value for name, value in runpy.run_path(BASE).items() if not name.startswith("__")})


def pre_request(worker, req):
    req.sg_started = time.perf_counter()


def post_request(worker, req, environ, resp):
    spent = time.perf_counter() - req.sg_started
    with open(f"{os.environ['SG_TIMED_PREFIX']}.{os.getpid()}", "a") as out:
        out.write(f"{spent * 1000:.4f}\n")
