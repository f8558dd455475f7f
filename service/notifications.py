"""The notification outbox: written in the same transaction as what caused it; delivered by a
signed webhook with retries and a dead-letter state, and readable by polling."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.models import Notification

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Separation-Guard-Signature"


def notify(session: Session, *, kind: str, now: dt.datetime, recipient_role: str, recipient_id: str | None,
           payload: dict, dedupe_key: str, case_id: str | None = None,
           employee_id: str | None = None) -> Notification | None:
    """Queue one notification unless one with the same dedupe key exists (then None)."""
    notification = Notification(id=str(uuid.uuid4()), created_at=now, kind=kind, case_id=case_id,
                                employee_id=employee_id, recipient_role=recipient_role,
                                recipient_id=recipient_id, payload=payload, dedupe_key=dedupe_key,
                                status="pending", attempts=0, next_attempt_at=now)
    try:
        with session.begin_nested():
            session.add(notification)
            session.flush()
    except IntegrityError:
        return None  # already notified: once per step and deadline
    return notification


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: bytes
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    timeout_seconds: float = 5.0

    def delay_after(self, attempts: int) -> dt.timedelta:
        """Exponential backoff: 30 s, 60 s, 120 s, ... after the 1st, 2nd, 3rd failure."""
        return dt.timedelta(seconds=self.backoff_seconds * 2 ** (attempts - 1))


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def delivery_body(notification: Notification) -> bytes:
    return json.dumps({"id": notification.id, "kind": notification.kind, "case_id": notification.case_id,
                       "employee_id": notification.employee_id,
                       "recipient": {"role": notification.recipient_role, "id": notification.recipient_id},
                       "created_at": _utc(notification.created_at).isoformat(),
                       "payload": notification.payload},
                      ensure_ascii=False, sort_keys=True).encode()


def post_webhook(settings: WebhookSettings, notification: Notification) -> None:
    """One delivery attempt; raises on anything but a 2xx answer."""
    body = delivery_body(notification)
    request = urllib.request.Request(settings.url, data=body, method="POST", headers={
        "Content-Type": "application/json", SIGNATURE_HEADER: signature(settings.secret, body),
        "X-Separation-Guard-Delivery": notification.id,
        "X-Separation-Guard-Attempt": str(notification.attempts + 1)})
    with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:  # noqa: S310 (configured URL)
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(settings.url, response.status, "not delivered", response.headers, None)


def deliver_due(sessions: sessionmaker, settings: WebhookSettings, now: dt.datetime,
                send: Callable[[WebhookSettings, Notification], None] = post_webhook,
                batch: int = 100) -> dict:
    """Try every pending notification that is due; returns counts by outcome."""
    counts = {"delivered": 0, "retrying": 0, "dead": 0}
    with sessions() as session, session.begin():
        due = list(session.scalars(select(Notification)
                                   .where(Notification.status == "pending", Notification.next_attempt_at <= now)
                                   .order_by(Notification.next_attempt_at).limit(batch)
                                   .with_for_update(skip_locked=True)))
        for notification in due:
            try:
                send(settings, notification)
            except Exception as exc:  # any failure of the receiver counts as one failed attempt
                notification.attempts += 1
                notification.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if notification.attempts >= settings.max_attempts:
                    notification.status = "dead"
                    counts["dead"] += 1
                    log.warning("notification %s dead after %d attempts", notification.id, notification.attempts)
                else:
                    notification.next_attempt_at = now + settings.delay_after(notification.attempts)
                    counts["retrying"] += 1
            else:
                notification.attempts += 1
                notification.status = "delivered"
                notification.delivered_at = now
                counts["delivered"] += 1
    return counts


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
