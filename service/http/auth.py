"""API keys: every endpoint but health and the contract needs one, with the right scope.

Keys belong to named clients and are stored as SHA-256 digests (they are 256-bit random
tokens, so a fast digest is enough); a presented key is digested and compared in constant time.
A missing or wrong key is 401, a key without the scope 403.

Refusals are counted, not listed: each worker tallies them per client address and minute and
writes one `access_refused` entry per address and minute (with the count by status, reason,
route and client) once the minute is over, so a flood of bad keys adds at most one entry per
address, minute and worker. Past REFUSAL_RATE_LIMIT refusals in a window, counted per client
address and key prefix (a presented key's public first characters, or one bucket for requests
with no key; in RATELIMIT_STORAGE_URI: per worker with the default memory://, shared by the
workers and hosts that share a redis:// or memcached:// one), a request that would be refused
is answered 429 instead, for the rest of the window. A valid key is never refused for others'
failures: behind a proxy one address is everyone, and one client's bad keys must not lock out
the others.

Each worker remembers a key it has accepted for API_KEY_CACHE_SECONDS (default 5): the lookup
was a third of a check's database round trips. So a revocation made in another process (the
`keys revoke` command) takes effect within that time; in the process that revokes, at once.
Unknown keys are never remembered.
"""
from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import hmac
import math
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from cachetools import TTLCache
from flask import Flask, current_app, g, request
from flask_smorest import abort
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service import DEV_WEBHOOK_SECRET
from service.clock import utcnow
from service.record.models import ApiClient
from service.record.trail import append

SCOPES = ("checks", "cases", "trail:read", "rules:admin")
KEY_PREFIX = "sg_"

# Which scopes open which endpoint (any one of them). Endpoints not listed are open.
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
                  "api-docs.openapi_redoc", "static", "swagger_ui_assets"}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_client(session, name: str, scopes: list[str], key: str | None = None,
                  complete_record: list[str] | None = None) -> str:
    """Register a client; returns its key (shown once, stored only as a digest). `complete_record`:
    the areas its record is declared complete in, already checked against the rule set."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}; known: {', '.join(SCOPES)}")
    key = key or new_key()
    session.add(ApiClient(id=str(uuid.uuid4()), name=name, key_digest=digest(key), scopes=sorted(set(scopes)),
                          created_at=utcnow(), revoked_at=None,
                          complete_record=list(dict.fromkeys(complete_record)) if complete_record else None))
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
    complete_record: tuple[str, ...] = ()   # the areas its record is declared complete in


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


def init_app(app: Flask) -> None:
    app.extensions["api_key_cache"] = KeyCache(float(app.config["API_KEY_CACHE_SECONDS"]))
    app.extensions["refusal_tally"] = RefusalTally(int(app.config["REFUSAL_WINDOW_SECONDS"]))
    app.extensions["refusal_limiter"] = RefusalLimiter(app.config["REFUSAL_RATE_LIMIT"],
                                                       app.config["RATELIMIT_STORAGE_URI"])
    app.before_request(_authenticate)
    app.after_request(_write_closed_tallies)
    if not app.testing:
        atexit.register(flush_refusals, app, everything=True)  # the minute under way, at exit


_DEV_DEFAULTS = {"TRAIL_DIGEST_KEY": "dev-only-trail-digest-key", "WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}


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
            problems.append("TRAIL_SIGNING_KEY is not set (the trail's Ed25519 key, PEM)")
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


def _authenticate():
    if not current_app.config["AUTH_REQUIRED"] or request.endpoint in OPEN_ENDPOINTS or request.endpoint is None:
        return None
    needed = _SCOPES_OF_ENDPOINT.get(request.endpoint)
    if needed is None:
        return None
    presented = _presented_key()
    client = _client_for(presented) if presented else None
    token = None if presented else _page_session_token()
    if token:
        from service.http import page_sessions
        with current_app.extensions["db_sessions"]() as session:
            client = page_sessions.client_of(session, token)
    bucket = PAGE_SESSION_BUCKET if token else refusal_bucket(presented)
    if client is None:
        reason = ("expired, signed-out or revoked page session" if token else
                  "missing API key" if not presented else "unknown or revoked API key")
        _turn_away_if_over_the_limit(None, bucket)
        _record_refusal(None, 401, reason, bucket)
        abort(401, message="A valid API key is required: Authorization: Bearer <key>.",
              headers={"WWW-Authenticate": 'Bearer realm="separation-guard"'})
    g.client_id = client.name
    g.complete_record = client.complete_record
    if not set(needed) & set(client.scopes):
        _turn_away_if_over_the_limit(client.name, bucket)
        _record_refusal(client.name, 403, f"scope {' or '.join(needed)} needed", bucket)
        abort(403, message=f"This key lacks the scope {' or '.join(needed)}.")
    return None


# How many leading characters of a key are its public prefix: "sg_" and 8 of its 43 random ones
# (48 bits of 256, enough to tell clients apart and nothing towards guessing one).
PUBLIC_PREFIX_LENGTH = len(KEY_PREFIX) + 8
NO_KEY_BUCKET = "(no key)"
PAGE_SESSION_BUCKET = "(page session)"


def refusal_bucket(presented: str | None) -> str:
    """Where a refusal is counted, beside its address: the presented key's public prefix."""
    return presented[:PUBLIC_PREFIX_LENGTH] if presented else NO_KEY_BUCKET


