"""The outbox: Standard Webhooks delivery, retries with backoff, dead letters, no lock held
while a receiver is called."""
import base64
import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.clock import utcnow
from service.record.models import Notification
from service.record.notifications import WebhookSettings, deliver_due, notify

SECRET = "whsec_" + base64.b64encode(b"test-webhook-secret-of-32-bytes!").decode()


class Receiver:
    """A webhook receiver on 127.0.0.1 that fails the first `failures` deliveries."""

    def __init__(self, failures: int, on_receive=None):
        self.failures = failures
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if on_receive is not None:
                    on_receive()
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
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
                      case_id="C1", employee_id="E1", tenant_id="default")
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
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=29)) == {"delivered": 0, "retrying": 0, "dead": 0, "deferred": 0}
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=30))["retrying"] == 1
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=89)) == {"delivered": 0, "retrying": 0, "dead": 0, "deferred": 0}
        assert deliver_due(sessions, settings, now + dt.timedelta(seconds=90))["delivered"] == 1
    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    # The receiver's side, with the Standard Webhooks library itself.
    delivered = Webhook(SECRET).verify(body, headers)
    assert delivered["type"] == "separation.status_changed"
    assert delivered["data"]["payload"]["to_status"] == "withdrawn"
    # One webhook-id on every attempt (the receiver's idempotency key): the notification's id.
    assert {h["webhook-id"] for h, _ in receiver.received} == {note_id}
    assert abs(int(headers["webhook-timestamp"]) - utcnow().timestamp()) < 60
    state = _status(client, note_id)
    assert state["status"] == "delivered" and state["attempts"] == 3


def test_a_forged_replayed_or_altered_delivery_fails_verification(app):
    _queue_one(app)
    with Receiver(failures=0) as receiver:
        deliver_due(app.extensions["db_sessions"], WebhookSettings(url=receiver.url, secret=SECRET), utcnow())
    headers, body = receiver.received[0]
    Webhook(SECRET).verify(body, headers)
    other_secret = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-by").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"withdrawn", b"approved"), headers)
    stale = {**headers, "webhook-timestamp": str(int(utcnow().timestamp()) - 3600)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(body, stale)  # a replay an hour later


def test_no_database_lock_is_held_while_the_receiver_is_called(app):
    """While the receiver works, another writer can change the notification row at once."""
    note_id = _queue_one(app)
    sessions = app.extensions["db_sessions"]
    seen = {}

    def meanwhile():
        with sessions() as session, session.begin():
            row = session.get(Notification, note_id)
            seen["status"], seen["attempts"] = row.status, row.attempts
            row.recipient_id = "HR8"  # a write: would wait on a held row lock (or SQLite's write lock)

    with Receiver(failures=0, on_receive=lambda: _within(5, meanwhile)) as receiver:
        counts = deliver_due(sessions, WebhookSettings(url=receiver.url, secret=SECRET), utcnow())
    assert counts["delivered"] == 1
    assert seen == {"status": "sending", "attempts": 1}  # claimed and committed before the send
    with sessions() as session:
        row = session.get(Notification, note_id)
        assert row.status == "delivered" and row.recipient_id == "HR8"


def test_a_claim_whose_worker_died_is_taken_again_after_its_lease(app):
    note_id = _queue_one(app)
    sessions = app.extensions["db_sessions"]
    settings = WebhookSettings(url="http://127.0.0.1:9/none", secret=SECRET)
    now = utcnow()

    def die(settings, notification):
        raise SystemExit("the worker process dies mid-send")

    with pytest.raises(SystemExit):
        deliver_due(sessions, settings, now, send=die)
    with sessions() as session:
        assert session.get(Notification, note_id).status == "sending"
    delivered = []
    assert deliver_due(sessions, settings, now + dt.timedelta(seconds=30), send=lambda s, n: delivered.append(n)) \
        == {"delivered": 0, "retrying": 0, "dead": 0, "deferred": 0}  # still leased
    after = deliver_due(sessions, settings, now + settings.lease, send=lambda s, n: delivered.append(n.id))
    assert after["delivered"] == 1 and delivered == [note_id]


def _within(seconds: float, fn):
    """Run fn in another thread; fail if it has not finished within `seconds` (it was blocked)."""
    errors = []
    thread = threading.Thread(target=lambda: _capture(fn, errors))
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the write waited on a lock held during the send"
    assert not errors, errors


def _capture(fn, errors):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        errors.append(exc)


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
                       payload={}, dedupe_key="status:C1:4", tenant_id="default")
    assert again is None


def test_the_deliver_command_needs_a_webhook_url(app):
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert result.exit_code != 0 and "WEBHOOK_URL" in result.output
