"""A chunked body, read whole before the app sees it, so its faults are the client's (400, 413).

A body sent with `Transfer-Encoding: chunked` has no Content-Length for werkzeug to refuse up
front. werkzeug then reads such a stream up to MAX_CONTENT_LENGTH and stops there without a
word: a body over the limit reached the JSON parser cut short (a 400 about a broken document, or
a 422 when the cut left valid JSON), where it should be a 413. And the server decodes the
chunks as the app reads: a malformed chunk size or a missing chunk terminator was raised from
deep inside the body parser, a 500.

So the body is read here, at most one byte past the limit, and handed on as an ordinary body
with its Content-Length. A fault is kept in the environ and answered by `refuse_unreadable_body`,
a before_request hook, so the answer has the one error shape and the request its log line.
"""
from __future__ import annotations

import io

from flask import Flask, request
from flask_smorest import abort
from werkzeug.exceptions import RequestEntityTooLarge

FAULT = "separation_guard.body_fault"


class ChunkedBodyReader:
    """WSGI middleware around the Flask app's wsgi_app."""

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app, self.app = wsgi_app, app

    def __call__(self, environ, start_response):
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and environ.get("wsgi.input_terminated"):
            limit = self.app.config.get("MAX_CONTENT_LENGTH")
            try:
                raw = environ["wsgi.input"].read(-1 if limit is None else limit + 1)
            except Exception as exc:  # noqa: BLE001 - whatever the server raises decoding the client's chunks
                environ[FAULT] = (400, f"is not a well-formed chunked body ({type(exc).__name__})")
                raw = b""
            if limit is not None and len(raw) > limit:
                environ[FAULT], raw = (413, None), b""
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
            del environ["HTTP_TRANSFER_ENCODING"]  # werkzeug ignores a Content-Length beside it
        return self.wsgi_app(environ, start_response)


def refuse_unreadable_body():
    fault = request.environ.get(FAULT)
    if fault is None:
        return
    status, reason = fault
    if status == 413:
        raise RequestEntityTooLarge()
    abort(400, message=f"The body {reason}.", errors={"(body)": [reason]})
