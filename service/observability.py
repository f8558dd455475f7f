"""Structured JSON logs with a request id, and the health endpoints.

A log line names the request (method, path, status, duration, request id, client), never its
body: requests carry health facts, and logs are read by more people than the trail.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, current_app, g, request
from sqlalchemy import text

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
request_log = logging.getLogger("separation_guard.request")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                "logger": record.name, "message": record.getMessage()}
        for key in ("request_id", "method", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            # The exception type and where it happened; its message could quote request data.
            exc_type = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            line["exception"] = exc_type
            if tb is not None:
                line["at"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        return json.dumps(line, ensure_ascii=False)


def configure_json_logging() -> None:
    """For the served process (wsgi.py): one JSON line per record on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # Alembic narrates every start-up ("Context impl ...", "Will assume transactional DDL"), and
    # in every command; service.db logs one line of its own when a migration really runs.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)


def _start():
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response):
    request_id = getattr(g, "request_id", None)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = getattr(g, "started", None)
    request_log.info("request", extra={
        "request_id": request_id, "method": request.method, "path": request.path,
        "status": response.status_code, "client": getattr(g, "client_id", None),
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None})
    return response


def healthz():
    """Alive: the process answers."""
    return {"status": "ok"}


def readyz():
    """Ready: the rules are loaded and the database answers; and the background worker's last
    heartbeat, as stored in the database (so any web worker on any host reports the same)."""
    rulebook = current_app.extensions.get("rulebook")
    try:
        with current_app.extensions["db_engine"].connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any failure means not ready; the type is enough to say why
        database = f"unavailable ({type(exc).__name__})"
    ready = rulebook is not None and database == "ok"
    body = {"status": "ready" if ready else "not ready", "database": database,
            "ruleset_version": rulebook.version if rulebook else None,
            "rules": len(rulebook.rules) if rulebook else 0}
    if database == "ok":
        # Reported, not required: checks are answered whether or not reminders are going out.
        from service.worker import worker_status
        try:
            body["worker"] = worker_status(current_app._get_current_object())
        except Exception as exc:  # noqa: BLE001 (a schema not yet migrated, say)
            body["worker"] = {"status": f"unknown ({type(exc).__name__})"}
    return body, 200 if ready else 503
