"""Rate limiting of refusals: past REFUSAL_RATE_LIMIT refusals in a window, counted per client
address and key prefix (a presented key's public first characters, or one bucket for requests
with no key; in RATELIMIT_STORAGE_URI: per worker with the default memory://, shared by the
workers and hosts that share a redis:// or memcached:// one), a request that would be refused
is answered 429 instead, for the rest of the window. A valid key is never refused for others'
failures: behind a proxy one address is everyone, and one client's bad keys must not lock out
the others.
"""
from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, current_app, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from service.http.keys import KEY_PREFIX


def init_app(app: Flask) -> None:
    app.extensions["refusal_limiter"] = RefusalLimiter(app.config["REFUSAL_RATE_LIMIT"],
                                                       app.config["RATELIMIT_STORAGE_URI"])


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
