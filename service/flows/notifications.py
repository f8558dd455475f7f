"""Delivering the notification outbox (Standard Webhooks, with retries: the deliveries themselves
are service/record/notifications.py): each tenant's notifications to its pack's webhook, signed
with the secret in the environment variable the pack names, else to WEBHOOK_URL. The worker
delivers every few seconds; `separation-guard notifications deliver` once."""
from __future__ import annotations

import os

from flask import Flask

from service.clock import utcnow
from service.record.notifications import WebhookRoutes, WebhookSettings, deliver_due, webhook_signer


def webhook_settings(app: Flask) -> WebhookSettings | None:
    """The deployment's webhook, None where notifications are only polled (no WEBHOOK_URL)."""
    config = app.config
    if not config.get("WEBHOOK_URL"):
        return None
    webhook_signer(config["WEBHOOK_SECRET"])  # a bad secret is named now, not at the first delivery
    return WebhookSettings(url=config["WEBHOOK_URL"], secret=config["WEBHOOK_SECRET"],
                           max_attempts=int(config["WEBHOOK_MAX_ATTEMPTS"]),
                           backoff_seconds=float(config["WEBHOOK_BACKOFF_SECONDS"]))


def pack_webhooks(app: Flask) -> dict[str, dict]:
    """The webhook each live pack names ({endpoint, secret_env}), by tenant."""
    packs = app.extensions.get("packs") or {}
    return {tenant: book.pack.webhook for tenant, book in packs.items()
            if book is not None and book.pack is not None and book.pack.webhook}


def webhook_routes(app: Flask) -> WebhookRoutes | None:
    """Where every tenant's notifications go in this pass; None when nothing is delivered. A pack's
    secret is read from the environment now, held in memory for the pass, never stored or logged;
    a missing or malformed one is the reason its tenant's notifications are not sent."""
    config = app.config
    packs = {tenant: _pack_settings(hook) for tenant, hook in pack_webhooks(app).items()}
    default = webhook_settings(app)
    if default is None and not packs:
        return None
    held = frozenset(t for t, book in (app.extensions.get("packs") or {}).items() if book is None)
    return WebhookRoutes(default=default, packs=packs, held=held,
                         max_attempts=int(config["WEBHOOK_MAX_ATTEMPTS"]),
                         backoff_seconds=float(config["WEBHOOK_BACKOFF_SECONDS"]))


def unset_pack_secrets(app: Flask) -> list[str]:
    """The secret variables named by live packs' webhooks that are not set (names only)."""
    return sorted({hook["secret_env"] for hook in pack_webhooks(app).values() if not os.environ.get(hook["secret_env"])})


def _pack_settings(hook: dict) -> WebhookSettings | str:
    name = hook["secret_env"]
    secret = os.environ.get(name)
    if not secret:
        return f"the webhook secret variable {name} is not set: not sent unsigned"
    try:
        webhook_signer(secret, name)
    except ValueError as exc:
        return f"{exc}: not sent"
    return WebhookSettings(url=hook["endpoint"], secret=secret)


def deliver(app: Flask) -> dict:
    """Every due notification, once; counts by outcome."""
    routes = webhook_routes(app)
    if routes is None:
        return {"delivered": 0, "retrying": 0, "dead": 0, "deferred": 0}
    return deliver_due(app.extensions["db_sessions"], routes, utcnow())
