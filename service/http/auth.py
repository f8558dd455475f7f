"""Authentication: every endpoint but health and the contract needs a key (service/http/keys.py)
with the right scope, or, on the pages, their sign-in cookie (service/http/page_sessions.py).
A missing or wrong key is 401, a key without the scope 403; a request that would be refused
past the refusal limit is 429 (service/http/refusal_limit.py); every refusal is counted
(service/http/refusals.py).
"""
from __future__ import annotations

import hmac

from flask import Flask, current_app, g, request
from flask_smorest import abort
from sqlalchemy import select

from service.http import page_sessions, refusal_limit, refusals
from service.http.keys import KeyCache, KnownClient, digest
from service.http.refusal_limit import NO_KEY_BUCKET, PAGE_SESSION_BUCKET, RefusalLimiter, refusal_bucket, \
    retry_after_if_over_the_limit
from service.http.refusals import record_refusal
from service.record.models import ApiClient
from service.tenants import DEFAULT_TENANT

# Which scopes open which endpoint (any one of them). An endpoint in neither this map nor
# OPEN_ENDPOINTS is refused to everyone (fail closed: a new endpoint is never open by omission).
_SCOPES_OF_ENDPOINT = {
    "checks.Checks": ("checks",),
    "checks.CheckBatch": ("checks",),
    "requirements.Requirements": ("checks",),
    "citations.Citations": ("checks", "trail:read"),
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
    "admin.PackReload": ("rules:admin",),
    # The browser pages (service/http/pages.py): a Bearer key, or the cookie their sign-in form sets.
    "pages.rules": ("trail:read", "rules:admin"),
    "pages.rule": ("trail:read", "rules:admin"),
    "pages.requirements": ("trail:read", "rules:admin"),
    "pages.trail": ("trail:read",),
    "pages.trail_entry": ("trail:read",),
    "pages.trail_entry_stored": ("trail:read",),
    "pages.trail_chain": ("trail:read",),
    "pages.case": ("trail:read",),
}
# The pages' sign-in cookie (service/http/page_sessions.py) is honoured on the pages only, so it can
# never drive an API call (CSRF).
OPEN_ENDPOINTS = {"healthz", "readyz", "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                  "api-docs.openapi_redoc", "static", "swagger_ui_assets",
                  # The trail's public keys (an auditor verifies with them), the pages' sign-in.
                  "trail.TrailKeys", "trail.TrailPublicKey", "pages.index", "pages.login", "pages.logout"}


def init_app(app: Flask) -> None:
    app.extensions["api_key_cache"] = KeyCache(float(app.config["API_KEY_CACHE_SECONDS"]))
    refusals.init_app(app)
    refusal_limit.init_app(app)
    app.before_request(_authenticate)


def _authenticate():
    if not current_app.config["AUTH_REQUIRED"] or request.endpoint in OPEN_ENDPOINTS or request.endpoint is None:
        return None
    needed = _SCOPES_OF_ENDPOINT.get(request.endpoint)
    if needed is None:
        current_app.logger.error("endpoint %s declares no scope: refused", request.endpoint)
        abort(403, message="This endpoint is not open to any key.")
    presented = _presented_key()
    client = _client_for(presented) if presented else None
    token = None if presented else _page_session_token()
    if token:
        with current_app.extensions["db_sessions"]() as session:
            client = page_sessions.client_of(session, token)
    bucket = PAGE_SESSION_BUCKET if token else refusal_bucket(presented)
    if client is None:
        reason = ("expired, signed-out or revoked page session" if token else
                  "missing API key" if not presented else "unknown or revoked API key")
        _turn_away_if_over_the_limit(None, bucket)
        record_refusal(None, 401, reason, bucket)
        abort(401, message="A valid API key is required: Authorization: Bearer <key>.",
              headers={"WWW-Authenticate": 'Bearer realm="separation-guard"'})
    g.client_id = client.name
    g.complete_record = client.complete_record
    g.tenant, g.roles = client.tenant, client.roles
    g.refusal_bucket = bucket
    if not set(needed) & set(client.scopes):
        _turn_away_if_over_the_limit(client.name, bucket)
        record_refusal(client.name, 403, f"scope {' or '.join(needed)} needed", bucket, tenant=client.tenant)
        abort(403, message=f"This key lacks the scope {' or '.join(needed)}.")
    return None


def refuse_roles_not_granted(roles) -> None:
    """403 naming the first of `roles` (the actor roles a request asserts) that its key was not
    granted (`keys create --role`), counted and recorded like every refusal, with the tenant. A
    key made without --role, or a deployment without keys, may assert any role."""
    granted = g.get("roles")
    if granted is None:
        return
    for role in roles:
        if role not in granted:
            record_refusal(g.client_id, 403, f"actor role {role} not granted to the key",
                           g.get("refusal_bucket", NO_KEY_BUCKET), tenant=g.get("tenant", DEFAULT_TENANT))
            abort(403, message=f"This key may not assert the actor role {role}: it may assert "
                               f"{', '.join(sorted(granted)) or 'none'} (keys create --role).")


def _turn_away_if_over_the_limit(client_name: str | None, bucket: str) -> None:
    wait = retry_after_if_over_the_limit(bucket)
    if wait is None:
        return
    limiter: RefusalLimiter = current_app.extensions["refusal_limiter"]
    record_refusal(client_name, 429, f"over the limit of {limiter.limit} refused requests", bucket)
    abort(429, message=f"Too many refused requests from this address with this key (the limit is "
                       f"{limiter.limit}); retry after the time in Retry-After.",
          headers={"Retry-After": str(wait)})


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return request.headers.get("X-API-Key") or None


def _page_session_token() -> str | None:
    """The pages' sign-in cookie (a session token, not a key): honoured on the pages only."""
    if request.blueprint != "pages":
        return None
    return request.cookies.get(page_sessions.COOKIE) or None


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
            known = KnownClient.of(client)
            cache.put(wanted, known)
            return known
    return None
