"""The ledger lives in the trail: rows of case_events deleted, edited or inserted behind the
service's back never change a verdict (503 naming the case and the event), and `trail verify`
names every difference. On SQLite and PostgreSQL (the `app` fixture)."""
from sqlalchemy import text

from tests.test_ledger import PREGNANT, _event, _seed_until_withdrawal_accepted

CASE = "SEP-2026-001"


def _sql(app, statement, **params):
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text(statement), params)


def _offboard(client, key="k5"):
    return _event(client, key, "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr", employee=PREGNANT)


def _verify(app):
    return app.test_cli_runner().invoke(args=["trail", "verify"])


def _refused_for_the_ledger(answer, seq, *words):
    assert answer.status_code == 503, answer.get_json()
    body = answer.get_json()
    assert (body["code"], body["case_id"], body["seq"]) == (503, CASE, seq)
    assert "verdict" not in body
    for word in words:
        assert word in body["message"], body["message"]
    return body


def test_the_story_untouched_is_refused_and_the_ledger_agrees_with_the_trail(app, client):
    _seed_until_withdrawal_accepted(client)
    assert _offboard(client).status_code == 409
    result = _verify(app)
    assert result.exit_code == 0, result.stderr
    assert "ledger ok: the case_events of 1 case(s) agree with the trail" in result.output


def test_the_withdrawal_rows_deleted_do_not_turn_the_refusal_into_an_allow(app, client):
    _seed_until_withdrawal_accepted(client)
    # The attack of issue 21: the two withdrawal rows go, the trail is left as it is.
    _sql(app, "DELETE FROM case_events WHERE case_id = :c AND type IN ('withdrawal_requested', 'withdrawal_accepted')",
         c=CASE)

    _refused_for_the_ledger(_offboard(client), 3, "withdrawal_requested", "deleted")
    # Every other decision about the case is refused the same way: its page, its review, a check naming it.
    _refused_for_the_ledger(client.get(f"/v1/cases/{CASE}?as_of=2026-02-10"), 3)
    check = client.post("/v1/checks", json={"as_of": "2026-02-10", "employee": PREGNANT, "case_id": CASE,
                                            "action": {"type": "execute_offboarding", "actor": {"id": "HR7", "role": "hr"}}})
    _refused_for_the_ledger(check, 3)
    # Nothing was recorded for the refused attempt: the same key later records once.
    assert _sql_count(app, "SELECT count(*) FROM case_events WHERE client_key = 'k5'") == 0

    result = _verify(app)
    assert result.exit_code == 1
    assert "trail ok" in result.output  # the trail itself holds: it is what proves the rows wrong
    assert f"ledger DIFFERS: case {CASE}, event 3:" in result.stderr
    assert f"ledger DIFFERS: case {CASE}, event 4:" in result.stderr and "deleted" in result.stderr


def test_an_edited_row_is_named_by_its_field(app, client):
    _seed_until_withdrawal_accepted(client)
    # The manager's acceptance turned into a refused event: the withdrawal would stand pending.
    _sql(app, "UPDATE case_events SET accepted = false WHERE case_id = :c AND seq = 4", c=CASE)
    _refused_for_the_ledger(_offboard(client), 4, "accepted", "edited")
    assert "in accepted: edited" in _verify(app).stderr


def test_an_edited_replayed_answer_is_not_replayed(app, client):
    _seed_until_withdrawal_accepted(client)
    assert _offboard(client).status_code == 409
    # The stored answer of the refusal turned into a 201 allow, for the client key's retry to read.
    _sql(app, "UPDATE case_events SET response_status = 201 WHERE case_id = :c AND seq = 5", c=CASE)
    _refused_for_the_ledger(_offboard(client), 5, "response")


def test_an_inserted_row_is_named(app, client):
    _seed_until_withdrawal_accepted(client)
    # A forged rejection of the withdrawal, copied from the acceptance's row.
    _sql(app, "INSERT INTO case_events (case_id, case_opened_at, seq, client_key, accepted, type, at, actor_id, "
              "actor_role, recorded_at, decision_id, response_status, response) SELECT case_id, case_opened_at, 5, "
              "'forged', accepted, 'withdrawal_rejected', at, actor_id, actor_role, recorded_at, decision_id, "
              "response_status, response FROM case_events WHERE case_id = :c AND seq = 4", c=CASE)
    _refused_for_the_ledger(_offboard(client, "k6"), 5, "inserted")
    assert f"case {CASE}, event 5:" in _verify(app).stderr


def test_a_row_edited_with_its_trail_entry_is_caught_by_the_entrys_hash(app, client):
    _seed_until_withdrawal_accepted(client)
    _sql(app, "UPDATE case_events SET accepted = false WHERE case_id = :c AND seq = 4", c=CASE)
    _sql(app, "UPDATE trail_entries SET kind = 'event_refused' WHERE case_id = :c AND event_type = 'withdrawal_accepted'",
         c=CASE)
    _refused_for_the_ledger(_offboard(client), 4, "the trail was altered")
    result = _verify(app)
    assert result.exit_code == 1 and "trail BROKEN" in result.stderr


def test_a_case_row_edited_is_named(app, client):
    _seed_until_withdrawal_accepted(client)
    _sql(app, "UPDATE cases SET kind = 'employer_termination' WHERE id = :c", c=CASE)
    answer = client.get(f"/v1/cases/{CASE}")
    _refused_for_the_ledger(answer, 1, "the case row was edited")


def test_the_daily_recheck_sweep_and_rules_diff_skip_a_case_whose_ledger_differs(app, client):
    from service.record import db
    from service.flows.recheck import recheck_open_cases
    from service.clock import utcnow
    from service.flows.sla_sweep import sweep
    from service.tools.case_impact import case_impact
    import datetime as dt

    _seed_until_withdrawal_accepted(client)
    _sql(app, "DELETE FROM case_events WHERE case_id = :c AND seq = 3", c=CASE)
    with app.app_context():
        with db.session() as session, session.begin():
            rulebook = app.extensions["rulebook"]
            counts = recheck_open_cases(session, dt.date(2026, 2, 10), dt.datetime(2026, 2, 10, tzinfo=dt.timezone.utc),
                                        rulebook=rulebook, keys=app.extensions["recheck_keys"], tenant_id="default")
            swept = sweep(session, rulebook, dt.date(2026, 2, 10), utcnow())
            impact = case_impact(session, rulebook, rulebook, dt.date(2026, 2, 10))
    assert (counts["cases_checked"], counts["cases_skipped"]) == (0, 1)
    assert swept["cases_checked"] == 0
    assert impact.skipped == [CASE] and impact.open_cases == 0  # named as not decided


def _sql_count(app, statement):
    with app.extensions["db_engine"].connect() as conn:
        return conn.execute(text(statement)).scalar()
