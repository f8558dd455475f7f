"""The outbox: webhook delivery with an HMAC signature, retries with backoff, dead letters."""
import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from service.clock import utcnow
from service.notifications import SIGNATURE_HEADER, WebhookSettings, deliver_due, notify

SECRET = b"test-webhook-secret"


class Receiver:
    """A webhook receiver on 127.0.0.1 that fails the first `failures` deliveries."""

    def __init__(self, failures: int):
        self.failures = failures
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                ok = len(receiver.received) > receiver.failures
                self.send_response(200 if ok else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _queue_one(app) -> str:
    with app.extensions["db_sessions"]() as session, session.begin():
        note = notify(session, kind="status_changed", now=utcnow(), recipient_role="hr", recipient_id="HR7",
                      payload={"case_id": "C1", "to_status": "withdrawn"}, dedupe_key="status:C1:4",
                      case_id="C1", employee_id="E1")
        return note.id


def _status(client, note_id):
    notes = client.get("/v1/notifications?case_id=C1").get_json()["notifications"]
    return next(n for n in notes if n["id"] == note_id)


def test_a_receiver_failing_twice_gets_the_notification_on_the_third_try_signed(app, client):
    note_id = _queue_one(app)
    now = utcnow()
    with Receiver(failures=2) as receiver:
        settings = WebhookSettings(url=receiver.url, secret=SECRET, max_attempts=5, backoff_seconds=30)
        sessions = app.extensions["db_sessions"]
        assert deliver_due(sessions, settings, now)["retrying"] == 1
        # Not due again until the backoff has passed.
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=29)) == {"delivered": 0, "retrying": 0, "dead": 0}
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=30))["retrying"] == 1
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=89)) == {"delivered": 0, "retrying": 0, "dead": 0}
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=90))["delivered"] == 1
    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert headers["X-Separation-Guard-Attempt"] == "3"
    assert json.loads(body)["payload"]["to_status"] == "withdrawn"
    state = _status(client, note_id)
    assert state["status"] == "delivered" and state["attempts"] == 3


def test_a_receiver_that_always_fails_ends_in_the_dead_letter_state(app, client):
    note_id = _queue_one(app)
    with Receiver(failures=10**6) as receiver:
        settings = WebhookSettings(url=receiver.url, secret=SECRET, max_attempts=4, backoff_seconds=1)
        now = utcnow()
        outcomes = [deliver_due(app.extensions["db_sessions"], settings, now + dt.timedelta(hours=i))
                    for i in range(6)]
    assert [o["dead"] for o in outcomes] == [0, 0, 0, 1, 0, 0]
    assert len(receiver.received) == 4
    state = _status(client, note_id)
    assert state["status"] == "dead" and state["attempts"] == 4 and "503" in state["last_error"]


def test_notifications_are_deduplicated(app):
    _queue_one(app)
    with app.extensions["db_sessions"]() as session, session.begin():
        again = notify(session, kind="status_changed", now=utcnow(), recipient_role="hr", recipient_id="HR7",
                       payload={}, dedupe_key="status:C1:4")
    assert again is None


def test_the_deliver_command_needs_a_webhook_url(app):
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert result.exit_code != 0 and "WEBHOOK_URL" in result.output
