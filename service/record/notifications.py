"""The notification outbox: written in the same transaction as what caused it; delivered as a
Standard Webhook (https://www.standardwebhooks.com: webhook-id, webhook-timestamp and a
webhook-signature over both and the body, so a receiver can refuse a replay), with retries,
exponential backoff and a dead-letter state; and readable by polling.

Delivery never holds a lock while it waits on a receiver: a pass claims due rows and commits,
sends with no transaction open, then records each outcome in a short transaction of its own.
A claim is a lease (the row is `sending` until `next_attempt_at`); a worker that dies
mid-send leaves a row another pass takes again once the lease has run out.

Each notification goes to its tenant's webhook (WebhookRoutes: a company's pack may name its own,
docs/webhooks.md "Per company"). Companies share the deliveries fairly: a pass claims at most
`per_tenant` rows of each tenant per round, sends them round-robin by tenant, and after one failure
of an endpoint sends it nothing more in that pass, so a dead or slow receiver costs the others one
attempt's wait at most; rounds go on while rows are due, within a time budget.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Mapping

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from service.clock import utcnow
from service.decide.names import Names
from service.record.ids import new_id
from service.record.models import Notification

log = logging.getLogger(__name__)

EVENT_TYPE_PREFIX = "separation."


def notify(session: Session, *, kind: str, now: dt.datetime, recipient_role: str, recipient_id: str | None,
           payload: dict, dedupe_key: str, tenant_id: str, case_id: str | None = None,
           employee_id: str | None = None) -> Notification | None:
    """Queue one notification of the tenant unless it has one with the same dedupe key (then None)."""
    notification = Notification(id=new_id(), tenant_id=tenant_id, created_at=now, kind=kind, case_id=case_id,
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


# ---- texts: bilingual, codes named in words ---------------------------------------------------

def status_change_message(names: Names, case_id: str, before: str, after: str) -> dict:
    label = names.label
    return {"zh": f"离职案件 {case_id} 的状态由“{label('status', before, 'zh')}”变为“{label('status', after, 'zh')}”。",
            "en": f"Separation case {case_id} moved from “{label('status', before, 'en')}” "
                  f"to “{label('status', after, 'en')}”."}


def refusal_message(names: Names, case_id: str, event_type: str) -> dict:
    label = names.label
    return {"zh": f"离职案件 {case_id} 的事件“{label('event_type', event_type, 'zh')}”被规则拒绝，拒绝已记录。",
            "en": f"The event “{label('event_type', event_type, 'en')}” on separation case {case_id} "
                  f"was refused by the rules; the refusal is recorded."}


def recheck_message(names: Names, case_id: str, step: str, before: str | None, after: str, status: str) -> dict:
    label = names.label
    was_zh = f"由“{label('verdict', before, 'zh')}”" if before else ""
    was_en = f" from “{label('verdict', before, 'en')}”" if before else ""
    return {"zh": f"每日复核：离职案件 {case_id}（{label('status', status, 'zh')}）的下一步"
                  f"“{label('action_type', step, 'zh')}”今日的结论{was_zh}变为“{label('verdict', after, 'zh')}”。",
            "en": f"Daily re-check: the next step of separation case {case_id} "
                  f"({label('status', status, 'en')}), “{label('action_type', step, 'en')}”, "
                  f"is now “{label('verdict', after, 'en')}”{was_en}."}


# ---- delivery -------------------------------------------------------------------------------

def webhook_signer(secret: str, name: str = "WEBHOOK_SECRET") -> Webhook:
    """The Standard Webhooks signer of a `whsec_...` secret; ValueError naming what is wrong (and
    the secret's `name`, never its value)."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ValueError(f"{name} must be a Standard Webhooks secret: whsec_ followed by base64")
    try:
        signer = Webhook(secret)
    except Exception as exc:  # binascii.Error, EmptyWebhookSecretError
        raise ValueError(f"{name} is not whsec_ + base64: {exc}") from exc
    if len(signer._whsecret) < 24:
        raise ValueError(f"{name} is too short: use at least 24 random bytes")
    return signer


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str = field(repr=False)  # a settings object in a log or traceback shows no secret
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    timeout_seconds: float = 5.0

    def delay_after(self, attempts: int) -> dt.timedelta:
        """Exponential backoff: 30 s, 60 s, 120 s, ... after the 1st, 2nd, 3rd failure."""
        return dt.timedelta(seconds=self.backoff_seconds * 2 ** (attempts - 1))

    @property
    def lease(self) -> dt.timedelta:
        """How long a claimed row is ours: longer than one send can take."""
        return dt.timedelta(seconds=max(60.0, 4 * self.timeout_seconds))


@dataclass(frozen=True)
class WebhookRoutes:
    """Where each tenant's notifications go. `packs`: the tenants whose pack names a webhook, each to
    its settings, or (a str) why it cannot be signed, which names the secret's variable only.
    `default`: WEBHOOK_URL, for every other tenant (None: those are only polled). `held`: tenants
    whose notifications wait unclaimed (a pack refused at start-up: its webhook is not known)."""
    default: WebhookSettings | None
    packs: Mapping[str, WebhookSettings | str] = field(default_factory=dict)
    held: frozenset[str] = frozenset()
    max_attempts: int = 5
    backoff_seconds: float = 30.0

    def route(self, tenant: str) -> WebhookSettings | str | None:
        return self.packs.get(tenant, self.default)

    def delay_after(self, attempts: int) -> dt.timedelta:
        """Exponential backoff: 30 s, 60 s, 120 s, ... after the 1st, 2nd, 3rd failure."""
        return dt.timedelta(seconds=self.backoff_seconds * 2 ** (attempts - 1))

    @property
    def lease(self) -> dt.timedelta:
        timeouts = [s.timeout_seconds for s in (self.default, *self.packs.values()) if isinstance(s, WebhookSettings)]
        return dt.timedelta(seconds=max(60.0, 4 * max(timeouts, default=5.0)))


def routes_of(settings: WebhookSettings) -> WebhookRoutes:
    """One webhook for every tenant (a deployment without pack webhooks)."""
    return WebhookRoutes(default=settings, max_attempts=settings.max_attempts,
                         backoff_seconds=settings.backoff_seconds)


def delivery_body(notification: Notification) -> bytes:
    """The Standard Webhooks payload shape: type, timestamp, data (with the tenant, so one receiver
    serving several companies tells them apart)."""
    return json.dumps({"type": EVENT_TYPE_PREFIX + notification.kind,
                       "timestamp": _utc(notification.created_at).isoformat(),
                       "data": {"id": notification.id, "tenant": notification.tenant_id,
                                "kind": notification.kind, "case_id": notification.case_id,
                                "employee_id": notification.employee_id,
                                "recipient": {"role": notification.recipient_role, "id": notification.recipient_id},
                                "created_at": _utc(notification.created_at).isoformat(),
                                "payload": notification.payload}},
                      ensure_ascii=False, sort_keys=True).encode()


def signed_headers(secret: str, message_id: str, sent_at: dt.datetime, body: bytes) -> dict[str, str]:
    signature = webhook_signer(secret).sign(msg_id=message_id, timestamp=sent_at, data=body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature}


def post_webhook(settings: WebhookSettings, notification: Notification) -> None:
    """One delivery attempt; raises on anything but a 2xx answer. The webhook-id is the
    notification's id on every attempt, so a receiver can drop a repeat."""
    body = delivery_body(notification)
    headers = {"Content-Type": "application/json",
               **signed_headers(settings.secret, notification.id, utcnow(), body)}
    request = urllib.request.Request(settings.url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:  # noqa: S310 (configured URL)
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(settings.url, response.status, "not delivered", response.headers, None)


def deliver_due(sessions: sessionmaker, routes: WebhookRoutes | WebhookSettings, now: dt.datetime,
                send: Callable[[WebhookSettings, Notification], None] = post_webhook,
                batch: int = 100, per_tenant: int = 10, budget_seconds: float = 10.0) -> dict:
    """Try the notifications that are due, in rounds of at most `per_tenant` of each tenant, new
    rounds until nothing more is due or `budget_seconds` have passed; counts by outcome.
    `deferred`: not tried in this pass because their endpoint had just failed (no attempt counted)."""
    if isinstance(routes, WebhookSettings):
        routes = routes_of(routes)
    counts = {"delivered": 0, "retrying": 0, "dead": 0, "deferred": 0}
    failed: set[str] = set()      # endpoints that failed in this pass
    resting: set[str] = set()     # tenants not claimed again in this pass: their endpoint failed
    started = time.monotonic()
    while True:
        claimed = _claim(sessions, now, routes, batch, per_tenant, resting)
        for notification in claimed:
            tenant, settings = notification.tenant_id, routes.route(notification.tenant_id)
            if isinstance(settings, str):
                error = settings
                if tenant not in resting:  # the variable's name, never a value
                    log.warning("tenant %s: notifications not sent: %s", tenant, error)
            elif settings.url in failed:
                _defer(sessions, routes, notification, now)
                counts["deferred"] += 1
                resting.add(tenant)
                continue
            else:
                try:
                    send(settings, notification)
                    error = None
                except Exception as exc:  # any failure of the receiver counts as one failed attempt
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    failed.add(settings.url)
            if error is not None:
                resting.add(tenant)
            counts[_record_outcome(sessions, routes, notification, now, error)] += 1
        if not claimed or time.monotonic() - started >= budget_seconds:
            return counts


def _claim(sessions: sessionmaker, now: dt.datetime, routes: WebhookRoutes, batch: int,
           per_tenant: int, resting: set[str]) -> list[Notification]:
    """Take the due rows (and rows whose claim has lapsed) and commit: no lock outlives this. At most
    `per_tenant` of each tenant, in round-robin order: every tenant's first, then every second..."""
    due = [or_(Notification.status == "pending", Notification.status == "sending"),
           Notification.next_attempt_at <= now]
    if routes.default is None:
        due.append(Notification.tenant_id.in_(list(routes.packs)))
    if routes.held or resting:
        due.append(Notification.tenant_id.not_in(sorted(routes.held | resting)))
    turn = func.row_number().over(partition_by=Notification.tenant_id,
                                  order_by=(Notification.next_attempt_at, Notification.id)).label("turn")
    ranked = select(Notification.id, Notification.next_attempt_at, turn).where(*due).subquery()
    with sessions() as session, session.begin():
        order = list(session.execute(
            select(ranked.c.id).where(ranked.c.turn <= per_tenant)
            .order_by(ranked.c.turn, ranked.c.next_attempt_at, ranked.c.id).limit(batch)).scalars())
        # Locked in a second statement: PostgreSQL locks no rows of a window function's query.
        taken = {n.id: n for n in session.scalars(
            select(Notification).where(Notification.id.in_(order), *due).with_for_update(skip_locked=True))}
        claimed = [taken[i] for i in order if i in taken]
        for notification in claimed:
            notification.status = "sending"
            notification.attempts += 1
            notification.next_attempt_at = now + routes.lease
        session.flush()
        session.expunge_all()
    return claimed


def _defer(sessions: sessionmaker, routes: WebhookRoutes, notification: Notification, now: dt.datetime) -> None:
    """Back to pending without an attempt, due when its endpoint is next tried."""
    with sessions() as session, session.begin():
        session.execute(update(Notification)
                        .where(Notification.id == notification.id, Notification.status == "sending",
                               Notification.attempts == notification.attempts)
                        .values(status="pending", attempts=notification.attempts - 1,
                                next_attempt_at=now + routes.delay_after(max(1, notification.attempts - 1))))


def _record_outcome(sessions: sessionmaker, routes: WebhookRoutes, notification: Notification,
                    now: dt.datetime, error: str | None) -> str:
    attempts = notification.attempts
    if error is None:
        values, outcome = {"status": "delivered", "delivered_at": now, "last_error": None}, "delivered"
    elif attempts >= routes.max_attempts:
        values, outcome = {"status": "dead", "last_error": error}, "dead"
        log.warning("notification %s dead after %d attempts", notification.id, attempts)
    else:
        values = {"status": "pending", "last_error": error, "next_attempt_at": now + routes.delay_after(attempts)}
        outcome = "retrying"
    with sessions() as session, session.begin():
        # Only our own claim: if it lapsed and another pass took the row, that pass records it.
        session.execute(update(Notification)
                        .where(Notification.id == notification.id, Notification.status == "sending",
                               Notification.attempts == attempts)
                        .values(**values))
    return outcome


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
