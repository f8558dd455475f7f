"""Delivering the notification outbox to WEBHOOK_URL (Standard Webhooks, with retries: the
deliveries themselves are service/record/notifications.py). The worker delivers every few
seconds; `separation-guard notifications deliver` once."""
from __future__ import annotations

from flask import Flask

from service.clock import utcnow
from service.record.notifications import WebhookSettings, deliver_due, webhook_signer


def webhook_settings(app: Flask) -> WebhookSettings | None:
    """The webhook's settings, None where notifications are only polled (no WEBHOOK_URL)."""
    config = app.config
    if not config.get("WEBHOOK_URL"):
        return None
    webhook_signer(config["WEBHOOK_SECRET"])  # a bad secret is named now, not at the first delivery
    return WebhookSettings(url=config["WEBHOOK_URL"], secret=config["WEBHOOK_SECRET"],
                           max_attempts=int(config["WEBHOOK_MAX_ATTEMPTS"]),
                           backoff_seconds=float(config["WEBHOOK_BACKOFF_SECONDS"]))


def deliver(app: Flask) -> dict:
    """Every due notification, once; counts by outcome."""
    return deliver_due(app.extensions["db_sessions"], webhook_settings(app), utcnow())
