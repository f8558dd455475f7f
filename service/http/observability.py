"""Structured JSON logs with a request id, and the health endpoints.

A log line names the request (method, path, status, duration, request id, client), never its
body: requests carry health facts, and logs are read by more people than the trail.
"""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, current_app, g, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter
from sqlalchemy import text

from service.decide.rulebook import rule_counts

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
request_log = logging.getLogger("separation_guard.request")


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per record (python-json-logger): time, level, logger, message and the
    record's extras (request_id, method, path, status, duration_ms, client). An exception is named
    by its type and where it happened, never by its message or traceback text, which could quote
    request data."""

    def __init__(self) -> None:
        super().__init__("{asctime}{levelname}{name}{message}", style="{", datefmt="%Y-%m-%dT%H:%M:%S%z",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("exc_info", None)
        log_data.pop("stack_info", None)
        if record.exc_info:
            exc_type, _, tb = record.exc_info
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            log_data["exception"] = exc_type.__name__ if exc_type else "Exception"
            if tb is not None:
                log_data["at"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return ""  # never rendered: add_fields names the exception instead


def configure_json_logging(app: Flask | None = None) -> None:
    """For the served process (wsgi.py) and the worker: one JSON line per record on stderr.

    `app`: an app created before this call, whose logger Flask gave its own plain-text handler
    (it does so when no handler is configured yet); without it every app.logger line is printed
    twice, once as text and once as JSON."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if app is not None:
        app.logger.removeHandler(default_handler)
    root.setLevel(logging.INFO)
    # Alembic narrates every start-up ("Context impl ...", "Will assume transactional DDL"), and
    # in every command; service.record.db logs one line of its own when a migration really runs.
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
            # Rules (ids) and rule versions (dated versions), named as the pages and lint name them.
            **rule_counts(rulebook.rules.values() if rulebook else ())}
    # Still ready when an edit of the rules was refused (the previous set answers every check),
    # but degraded: a monitor reading the body sees it; one reading the status code is not paged.
    refused = current_app.extensions.get("candidate_refused") if rulebook is not None else None
    body["degraded"] = refused is not None
    if refused is not None:
        body["candidate_refused"] = refused.as_dict(rulebook.version)
    if database == "ok":
        # Reported, not required: checks are answered whether or not reminders are going out.
        from service.clock import utcnow
        from service.record.worker_state import worker_status
        try:
            with current_app.extensions["db_read_sessions"]() as session:
                body["worker"] = worker_status(session, utcnow())
        except Exception as exc:  # noqa: BLE001 (a schema not yet migrated, say)
            body["worker"] = {"status": f"unknown ({type(exc).__name__})"}
        # Degraded, still 200, when the latest checkpoints wait too long for the witness's
        # cosignature: checks are still answered and recorded, but a cut or a rewrite of what
        # the witness has not seen would go unnoticed (docs/trail-witness-and-keys.md).
        from service.record.witnessing import witness_status
        try:
            body["witness"] = witness_status(current_app._get_current_object())
        except Exception as exc:  # noqa: BLE001
            body["witness"] = {"status": f"unknown ({type(exc).__name__})"}
        body["degraded"] = body["degraded"] or body["witness"]["status"] != "ok" and (
            body["witness"]["status"] != "not configured" or current_app.config["ENV"] == "production")
    return body, 200 if ready else 503
