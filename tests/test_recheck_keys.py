"""The employee facts a case's re-check keeps are sealed: the database holds no pregnancy date
in clear, a closed case keeps nothing, a key that does not open them never lets a case be
decided without them, and a replaced key still opens what it sealed."""
import base64
import logging

import pytest
from sqlalchemy import text

from conftest import KNOWN_EMPLOYEE_FACTS, make_app
from service import create_app
from service.record.models import CaseRecheck
from service.record.recheck_keys import RecheckKeyError, key_id
from test_ledger import E1001, _event

CASE_ID = "SEP-2026-001"
DUE = "2026-09-17"
PREGNANT = {**E1001, "pregnancy": {"status": "pregnant", "confirmed_on": "2026-01-02", "expected_due_date": DUE}}
KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


def _raw_rows(app) -> list[dict]:
    with app.extensions["db_engine"].connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text("SELECT * FROM case_rechecks"))]


def _worker(app, as_of):
    result = app.test_cli_runner().invoke(args=["worker", "--once", "--as-of", as_of])
    assert result.exit_code == 0, result.output
    return result.output.split("recheck_open_cases:")[1].splitlines()[0]


def test_the_stored_facts_hold_no_pregnancy_date_in_clear_and_a_closed_case_keeps_nothing(database_url):
    app = make_app(database_url, RECHECK_KEY=KEY_A)
    client = app.test_client()
    assert _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                  employee=PREGNANT, form="written").status_code == 201
    [row] = _raw_rows(app)
    assert set(row) >= {"employee_sealed", "key_id"} and "employee" not in row
    stored = b"".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row.values())
    for clear in (DUE.encode(), b"2026-01-02", b"pregnan", b"E1001"):
        assert clear not in stored
    assert row["key_id"] == key_id(b"A" * 32)
    with app.extensions["db_sessions"]() as session:
        row = session.get(CaseRecheck, ("default", CASE_ID))
        assert app.extensions["recheck_keys"].open(CASE_ID, row.key_id, row.employee_sealed)["pregnancy"] == \
            PREGNANT["pregnancy"]
        # Sealed for this case: copied onto another case, it does not open.
        with pytest.raises(RecheckKeyError):
            app.extensions["recheck_keys"].open("SEP-OTHER", row.key_id, row.employee_sealed)
    _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager", employee=PREGNANT)
    assert "cases_checked=1" in _worker(app, "2026-01-07")
    _event(client, "k3", "offboarding_started", "2026-01-07T11:00:00+08:00", "HR7", "hr", employee=PREGNANT)
    assert _event(client, "k4", "offboarding_completed", "2026-01-08T10:00:00+08:00", "HR7", "hr",
                  employee=PREGNANT).status_code == 201
    assert _raw_rows(app) == []  # closed by the event: deleted at once, not at the next re-check
    # A check naming the closed case gives facts; they are not kept.
    told = client.post("/v1/checks", json={"as_of": "2026-01-09", "case_id": CASE_ID, "employee": PREGNANT,
                                           "action": {"type": "edit_employee_record",
                                                      "actor": {"id": "HR9", "role": "hr"}}})
    assert told.status_code == 200
    assert _raw_rows(app) == []
    app.extensions["db_engine"].dispose()


def test_a_key_that_does_not_open_the_facts_skips_the_case_and_never_allows(database_url, caplog):
    app = make_app(database_url, RECHECK_KEY=KEY_A)
    client = app.test_client()
    _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
           employee=PREGNANT, form="written")
    _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager", employee=PREGNANT)
    app.extensions["db_engine"].dispose()
    # The same database under another key (lost, or the old one left out of RECHECK_OLD_KEYS).
    stranger = make_app(database_url, RECHECK_KEY=KEY_B)
    with caplog.at_level(logging.ERROR, logger="service.record.rechecks"):
        line = _worker(stranger, "2026-01-07")
    assert "cases_checked=0" in line and "cases_skipped=1" in line and "verdicts_changed=0" in line, line
    [record] = [r for r in caplog.records if r.name == "service.record.rechecks"]
    assert CASE_ID in record.getMessage() and key_id(b"A" * 32) in record.getMessage()
    assert DUE not in caplog.text and "pregnan" not in caplog.text
    with stranger.extensions["db_sessions"]() as session:
        row = session.get(CaseRecheck, ("default", CASE_ID))
        assert row.verdict is None and row.key_id == key_id(b"A" * 32)  # not decided, not overwritten
    # Tampered with under the right key: refused alike.
    with stranger.extensions["db_engine"].begin() as conn:
        sealed = bytearray(conn.execute(text("SELECT employee_sealed FROM case_rechecks")).scalar_one())
        sealed[-1] ^= 1
        conn.execute(text("UPDATE case_rechecks SET employee_sealed = :s"), {"s": bytes(sealed)})
    stranger.extensions["db_engine"].dispose()
    owner = make_app(database_url, RECHECK_KEY=KEY_A)
    assert "cases_skipped=1" in _worker(owner, "2026-01-08")
    owner.extensions["db_engine"].dispose()


