"""The flask-smorest Api: one JSON error shape for every 4xx and 5xx."""
from __future__ import annotations

import logging

from flask_smorest import Api as _Api
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from schemas.errors import ErrorSchema, flatten_messages

log = logging.getLogger(__name__)


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        super()._register_error_handlers()
        # Anything unexpected is a 500, never an answer: fail closed.
        self._app.register_error_handler(Exception, self.handle_unexpected)

    def handle_http_exception(self, error: HTTPException):
        payload = {"code": error.code, "status": error.name}
        data = getattr(error, "data", None) or {}
        payload["message"] = data.get("message") or error.description
        messages = data.get("errors") or data.get("messages")
        if messages:
            payload["errors"] = [{"path": _strip_location(path), "reason": reason}
                                 for path, reason in flatten_messages(messages)]
            payload["message"] = data.get("message") or "The request is not valid."
        return payload, error.code, data.get("headers", {})

    def handle_unexpected(self, error: Exception):
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        if _database_unavailable(error):
            # The database is down or unreachable (from any query: the API key lookup, a read, the
            # trail): nothing was decided or recorded, so 503 like a decision that could not be
            # recorded, never a 500 that reads as our bug.
            log.exception("database unavailable: %s", type(error).__name__)
            return self.handle_http_exception(ServiceUnavailable(
                "The database is unavailable; nothing was decided or allowed. Retry later."))
        log.exception("unhandled error: %s", type(error).__name__)
        return self.handle_http_exception(InternalServerError())


def _database_unavailable(error: Exception) -> bool:
    """A lost or refused connection, or no pooled connection in time; not a bad query (that stays a 500)."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _strip_location(path: str) -> str:
    # webargs nests messages under where they came from ("json.employee.id").
    if path == "json":
        return "(body)"
    for location in ("json.", "query.", "view_args.", "headers."):
        if path.startswith(location):
            return path[len(location):]
    return path