def retry_after_if_over_the_limit(bucket: str) -> int | None:
    """Seconds to wait when this address and key prefix are over the refusal limit, else None.
    Asked only of a request about to be refused: a valid key is never turned away."""
    address = request.remote_addr or "unknown"
    if not current_app.extensions["refusal_tally"].may_have_refused(address):
        return None  # refused nothing from here lately: the shared count need not be asked
    limiter: RefusalLimiter = current_app.extensions["refusal_limiter"]
    try:
        if limiter.over(address, bucket):
            return limiter.retry_after(address, bucket)
    except Exception:  # the refusal stands even if the limiter's storage is unreachable
        current_app.logger.exception("could not read the refusal count")
    return None


def _turn_away_if_over_the_limit(client_name: str | None, bucket: str) -> None:
    wait = retry_after_if_over_the_limit(bucket)
    if wait is None:
        return
    limiter: RefusalLimiter = current_app.extensions["refusal_limiter"]
    _record_refusal(client_name, 429, f"over the limit of {limiter.limit} refused requests", bucket)
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
    from service.http.page_sessions import COOKIE
    return request.cookies.get(COOKIE) or None


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
            known = KnownClient(client.name, frozenset(client.scopes), tuple(client.complete_record or ()))
            cache.put(wanted, known)
            return known
    return None