def _tell(client, as_of, employee):
    """A check naming the case: the EHR gives the employee's facts as they are now."""
    answer = client.post("/v1/checks", json={"as_of": as_of, "case_id": "NR-1", "employee": employee,
                                             "action": {"type": "edit_employee_record",
                                                        "actor": {"id": "HR9", "role": "hr"}}})
    assert answer.status_code == 200, answer.get_json()


def test_a_replaced_key_still_opens_what_it_sealed_and_new_facts_take_the_new_key(database_url):
    employee = {**KNOWN_EMPLOYEE_FACTS, "id": "E2002", "gender": "female", "children": [],
                "pregnancy": {"status": "not_pregnant"},
                "contract": {"type": "fixed_term", "end_date": "2026-01-20", "in_probation": False,
                             "consecutive_fixed_terms": 1}}
    pregnant = {**employee, "pregnancy": {"status": "pregnant", "expected_due_date": DUE}}
    app = make_app(database_url, RECHECK_KEY=KEY_A)
    assert app.test_client().post("/v1/cases/NR-1/events", json={
        "client_key": "nr-1", "case": {"kind": "non_renewal", "hr_owner_id": "HR7"}, "employee": employee,
        "event": {"type": "offboarding_started", "at": "2026-01-20T09:00:00+08:00",
                  "actor": {"id": "HR7", "role": "hr"}}}).status_code == 201
    _tell(app.test_client(), "2026-01-20", pregnant)
    app.extensions["db_engine"].dispose()
    rotated = make_app(database_url, RECHECK_KEY=KEY_B, RECHECK_OLD_KEYS=KEY_A)
    line = _worker(rotated, "2026-01-21")
    assert "cases_checked=1" in line and "cases_skipped=0" in line, line
    with rotated.extensions["db_sessions"]() as session:
        # A deny, not the warn of facts unknown: the pregnancy was read through the old key,
        # and the facts are sealed again with the new one.
        row = session.get(CaseRecheck, ("default", "NR-1"))
        assert (row.verdict, row.key_id) == ("deny", key_id(b"B" * 32))
        assert "lcl-42-4.protected-period" in row.rule_ids
        sealed_again = row.employee_sealed
    _tell(rotated.test_client(), "2026-01-21", pregnant)
    [row] = _raw_rows(rotated)
    assert row["key_id"] == key_id(b"B" * 32) and bytes(row["employee_sealed"]) != bytes(sealed_again)  # new nonce
    rotated.extensions["db_engine"].dispose()
    # Once every row is sealed with the new key, the old one can go.
    only_new = make_app(database_url, RECHECK_KEY=KEY_B)
    line = _worker(only_new, "2026-01-22")
    assert "cases_checked=1" in line and "cases_skipped=0" in line, line
    only_new.extensions["db_engine"].dispose()


@pytest.mark.parametrize("config, message", [
    ({"RECHECK_KEY": base64.b64encode(b"short").decode()}, "RECHECK_KEY must be 32 bytes"),
    ({"RECHECK_KEY": "not base64!"}, "RECHECK_KEY is not base64"),
    ({"RECHECK_KEY": KEY_A, "RECHECK_OLD_KEYS": "%%"}, "RECHECK_OLD_KEYS is not base64"),
])
def test_a_malformed_key_stops_the_start(tmp_path, config, message):
    with pytest.raises(RecheckKeyError, match=message):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", **config})
