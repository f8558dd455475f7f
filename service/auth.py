"""API keys: every endpoint but health and the contract needs one, with the right scope.

Keys belong to named clients and are stored as SHA-256 digests (they are 256-bit random
tokens, so a fast digest is enough); a presented key is digested and compared in constant time.
A missing or wrong key is 401, a key without the scope 403; both are written to the trail with
the client (when known), so refused access is as provable as a decision.

Each worker remembers a key it has accepted for API_KEY_CACHE_SECONDS (default 5): the lookup
was a third of a check's database round trips. So a revocation made in another process (the
`keys revoke` command) takes effect within that time; in the process that revokes, at once.
Unknown keys are never remembered.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from flask import Flask, current_app, g, request
from flask_smorest import abort
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.clock import utcnow
from service.models import ApiClient
from service.trail import append

SCOPES = ("checks", "cases", "trail:read", "rules:admin")
KEY_PREFIX = "sg_"

# Which scopes open which endpoint (any one of them). Endpoints not listed are open.
_SCOPES_OF_ENDPOINT = {
    "checks.Checks": ("checks",),
    "checks.CheckBatch": ("checks",),
    "decisions.DecisionView": ("checks", "trail:read"),
    "cases.CaseEvents": ("cases",),
    "cases.CaseView": ("cases", "trail:read"),
    "notifications.Notifications": ("cases", "trail:read"),
    "notifications.SlaSweep": ("cases",),
    "trail.Trail": ("trail:read",),
    "trail.TrailVerify": ("trail:read",),
    "trail.TrailProof": ("checks", "cases", "trail:read"),
    "trail.TrailCheckpoints": ("checks", "cases", "trail:read"),
    "admin.Reload": ("rules:admin",),
    # The browser pages (service/pages.py): a Bearer key, or the cookie their sign-in form sets.
    "pages.rules": ("trail:read", "rules:admin"),
    "pages.rule": ("trail:read", "rules:admin"),
    "pages.trail": ("trail:read",),
    "pages.case": ("trail:read",),
}
# The pages' sign-in cookie: honoured on the pages only, so it can never drive an API call (CSRF).
PAGES_COOKIE = "sg_pages_key"
OPEN_ENDPOINTS = {"healthz", "readyz", "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                  "api-docs.openapi_redoc", "static"}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_client(session, name: str, scopes: list[str], key: str | None = None) -> str:
    """Register a client; returns its key (shown once, stored only as a digest)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    key = key or new_key()
    session.add(ApiClient(id=str(uuid.uuid4()), name=name, key_digest=digest(key), scopes=sorted(set(scopes)),
                          created_at=utcnow(), revoked_at=None))
    session.flush()
    return key


def revoke_client(session, name: str) -> int:
    count = 0
    for client in session.scalars(select(ApiClient).where(ApiClient.name == name, ApiClient.revoked_at.is_(None))):
        client.revoked_at = utcnow()
        count += 1
    if current_app:
        current_app.extensions["api_key_cache"].clear()  # this process forgets at once; others within the TTL
    return count


@dataclass(frozen=True)
class KnownClient:
    name: str
    scopes: frozenset[str]


class KeyCache:
    """Accepted keys by digest, each for `seconds` (0: no caching). Bounded: full means start afresh."""

    def __init__(self, seconds: float, clock=time.monotonic, size: int = 1024):
        self.seconds, self._clock, self._size = seconds, clock, size
        self._known: dict[str, tuple[KnownClient, float]] = {}
        self._lock = threading.Lock()

    def get(self, key_digest: str) -> KnownClient | None:
        hit = self._known.get(key_digest)
        if hit is None or self._clock() >= hit[1]:
            return None
        return hit[0]

    def put(self, key_digest: str, client: KnownClient) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._known) >= self._size:
                self._known.clear()
            self._known[key_digest] = (client, self._clock() + self.seconds)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


def init_app(app: Flask) -> None:
    app.extensions["api_key_cache"] = KeyCache(float(app.config["API_KEY_CACHE_SECONDS"]))
    app.before_request(_authenticate)


_DEV_DEFAULTS = {"TRAIL_DIGEST_KEY": "dev-only-trail-digest-key", "WEBHOOK_SECRET": "dev-only-webhook-secret"}


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
        if not app.config["AUTH_REQUIRED"]:
            problems.append("AUTH_REQUIRED is off")
        if app.extensions.get("trail_key") is None:
            problems.append("TRAIL_SIGNING_KEY is not set (the trail's Ed25519 key, PEM)")
        with sessions() as session:
            if session.scalar(select(ApiClient.id).where(ApiClient.revoked_at.is_(None)).limit(1)) is None:
                problems.append("no API key is configured (flask --app wsgi keys create NAME --scope ...)")
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


def _authenticate():
    if not current_app.config["AUTH_REQUIRED"] or request.endpoint in OPEN_ENDPOINTS or request.endpoint is None:
        return None
    needed = _SCOPES_OF_ENDPOINT.get(request.endpoint)
    if needed is None:
        return None
    presented = _presented_key()
    client = _client_for(presented) if presented else None
    if client is None:
        _record_refusal(None, 401, "missing API key" if not presented else "unknown or revoked API key")
        abort(401, message="A valid API key is required: Authorization: Bearer <key>.",
              headers={"WWW-Authenticate": 'Bearer realm="separation-guard"'})
    g.client_id = client.name
    if not set(needed) & set(client.scopes):
        _record_refusal(client.name, 403, f"scope {' or '.join(needed)} needed")
        abort(403, message=f"This key lacks the scope {' or '.join(needed)}.")
    return None


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    if request.blueprint == "pages" and not request.headers.get("X-API-Key"):
        return request.cookies.get(PAGES_COOKIE) or None
    return request.headers.get("X-API-Key") or None


def _client_for(key: str) -> KnownClient | None:
    wanted = digest(key)
    cache: KeyCache = current_app.extensions["api_key_cache"]
    known = cache.get(wanted)
    if known is not None:
        return known
    with current_app.extensions["db_read_sessions"]() as session:
        candidates = session.scalars(select(ApiClient).where(ApiClient.key_digest == wanted,
                                                             ApiClient.revoked_at.is_(None))).all()
    for client in candidates:  # the lookup narrows; the comparison that decides is constant-time
        if hmac.compare_digest(client.key_digest, wanted):
            known = KnownClient(client.name, frozenset(client.scopes))
            cache.put(wanted, known)
            return known
    return None


def _record_refusal(client_name: str | None, status: int, reason: str) -> None:
    rulebook = current_app.extensions["rulebook"]
    try:
        with current_app.extensions["db_sessions"]() as session, session.begin():
            append(session, kind="access_refused", recorded_at=utcnow(), ruleset_version=rulebook.version,
                   client_id=client_name, body={"status": status, "reason": reason, "method": request.method,
                                                "path": request.path})
    except Exception:  # the refusal stands even if it could not be recorded
        current_app.logger.exception("could not record refused access")
