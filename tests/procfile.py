"""`make run` for the tests: the Procfile's services started by honcho with the Makefile's own
command line, in a process group of their own, and stopped group and all however the test ends.
Used by tests/test_make_run.py and tests/test_readme_make_run.py."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from service import PROJECT_ROOT

HONCHO = Path(sys.prefix) / "bin" / "honcho"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def procfile_running(port: int, env: dict, log: Path):
    """The Popen of `honcho start -f Procfile -p PORT`, its output in `log`; `env` gets this
    checkout's code on PYTHONPATH, whichever checkout the virtualenv was installed from."""
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))}
    with log.open("w") as output:
        run = subprocess.Popen([str(HONCHO), "start", "-f", "Procfile", "-p", str(port)], cwd=PROJECT_ROOT,
                               env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield run
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)


def readyz(port: int, deadline: float) -> bytes:
    """/readyz once gunicorn answers (the worker may have been quicker)."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as ready:
                return ready.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
