"""Sign-in sessions of the pages. The browser's cookie holds a random token, never the API key;
the database keeps only the token's digest, with the client it belongs to and when it expires.
Signing out revokes the row; revoking the client ends all its sessions at once (every lookup
checks the client); an expired token opens nothing, whatever the browser still sends."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.http.keys import KnownClient
from service.clock import utcnow
from service.record.models import ApiClient, PageSession

COOKIE = "sg_pages_session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, client: ApiClient, lifetime: dt.timedelta) -> str:
    """A new session for `client`; returns the token (set as the cookie, stored only as a digest)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(PageSession(token_digest=_digest(token), tenant_id=client.tenant_id, client_id=client.id, created_at=now,
                            expires_at=now + lifetime, revoked_at=None))
    return token


def client_of(session: Session, token: str) -> KnownClient | None:
    """The client a live session token belongs to (None: unknown, expired, signed out, revoked)."""
    now = utcnow()
    client = session.scalar(
        select(ApiClient).join(PageSession, PageSession.client_id == ApiClient.id)
        .where(PageSession.token_digest == _digest(token), PageSession.revoked_at.is_(None),
               PageSession.expires_at > now, ApiClient.revoked_at.is_(None)))
    return None if client is None else KnownClient.of(client)


def end(session: Session, token: str) -> bool:
    return session.execute(update(PageSession).where(PageSession.token_digest == _digest(token),
                                                     PageSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow())).rowcount == 1
