"""API keys: named clients, their scopes, and the key every endpoint but health and the contract needs.

Keys belong to named clients and are stored as SHA-256 digests (they are 256-bit random
tokens, so a fast digest is enough); a presented key is digested and compared in constant time
(service/http/auth.py).

Each worker remembers a key it has accepted for API_KEY_CACHE_SECONDS (default 5): the lookup
was a third of a check's database round trips. So a revocation made in another process (the
`keys revoke` command) takes effect within that time; in the process that revokes, at once.
Unknown keys are never remembered.

At start-up, production refuses development secrets and a house without keys; development
registers DEV_KEY.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from cachetools import TTLCache
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.config import DEV_TRAIL_DIGEST_KEY, DEV_WEBHOOK_SECRET
from service.clock import utcnow
from service.record.ids import new_id
from service.record.models import ApiClient
from service.tenants import DEFAULT_TENANT, valid_tenant

SCOPES = ("checks", "cases", "trail:read", "rules:admin")
KEY_PREFIX = "sg_"

def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class TenantRefused(ValueError):
    """A tenant id that service.tenants.TENANT_ID does not allow."""


def create_client(session, name: str, scopes: list[str], key: str | None = None,
                  complete_record: list[str] | None = None, tenant_id: str = DEFAULT_TENANT,
                  roles: list[str] | None = None) -> str:
    """Register a client of `tenant_id`; returns its key (shown once, stored only as a digest).
    `complete_record`: the areas its record is declared complete in, already checked against the
    rule set; `roles`: the actor roles it may assert, already checked (None: any)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    if not valid_tenant(tenant_id):
        raise TenantRefused(f"tenant {tenant_id!r} is not a tenant id: lower-case letters, digits, _ and -, "
                            "starting with a letter or digit, at most 64 characters")
    key = key or new_key()
    session.add(ApiClient(id=new_id(), tenant_id=tenant_id, name=name, key_digest=digest(key),
                          scopes=sorted(set(scopes)), created_at=utcnow(), revoked_at=None,
                          complete_record=list(dict.fromkeys(complete_record)) if complete_record else None,
                          roles=sorted(set(roles)) if roles else None))
    session.flush()
    return key


def revoke_client(session, name: str, tenant_id: str | None = None) -> int:
    """Revoke the active keys of client `name` (of `tenant_id` only, when given); how many."""
    count = 0
    active = select(ApiClient).where(ApiClient.name == name, ApiClient.revoked_at.is_(None))
    for client in session.scalars(active if tenant_id is None else active.where(ApiClient.tenant_id == tenant_id)):
        client.revoked_at = utcnow()
        count += 1
    if current_app:
        current_app.extensions["api_key_cache"].clear()  # this process forgets at once; others within the TTL
    return count


@dataclass(frozen=True)
class KnownClient:
    name: str
    scopes: frozenset[str]
    complete_record: tuple[str, ...] = ()   # the areas its record is declared complete in
    tenant: str = DEFAULT_TENANT
    roles: frozenset[str] | None = None     # the actor roles it may assert; None: any

    @classmethod
    def of(cls, client: ApiClient) -> KnownClient:
        return cls(client.name, frozenset(client.scopes), tuple(client.complete_record or ()), client.tenant_id,
                   None if client.roles is None else frozenset(client.roles))

    def may_assert(self, role: str) -> bool:
        return self.roles is None or role in self.roles


class KeyCache:
    """Accepted keys by digest, each for `seconds` (0: no caching); the least recently used goes
    first when full. A cachetools TTLCache behind a lock: it is not thread-safe, and a lookup
    may evict."""

    def __init__(self, seconds: float, clock=time.monotonic, size: int = 1024):
        self.seconds = seconds
        self._known: TTLCache = TTLCache(maxsize=size, ttl=max(seconds, 0), timer=clock)
        self._lock = threading.Lock()

    def get(self, key_digest: str) -> KnownClient | None:
        with self._lock:
            return self._known.get(key_digest)

    def put(self, key_digest: str, client: KnownClient) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._known[key_digest] = client

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


_DEV_DEFAULTS = {"TRAIL_DIGEST_KEY": DEV_TRAIL_DIGEST_KEY, "WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}


class StartUpRefused(RuntimeError):
    pass


def check_start_up(app: Flask) -> None:
    """Production never runs with development secrets or without a key; development gets a key."""
    sessions = app.extensions["db_sessions"]
    if app.config["ENV"] == "production":
        problems = [f"{name} still has its development value" for name, value in _DEV_DEFAULTS.items()
                    if app.config[name] == value]
        if app.config.get("DEV_KEY"):
            problems.append("DEV_KEY is set")
        from service.record.notifications import webhook_signer
        try:
            webhook_signer(app.config["WEBHOOK_SECRET"])
        except ValueError as exc:
            problems.append(str(exc))
        if not app.config["AUTH_REQUIRED"]:
            problems.append("AUTH_REQUIRED is off")
        if app.extensions.get("trail_key") is None:
            problems.append(app.extensions.get("trail_key_problem") or "the trail's keys are not set")
        if not app.config.get("TRAIL_WITNESS_URL") or not app.config.get("TRAIL_WITNESS_VKEY"):
            problems.append("TRAIL_WITNESS_URL and TRAIL_WITNESS_VKEY are not set (the witness that cosigns the "
                            "trail's checkpoints: docs/trail-witness-and-keys.md)")
        if app.extensions.get("recheck_keys") is None:
            problems.append("RECHECK_KEY is not set (AES-256-GCM, base64 32 bytes: seals the re-check's facts)")
        with sessions() as session:
            if session.scalar(select(ApiClient.id).where(ApiClient.revoked_at.is_(None)).limit(1)) is None:
                problems.append("no API key is configured (separation-guard keys create NAME --scope ...)")
        if problems:
            raise StartUpRefused("refusing to start in production: " + "; ".join(problems))
        return
    if app.config.get("DEV_KEY"):
        with sessions() as session, session.begin():
            known = session.scalar(select(ApiClient.id).where(ApiClient.key_digest == digest(app.config["DEV_KEY"])))
            if known is None:
                try:
                    with session.begin_nested():
                        create_client(session, "development", list(SCOPES), key=app.config["DEV_KEY"])
                except IntegrityError:
                    pass  # another worker registered it a moment ago
