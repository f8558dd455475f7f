"""Refusal counts: refusals are counted, not listed. Each worker tallies them per client address
and minute and writes one `access_refused` entry per address and minute (with the count by
status, reason, route and client) once the minute is over, so a flood of bad keys adds at most
one entry per address, minute and worker. Each refusal also counts towards the limit of its
address and key prefix (service/http/refusal_limit.py).
"""
from __future__ import annotations

import atexit
import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass, field

from flask import Flask, current_app, request

from service.clock import utcnow
from service.http.refusal_limit import NO_KEY_BUCKET
from service.record.trail import append


def init_app(app: Flask) -> None:
    app.extensions["refusal_tally"] = RefusalTally(int(app.config["REFUSAL_WINDOW_SECONDS"]))
    app.after_request(_write_closed_tallies)
    if not app.testing:
        atexit.register(flush_refusals, app, everything=True)  # the minute under way, at exit


def record_refusal(client_name: str | None, status: int, reason: str, bucket: str = NO_KEY_BUCKET,
                   tenant: str | None = None) -> None:
    """Count a refusal of this request in the tally of its address and minute, and (401, 403)
    in the limiter's count of its address and key prefix. `tenant`: the key's, once it is known."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    tally: RefusalTally = current_app.extensions["refusal_tally"]
    address = request.remote_addr or "unknown"
    tally.count(utcnow(), address, status=status, reason=reason, route=f"{request.method} {rule}",
                client=client_name, tenant=tenant)
    if status in (401, 403):
        try:
            current_app.extensions["refusal_limiter"].count(address, bucket)
        except Exception:  # the refusal stands even if the limiter's storage is unreachable
            current_app.logger.exception("could not count a refused request")
    if not current_app.testing:
        _arm_timer(current_app._get_current_object())


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
    by_tenant: Counter = field(default_factory=Counter)

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
                "by_client": dict(self.by_client),
                **({"by_tenant": dict(self.by_tenant)} if self.by_tenant else {})}


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
              client: str | None, tenant: str | None = None) -> None:
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
            if tenant is not None:
                window.by_tenant[tenant] += 1

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