def _record_refusal(client_name: str | None, status: int, reason: str, bucket: str = NO_KEY_BUCKET) -> None:
    """Count a refusal of this request in the tally of its address and minute, and (401, 403)
    in the limiter's count of its address and key prefix."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    tally: RefusalTally = current_app.extensions["refusal_tally"]
    address = request.remote_addr or "unknown"
    tally.count(utcnow(), address, status=status, reason=reason, route=f"{request.method} {rule}",
                client=client_name)
    if status in (401, 403):
        try:
            current_app.extensions["refusal_limiter"].count(address, bucket)
        except Exception:  # the refusal stands even if the limiter's storage is unreachable
            current_app.logger.exception("could not count a refused request")
    if not current_app.testing:
        _arm_timer(current_app._get_current_object())


class RefusalLimiter:
    """REFUSAL_RATE_LIMIT refusals per client address and key prefix, in fixed windows, counted where
    RATELIMIT_STORAGE_URI says (memory://: this worker; redis://, memcached://: every worker and
    host that shares it). Built on `limits`, the engine of Flask-Limiter, without Flask-Limiter's
    own request hooks: those cost 0.05-0.18 ms on every request, refused or not."""

    SCOPE = "refusals"

    def __init__(self, limit: str, storage_uri: str):
        self.limit = parse(limit)
        self._strategy = FixedWindowRateLimiter(storage_from_string(storage_uri))

    def count(self, address: str, bucket: str) -> None:
        self._strategy.hit(self.limit, self.SCOPE, address, _storage_name(bucket))

    def over(self, address: str, bucket: str) -> bool:
        return not self._strategy.test(self.limit, self.SCOPE, address, _storage_name(bucket))

    def retry_after(self, address: str, bucket: str) -> int:
        reset = self._strategy.get_window_stats(self.limit, self.SCOPE, address, _storage_name(bucket)).reset_time
        # The limiter keeps epoch seconds; this is the HTTP Retry-After, never a decision.
        return max(1, math.ceil(reset - time.time()))  # wall clock ok


def _storage_name(bucket: str) -> str:
    # A key prefix is whatever the client sent: hashed, it is a valid key in any storage (memcached
    # refuses spaces and control characters).
    return hashlib.sha256(bucket.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _write_closed_tallies(response):
    if current_app.extensions["refusal_tally"].has_closed(utcnow()):
        flush_refusals(current_app._get_current_object())
    return response


def _arm_timer(app: Flask) -> None:
    """A worker that sees no further request still writes a minute once it is over: one timer
    per worker, due when the earliest open window ends."""
    tally: RefusalTally = app.extensions["refusal_tally"]
    due = tally.arm()
    if due is None:
        return

    def fire():
        tally.disarm()
        flush_refusals(app)
        _arm_timer(app)

    timer = threading.Timer(max(0.0, (due - utcnow()).total_seconds()) + 1, fire)
    timer.daemon = True
    timer.start()


def flush_refusals(app: Flask, *, everything: bool = False) -> int:
    """Write the tallies of the minutes that are over (all of them with everything=True); returns
    how many entries were written. The refusals stand even if their tally could not be recorded."""
    tally: RefusalTally = app.extensions["refusal_tally"]
    windows = tally.take(None if everything else utcnow())
    if not windows:
        return 0
    try:
        with app.extensions["db_sessions"]() as session, session.begin():
            for window in windows:
                append(session, kind="access_refused", recorded_at=utcnow(),
                       ruleset_version=app.extensions["rulebook"].version, key=app.extensions["trail_key"],
                       client_id=window.only_client(), body=window.body())
    except Exception:
        app.logger.exception("could not record %d refused requests", sum(w.count for w in windows))
        return 0
    return len(windows)


OTHER_ADDRESSES = "(other addresses)"


@dataclass
class RefusalWindow:
    address: str
    start: dt.datetime
    seconds: int
    count: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_reason: Counter = field(default_factory=Counter)
    by_route: Counter = field(default_factory=Counter)
    by_client: Counter = field(default_factory=Counter)

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)

    def only_client(self) -> str | None:
        """The client, when every refusal in the window named the same one."""
        if len(self.by_client) == 1 and sum(self.by_client.values()) == self.count:
            return next(iter(self.by_client))
        return None

    def body(self) -> dict:
        return {"address": self.address, "window_start": self.start.isoformat(), "window_seconds": self.seconds,
                "count": self.count, "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "by_reason": dict(self.by_reason), "by_route": dict(self.by_route),
                "by_client": dict(self.by_client)}


class RefusalTally:
    """This worker's refusals per client address and window (aligned on the clock: 12:00, 12:01...).

    Bounded: past `max_addresses` in one window, further addresses are counted together."""

    def __init__(self, seconds: int = 60, max_addresses: int = 1000):
        self.seconds, self._max_addresses = seconds, max_addresses
        self._windows: dict[tuple[dt.datetime, str], RefusalWindow] = {}
        self._addresses: dict[dt.datetime, int] = {}  # per window start: how many addresses
        self._open_addresses: Counter = Counter()  # per address: in how many windows
        self._earliest_end: dt.datetime | None = None
        self._armed = False
        self._lock = threading.Lock()

    def count(self, at: dt.datetime, address: str, *, status: int, reason: str, route: str,
              client: str | None) -> None:
        start = at - dt.timedelta(seconds=at.timestamp() % self.seconds)
        with self._lock:
            window = self._windows.get((start, address))
            if window is None:
                if self._addresses.get(start, 0) >= self._max_addresses:
                    address = OTHER_ADDRESSES
                window = self._windows.get((start, address))
                if window is None:
                    window = self._windows[(start, address)] = RefusalWindow(address, start, self.seconds)
                    self._addresses[start] = self._addresses.get(start, 0) + 1
                    self._open_addresses[address] += 1
                    if self._earliest_end is None or window.end < self._earliest_end:
                        self._earliest_end = window.end
            window.count += 1
            window.by_status[status] += 1
            window.by_reason[reason] += 1
            window.by_route[route] += 1
            if client is not None:
                window.by_client[client] += 1

    def arm(self) -> dt.datetime | None:
        """The time a timer should fire, if windows are open and no timer is armed yet."""
        with self._lock:
            if self._armed or self._earliest_end is None:
                return None
            self._armed = True
            return self._earliest_end

    def disarm(self) -> None:
        with self._lock:
            self._armed = False

    def may_have_refused(self, address: str) -> bool:
        """Whether this worker refused the address in a window not yet written, or stopped telling
        addresses apart (then every address may be over its limit)."""
        open_addresses = self._open_addresses  # read without the lock: a stale answer costs one refusal
        return address in open_addresses or OTHER_ADDRESSES in open_addresses

    def has_closed(self, now: dt.datetime) -> bool:
        earliest = self._earliest_end  # read without the lock: a stale answer only delays a write
        return earliest is not None and earliest <= now

    def take(self, now: dt.datetime | None) -> list[RefusalWindow]:
        """Remove and return the windows over by `now` (every window when now is None)."""
        with self._lock:
            done = [key for key, window in self._windows.items() if now is None or window.end <= now]
            taken = [self._windows.pop(key) for key in sorted(done)]
            for window in taken:
                self._addresses.pop(window.start, None)
                self._open_addresses[window.address] -= 1
                if not self._open_addresses[window.address]:
                    del self._open_addresses[window.address]
            self._earliest_end = min((w.end for w in self._windows.values()), default=None)
        return taken
