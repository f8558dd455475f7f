"""The README against a real `make run`: the Procfile's web service and worker, started by honcho
as the Makefile does, on a free port with a database and keys of their own; then the README's
first check and every walkthrough command, run by bash and curl as written (the port put in), each
answer compared with the one pasted in the README, as tests/test_readme_walkthrough.py compares
them in-process. The worker and the sealer run meanwhile, as they do for a reader."""
import base64
import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.test_readme_walkthrough import DEV_KEY, first_check, problems, replay_with_curl, steps
from tests.procfile import HONCHO, free_port, procfile_running, readyz

STARTUP_SECONDS = 90
SEALED_WITHIN_SECONDS = 30


def _own_keys(folder: Path) -> dict:
    """A trail signing key and a re-check key of the run's own, so nothing is read from or left in
    the checkout's instance/ folder."""
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    (folder / "trail_signing_key.pem").write_bytes(pem)
    return {"SEPARATION_GUARD_TRAIL_SIGNING_KEY": str(folder / "trail_signing_key.pem"),
            "SEPARATION_GUARD_RECHECK_KEY": base64.b64encode(os.urandom(32)).decode(),
            # The witness's own storage: this run's, not a previous run's memory of another tree.
            "SEPARATION_GUARD_WITNESS_DATABASE_URL": f"sqlite:///{folder / 'witness.sqlite'}"}


def _verify(port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/trail/verify",
                                     headers={"Authorization": f"Bearer {DEV_KEY}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture
def make_run(tmp_path):
    """The base URL of the Procfile's services, started by honcho; stopped, group and all, after."""
    if not HONCHO.exists() or not (Path(sys.prefix) / "bin" / "gunicorn").exists():
        pytest.skip("honcho and gunicorn are installed by `pip install -e .`")
    if not shutil.which("curl"):
        pytest.skip("the README's commands are curl commands")
    port = free_port()
    env = {**os.environ, **_own_keys(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'readme.sqlite'}",
           "VENV": sys.prefix, "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "SEPARATION_GUARD_DEV_KEY": DEV_KEY}
    for name in ("SEPARATION_GUARD_WEBHOOK_URL", "SEPARATION_GUARD_ENV"):
        env.pop(name, None)
    log = tmp_path / "honcho.log"
    with procfile_running(port, env, log) as run:
        try:
            readyz(port, deadline=time.monotonic() + STARTUP_SECONDS)
        except OSError:
            pytest.fail(f"make run did not answer within {STARTUP_SECONDS} s: {log.read_text()}")
        yield port, run, log


def test_the_readme_runs_as_written_against_make_run(make_run):
    port, run, log = make_run
    found = [first_check(), *steps()]
    answers = replay_with_curl(found, f"http://127.0.0.1:{port}")
    assert run.poll() is None, log.read_text()
    wrong = {f"{step.method} {step.path}": problems(step, status, live, first=i == 0)
             for i, (step, (status, live)) in enumerate(zip(found, answers))}
    assert {command: found for command, found in wrong.items() if found} == {}
    # The last command verifies the trail; the README says the sealer seals what was recorded
    # within about a second: here, every entry is sealed well within half a minute.
    assert found[-1].path == "/v1/trail/verify" and answers[-1][1]["ok"] is True
    deadline = time.monotonic() + SEALED_WITHIN_SECONDS
    while (verified := _verify(port))["pending"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert verified["ok"] and verified["pending"] == 0 and verified["sealed"] == verified["entries"], verified
