"""401/403 refusals (issue 14, item 6): rate-limited per client address and key prefix, answered 429
in the error shape past the limit, and counted in the trail per address and minute, never one entry
each. A valid key is never refused for others' failures from its address (issue 21)."""
import datetime as dt

import pytest

from service.http import refusals
from service.http.keys import create_client
from service.http.refusal_limit import refusal_bucket
from service.http.refusals import OTHER_ADDRESSES, RefusalTally, flush_refusals
from tests.conftest import TEST_KEY, check_body, make_app


@pytest.fixture
def limited_app(database_url):
    app = make_app(database_url, REFUSAL_RATE_LIMIT="5 per minute")
    yield app
    app.extensions["db_engine"].dispose()


class Clock:
    """The tally's clock. (Not freezegun: the limiter's storage expires its counts in a thread
    of its own, where freezegun gives the real time.)"""

    def __init__(self, now: str):
        self.move_to(now)

    def move_to(self, now: str):
        self.now = dt.datetime.fromisoformat(now)

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock("2026-03-01T04:00:10+00:00")
    monkeypatch.setattr(refusals, "utcnow", clock)
    return clock


def _caller(app, key: str | None, address: str = "127.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    if key is None:
        client.environ_base.pop("HTTP_AUTHORIZATION")
    else:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def _refusals(app) -> list[dict]:
    auditor = app.test_client()  # the suite's key, from an address of its own
    auditor.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    return auditor.get("/v1/trail?kind=access_refused").get_json()["entries"]


def test_a_flood_of_bad_keys_is_429_and_one_trail_entry_for_the_minute(limited_app, clock):
    flood = _caller(limited_app, "sg_guessed")
    statuses = [flood.post("/v1/checks", json=check_body()).status_code for _ in range(200)]
    assert statuses == [401] * 5 + [429] * 195
    assert flood.get("/v1/trail").headers["Retry-After"].isdigit()
    # Only that key prefix from that address waits out the window: no key at all, another
    # address, and above all a valid key from the same address (behind a proxy: everyone) do not.
    assert _caller(limited_app, None).get("/v1/trail").status_code == 401
    assert limited_app.test_client().get("/v1/trail").status_code == 200
    assert _caller(limited_app, "sg_guessed", "10.0.0.2").get("/v1/trail").status_code == 401
    assert _caller(limited_app, None).get("/healthz").status_code == 200  # never limited
    assert _refusals(limited_app) == []  # the minute is still under way

    clock.move_to("2026-03-01T04:01:20+00:00")
    assert _caller(limited_app, None, "10.0.0.3").get("/healthz").status_code == 200
    entries = {e["body"]["address"]: e for e in _refusals(limited_app)}  # any request after the minute writes it
    assert sorted(entries) == ["10.0.0.2", "127.0.0.1"] and entries["10.0.0.2"]["body"]["count"] == 1
    entry = entries["127.0.0.1"]
    body = entry["body"]
    assert entry["kind"] == "access_refused" and entry["client_id"] is None
    assert body["address"] == "127.0.0.1" and body["window_start"] == "2026-03-01T04:00:00+00:00"
    assert body["window_seconds"] == 60 and body["count"] == 202
    assert body["by_status"] == {"401": 6, "429": 196}
    assert body["by_route"] == {"POST /v1/checks": 200, "GET /v1/trail": 2}
    assert body["by_reason"]["unknown or revoked API key"] == 5 and body["by_reason"]["missing API key"] == 1


def test_many_bad_keys_from_one_address_never_lock_out_a_valid_key_from_it(limited_app):
    """Behind a proxy every client has the proxy's address: one client's failures are not the others'."""
    for n in range(40):  # 40 different bad keys, and 40 requests with none, from one address
        assert _caller(limited_app, f"sg_{n:08d}-wrong").post("/v1/checks", json=check_body()).status_code == 401
        assert _caller(limited_app, None).post("/v1/checks", json=check_body()).status_code in (401, 429)
    assert _caller(limited_app, None).post("/v1/checks", json=check_body()).status_code == 429  # that bucket is full
    valid = limited_app.test_client()  # the suite's key, from the same address
    assert [valid.post("/v1/checks", json=check_body()).status_code for _ in range(3)] == [200] * 3
    # ... even when someone hammers its own public prefix with wrong keys
    own_prefix = refusal_bucket(TEST_KEY)
    statuses = [_caller(limited_app, own_prefix + "-wrong").get("/v1/trail").status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    assert valid.get("/v1/trail").status_code == 200


def test_a_wrong_key_at_the_sign_in_page_is_limited_by_its_prefix_too(limited_app):
    page = _caller(limited_app, None)
    statuses = [page.post("/login", data={"key": "sg_guessed-at-the-form"}).status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    assert page.post("/login", data={"key": TEST_KEY}).status_code == 303


def test_each_address_and_minute_is_one_entry(limited_app, clock):
    for address in ("10.0.0.1", "10.0.0.2"):
        for _ in range(3):
            assert _caller(limited_app, None, address).post("/v1/checks", json=check_body()).status_code == 401
    clock.move_to("2026-03-01T04:01:30+00:00")
    assert _caller(limited_app, None, "10.0.0.1").post("/v1/checks", json=check_body()).status_code == 401
    clock.move_to("2026-03-01T04:02:30+00:00")
    assert _caller(limited_app, None, "10.0.0.3").get("/healthz").status_code == 200
    entries = _refusals(limited_app)
    assert [(e["body"]["window_start"][11:16], e["body"]["address"], e["body"]["count"]) for e in entries] == [
        ("04:00", "10.0.0.1", 3), ("04:00", "10.0.0.2", 3), ("04:01", "10.0.0.1", 1)]


def test_a_key_without_the_scope_counts_and_names_its_client(limited_app):
    with limited_app.extensions["db_sessions"]() as session, session.begin():
        key = create_client(session, "auditor-portal", ["trail:read"])
    auditor = _caller(limited_app, key)
    statuses = [auditor.post("/v1/checks", json=check_body()).status_code for _ in range(7)]
    assert statuses == [403] * 5 + [429] * 2
    assert auditor.get("/v1/trail").status_code == 200  # what its scope allows, it still may
    assert flush_refusals(limited_app, everything=True) == 1
    [entry] = _refusals(limited_app)
    assert entry["client_id"] == "auditor-portal"  # every refusal named it, the 429s too
    assert entry["body"]["by_client"] == {"auditor-portal": 7} and entry["body"]["by_status"] == {"403": 5, "429": 2}


def test_a_valid_key_is_never_counted(limited_app):
    caller = limited_app.test_client()
    assert all(caller.post("/v1/checks", json=check_body()).status_code == 200 for _ in range(8))
    assert flush_refusals(limited_app, everything=True) == 0


def test_the_tally_is_bounded_in_addresses():
    tally = RefusalTally(60, max_addresses=2)
    at = dt.datetime(2026, 3, 1, 4, 0, 5, tzinfo=dt.timezone.utc)
    for address in ("a", "b", "c", "d", "a"):
        tally.count(at, address, status=401, reason="missing API key", route="POST /v1/checks", client=None)
    assert not tally.has_closed(at) and tally.has_closed(at + dt.timedelta(seconds=55))
    windows = tally.take(at + dt.timedelta(seconds=55))
    assert [(w.address, w.count) for w in windows] == [(OTHER_ADDRESSES, 2), ("a", 2), ("b", 1)]
    assert tally.take(None) == []


def test_the_limiter_counts_where_the_setting_says(tmp_path):
    with pytest.raises(Exception, match="nosuch"):
        make_app(f"sqlite:///{tmp_path / 'x.sqlite'}", RATELIMIT_STORAGE_URI="nosuch://host")
