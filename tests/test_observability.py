"""The JSON log line: what it carries, and that an exception is named without its message."""
from __future__ import annotations

import json
import logging
import sys

from service.http.observability import JsonFormatter


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("separation_guard.request", logging.ERROR, __file__, 1, "request", None, None)
    record.__dict__.update(extra)
    return record


def test_a_request_line_is_one_json_object_with_its_fields():
    line = json.loads(JsonFormatter().format(_record(request_id="r1", method="POST", path="/v1/checks",
                                                     status=200, duration_ms=1.5, client="ehr")))
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "status", "client")} == {
        "level": "ERROR", "logger": "separation_guard.request", "message": "request", "request_id": "r1",
        "status": 200, "client": "ehr"}
    assert line["time"][:2] == "20" and "T" in line["time"]


def test_an_exception_is_named_by_type_and_place_never_by_its_message():
    try:
        raise ValueError("employee E1 is pregnant")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    text = JsonFormatter().format(record)
    line = json.loads(text)
    assert line["exception"] == "ValueError" and line["at"].rsplit(":", 1)[0].endswith("test_observability.py")
    assert "pregnant" not in text and "Traceback" not in text


def test_the_worker_logs_each_app_line_once_as_json(tmp_path):
    # The worker creates its app before it configures logging, and Flask has then given the app's
    # logger a plain-text handler of its own: each reload line came out twice.
    import subprocess

    script = (
        "from service import create_app\n"
        "from service.http.observability import configure_json_logging\n"
        f"app = create_app({{'DATABASE_URL': 'sqlite:///{tmp_path / 'log.sqlite'}'}})\n"
        "configure_json_logging(app)\n"
        "app.logger.info('rules reloaded')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "rules reloaded" in line]
    assert len(lines) == 1, done.stderr
    assert json.loads(lines[0])["message"] == "rules reloaded"
