"""GET /v1/trail by the event's own time (at_since/at_until) and by recorded time, with plain
dates read as days in China."""
from test_ledger import _event


def _seed(client):
    # Recorded now (the wall clock); the events themselves happened in January 2026.
    for key, type_, at, actor, role in (
            ("k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee"),
            ("k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager"),
            ("k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee"),
            # 15:00 in China, given in UTC: the same instant whatever the offset.
            ("k4", "withdrawal_accepted", "2026-01-08T07:00:00Z", "M3", "manager")):
        assert _event(client, key, type_, at, actor, role).status_code == 201
    check = {"as_of": "2026-01-07", "employee": {"id": "E1001"},
             "action": {"type": "review_case", "actor": {"id": "HR7", "role": "hr"}}}
    assert client.post("/v1/checks", json=check).status_code == 200


def _events(client, query):
    answer = client.get(f"/v1/trail?employee=E1001&{query}")
    assert answer.status_code == 200, answer.get_json()
    return [e["event_type"] or e["kind"] for e in answer.get_json()["entries"]]


def test_the_events_own_time_filters_by_day_in_china_and_by_instant(client):
    _seed(client)
    assert _events(client, "at_since=2026-01-06&at_until=2026-01-07") == ["resignation_approved", "check"]
    assert _events(client, "at_since=2026-01-08") == ["withdrawal_requested", "withdrawal_accepted"]
    assert _events(client, "at_until=2026-01-05") == ["resignation_submitted"]
    # An instant, in any offset: 12:00 in China is 04:00 UTC.
    assert _events(client, "at_since=2026-01-08T12:00:00%2B08:00") == ["withdrawal_accepted"]
    assert _events(client, "at_since=2026-01-08T04:00:00Z") == ["withdrawal_accepted"]
    assert _events(client, "at_until=2026-01-08T09:00:00%2B08:00&at_since=2026-01-08") == []
    # Recorded time is another thing: all of it was recorded today, none in January.
    assert _events(client, "until=2026-01-31") == []
    assert _events(client, "since=2026-01-01") == _events(client, "") != []
    assert _events(client, "since=2026-01-01&at_until=2026-01-05") == ["resignation_submitted"]


def test_event_time_pages_forward_without_losing_or_repeating_an_entry(client):
    _seed(client)
    seen, after = [], 0
    while True:
        page = client.get(f"/v1/trail?employee=E1001&at_since=2026-01-06&limit=1&after={after}").get_json()
        seen += [e["event_type"] or e["kind"] for e in page["entries"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == ["resignation_approved", "withdrawal_requested", "withdrawal_accepted", "check"]


def test_a_bad_time_bound_is_a_422_naming_the_field(client):
    for query, field in (("at_since=yesterday", "at_since"), ("until=2026-02-30", "until"),
                         ("since=2026-01-05T09:00:00", "since")):
        answer = client.get(f"/v1/trail?{query}")
        assert answer.status_code == 422, query
        assert field in {e["path"] for e in answer.get_json()["errors"]}, answer.get_json()
    naive = client.get("/v1/trail?at_since=2026-01-05T09:00:00").get_json()
    assert "offset" in naive["errors"][0]["reason"]


def test_the_trail_page_filters_by_the_events_day(client):
    _seed(client)
    page = client.get("/trail?employee=E1001&at_since=2026-01-08&at_until=2026-01-08")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('id="seq-') == 2


def test_a_decision_entry_is_listed_with_its_decision_read_by_fact_name(client):
    _seed(client)
    entries = client.get("/v1/trail?employee=E1001").get_json()["entries"]
    for entry in entries:
        decision = entry["decision"]
        answer = client.get(f"/v1/decisions/{entry['entry_id']}").get_json()
        assert decision["decision_id"] == entry["entry_id"] and decision["verdict"] == answer["verdict"]
        assert [(f["rule_id"], f["verdict"], f["outcome"], f["facts"]) for f in decision["findings"]] == \
            [(f["rule_id"], f["verdict"], f["outcome"], f["facts"]) for f in answer["findings"]]
        # body stays as stored: facts by their index, which the decision names
        assert all(key.isdigit() for key in entry["body"]["facts"])
        assert all(not name.isdigit() for f in decision["findings"] for name in f["facts"])
    approved = next(e for e in entries if e["event_type"] == "resignation_approved")["decision"]
    assert approved["verdict"] == "warn" and approved["findings"][0]["outcome"] == "unknown"
    change = client.get("/v1/trail?kind=ruleset_change").get_json()["entries"][0]
    assert change["decision"] is None


def test_a_decision_whose_rule_set_is_not_in_the_trail_is_listed_with_its_body_and_no_reading(app, client):
    _seed(client)
    check = client.get("/v1/trail?kind=check").get_json()["entries"][0]
    from service.record.models import TrailEntry
    with app.extensions["db_sessions"]() as session, session.begin():
        session.get(TrailEntry, check["seq"]).ruleset_version = "sha256:" + "0" * 64
    listed = next(e for e in client.get("/v1/trail").get_json()["entries"] if e["seq"] == check["seq"])
    assert listed["decision"] is None and listed["body"] == check["body"]
    assert client.get(f"/v1/decisions/{check['entry_id']}").status_code == 500
    assert client.get(f"/trail/{check['seq']}").status_code == 200
