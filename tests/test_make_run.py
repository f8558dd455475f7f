"""`make run` alone: the Procfile's web service and worker, started by honcho as the Makefile does,
send an overdue step's reminder to the configured webhook without anyone asking; and the witness
started beside them cosigns the trail's checkpoints."""
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.conftest import make_app
from test_notifications import SECRET, Receiver
from tests.procfile import HONCHO, free_port, procfile_running, readyz

def _seed_an_overdue_resignation(url: str) -> None:
    """A resignation submitted ten days ago, never approved (recorded before the service starts)."""
    app = make_app(url)
    try:
        client = app.test_client()
        submitted = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)).replace(microsecond=0)
        answer = client.post("/v1/cases/SEP-RUN-1/events", json={
            "client_key": "run-1", "case": {"kind": "resignation", "hr_owner_id": "HR7", "manager_id": "M3"},
            "employee": {"id": "E1"},
            "event": {"type": "resignation_submitted", "at": submitted.isoformat(),
                      "actor": {"id": "E1", "role": "employee"}, "form": "written"}})
        assert answer.status_code == 201, answer.get_json()
        pending = client.get("/v1/cases/SEP-RUN-1").get_json()["pending"]
        if not pending.get("overdue"):
            pytest.skip(f"the working-day calendar cannot place today's deadline: {pending}")
    finally:
        app.extensions["db_engine"].dispose()


def test_the_procfile_started_by_honcho_sends_the_overdue_reminder_by_itself(tmp_path):
    if not HONCHO.exists() or not (Path(sys.prefix) / "bin" / "gunicorn").exists():
        pytest.skip("honcho and gunicorn are installed by `pip install -e .`")
    url = f"sqlite:///{tmp_path / 'run.sqlite'}"
    _seed_an_overdue_resignation(url)
    port = free_port()
    with Receiver(failures=0) as receiver:
        env = {**os.environ, "DATABASE_URL": url, "VENV": sys.prefix, "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1",
               "SEPARATION_GUARD_DEV_KEY": "sg_dev-local-only", "SEPARATION_GUARD_WEBHOOK_URL": receiver.url,
               "SEPARATION_GUARD_WEBHOOK_SECRET": SECRET,
               # The witness's own storage: this run's, not a previous run's memory of another tree.
               "SEPARATION_GUARD_WITNESS_DATABASE_URL": f"sqlite:///{tmp_path / 'witness.sqlite'}"}
        log = tmp_path / "honcho.log"
        with procfile_running(port, env, log) as run:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(b"step_overdue" in body for _, body in receiver.received):
                assert run.poll() is None, log.read_text()
                time.sleep(0.5)
            reminders = [Webhook(SECRET).verify(body, headers) for headers, body in receiver.received
                         if b"step_overdue" in body]
            assert reminders, f"no reminder within a minute: {log.read_text()}"
            assert reminders[0]["data"]["recipient"] == {"role": "manager", "id": "M3"}
            assert b'"worker":{"status":"ok"' in readyz(port, deadline=time.monotonic() + 60).replace(b" ", b"")
            # The witness beside them has cosigned the trail's checkpoints (the worker sealed them).
            deadline = time.monotonic() + 60
            while (witness := json.loads(readyz(port, deadline))["witness"]).get("latest_cosigned", 0) < 1:
                assert time.monotonic() < deadline, f"{witness}\n{log.read_text()}"
                time.sleep(0.5)
            assert witness["status"] == "ok" and witness["latest_cosigned"] == witness["latest_checkpoint"]
