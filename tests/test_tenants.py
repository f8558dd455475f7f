"""Many companies on one deployment (issue 22): each key belongs to a tenant, every case, event,
notification, re-check and page session to its key's tenant; another tenant's records answer 404
exactly as missing ones; a key asserts only the actor roles it was granted. On SQLite and
PostgreSQL (the `app` fixture); row-level security itself: tests/test_tenant_rls.py."""
import datetime as dt

import pytest
from sqlalchemy import select, text

from service.flows.sla_sweep import sweep_overdue
from service.http.keys import create_client
from service.http.page_sessions import COOKIE as PAGES_COOKIE
from service.http.refusals import flush_refusals
from service.record.db import make_engine, upgrade
from service.record.models import ApiClient, Case, Notification, TrailEntry
from service.record.notifications import notify
from service.clock import utcnow
from tests.test_ledger import CASE, E1001

CASE_ID = "SEP-2026-001"
E2002 = {**E1001, "id": "E2002"}


def _key(app, name, tenant, *scopes, roles=None):
    with app.extensions["db_sessions"]() as session, session.begin():
        return create_client(session, name, list(scopes or ("checks", "cases", "trail:read")), tenant_id=tenant,
                             roles=roles)


def _as(app, key):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


def _event(client, key, type_, at, actor_id, role, employee=E1001, case_id=CASE_ID, first=False):
    body = {"client_key": key, "employee": employee,
            "event": {"type": type_, "at": at, "actor": {"id": actor_id, "role": role}}}
    if first:
        body["case"] = CASE
    return client.post(f"/v1/cases/{case_id}/events", json=body)


def _submit(client, case_id=CASE_ID, employee=E1001):
    answer = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", employee["id"], "employee",
                    employee=employee, case_id=case_id, first=True)
    assert answer.status_code == 201, answer.get_json()
    return answer


# ---- keys ------------------------------------------------------------------------------------

def test_keys_create_takes_a_tenant_and_roles_prints_the_key_last_and_list_shows_them(app):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["keys", "create", "acme-portal", "--tenant", "acme", "--scope", "cases",
                               "--role", "employee", "--role", "manager"])
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]
    assert key.startswith("sg_")
    plain = runner.invoke(args=["keys", "create", "ehr", "--scope", "checks"])
    assert plain.exit_code == 0, plain.output
    with app.extensions["db_sessions"]() as session:
        clients = {c.name: c for c in session.scalars(select(ApiClient))}
    assert (clients["acme-portal"].tenant_id, clients["acme-portal"].roles) == ("acme", ["employee", "manager"])
    assert (clients["ehr"].tenant_id, clients["ehr"].roles) == ("default", None)  # today's keys: any role
    listing = runner.invoke(args=["keys", "list"]).output
    [acme_line] = [line for line in listing.splitlines() if line.startswith("acme-portal")]
    assert "tenant: acme" in acme_line and "roles: employee,manager" in acme_line
    [ehr_line] = [line for line in listing.splitlines() if line.startswith("ehr ")]
    assert "tenant: default" in ehr_line and "roles:" not in ehr_line
    # Names are the tenant's: revoking acme's portal by tenant leaves another tenant's of that name.
    runner.invoke(args=["keys", "create", "acme-portal", "--tenant", "globex", "--scope", "cases"])
    revoked = runner.invoke(args=["keys", "revoke", "acme-portal", "--tenant", "acme"])
    assert revoked.exit_code == 0 and "revoked 1 key(s)" in revoked.output
    with app.extensions["db_sessions"]() as session:
        assert {(c.tenant_id, c.revoked_at is None) for c in session.scalars(
            select(ApiClient).where(ApiClient.name == "acme-portal"))} == {("acme", False), ("globex", True)}


def test_keys_create_refuses_a_bad_tenant_or_an_unknown_role_and_creates_nothing(app):
    runner = app.test_cli_runner()
    bad_tenant = runner.invoke(args=["keys", "create", "x", "--tenant", "Acme Corp", "--scope", "checks"])
    assert bad_tenant.exit_code == 2 and "--tenant" in bad_tenant.output and "'Acme Corp'" in bad_tenant.output
    bad_role = runner.invoke(args=["keys", "create", "y", "--scope", "checks", "--role", "ceo"])
    assert bad_role.exit_code == 2 and "--role" in bad_role.output and "ceo" in bad_role.output
    assert "hr_admin" in bad_role.output  # the known roles are named
    listing = runner.invoke(args=["keys", "list"]).output
    assert not any(line.startswith(("x ", "y ")) for line in listing.splitlines())


# ---- another tenant's records are not there ----------------------------------------------------

def test_another_tenants_case_events_and_notifications_answer_as_missing_ones(app):
    acme, globex = _as(app, _key(app, "acme-ehr", "acme")), _as(app, _key(app, "globex-ehr", "globex"))
    _submit(acme)
    assert acme.get(f"/v1/cases/{CASE_ID}").status_code == 200

    theirs, missing = globex.get(f"/v1/cases/{CASE_ID}"), globex.get("/v1/cases/NO-SUCH-CASE")
    assert theirs.status_code == missing.status_code == 404  # never 403: existence is not revealed
    assert theirs.get_json() == {**missing.get_json(), "message": f"No case {CASE_ID}."}
    assert missing.get_json()["message"] == "No case NO-SUCH-CASE."
    # An event for it without case.kind is refused as for a case that does not exist.
    answer = _event(globex, "g2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    assert answer.status_code == 409 and "does not exist yet" in answer.get_json()["message"]
    # Notifications: acme's status change is acme's only.
    assert acme.get(f"/v1/notifications?case_id={CASE_ID}").get_json()["notifications"]
    assert globex.get(f"/v1/notifications?case_id={CASE_ID}").get_json()["notifications"] == []
    assert globex.get("/v1/notifications").get_json()["notifications"] == []
    # A check naming acme's case, from globex: no such case.
    check = globex.post("/v1/checks", json={"as_of": "2026-01-06", "employee": E1001, "case_id": CASE_ID,
                                            "action": {"type": "approve_resignation",
                                                       "actor": {"id": "M3", "role": "manager"}}})
    assert check.status_code == 422
    assert check.get_json()["errors"] == [{"path": "case_id", "reason": f"No case {CASE_ID} in the ledger."}]
    with app.extensions["db_sessions"]() as session:
        assert {(n.tenant_id, n.case_id) for n in session.scalars(select(Notification))} == {("acme", CASE_ID)}
        assert [(c.tenant_id, c.id) for c in session.scalars(select(Case))] == [("acme", CASE_ID)]


@pytest.mark.skipif(not hasattr(TrailEntry, "tenant_id"),
                    reason="a case's events are checked against its trail entries, which carry their tenant "
                           "only with branch logs (trail_entries.tenant_id)")
def test_the_same_case_id_in_two_tenants_is_two_cases(app):
    acme, globex = _as(app, _key(app, "acme-ehr", "acme")), _as(app, _key(app, "globex-ehr", "globex"))
    _submit(acme)
    # Globex's case of the same id is about another employee: not a conflict, another case.
    first = _submit(globex, employee=E2002)
    assert first.get_json()["event"]["seq"] == 1
    approved = _event(globex, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager",
                      employee=E2002)
    assert approved.status_code == 201 and approved.get_json()["event"]["seq"] == 2
    assert [e["type"] for e in acme.get(f"/v1/cases/{CASE_ID}").get_json()["events"]] == ["resignation_submitted"]
    theirs = globex.get(f"/v1/cases/{CASE_ID}").get_json()
    assert theirs["employee_id"] == "E2002" and len(theirs["events"]) == 2
    # The same client key (k1) in both tenants: each tenant's own event, never the other's answer replayed.
    assert acme.get(f"/v1/cases/{CASE_ID}").get_json()["employee_id"] == "E1001"


def test_two_tenants_hold_cases_and_notifications_of_the_same_ids_apart(app):
    """In storage: the same case id and the same dedupe key in two tenants are two rows each."""
    now = utcnow()
    with app.extensions["db_sessions"]() as session, session.begin():
        for tenant, employee in (("acme", "E1001"), ("globex", "E2002")):
            session.add(Case(tenant_id=tenant, id=CASE_ID, kind="resignation", employee_id=employee,
                             created_at=now, event_count=0))
            session.flush()
            assert notify(session, kind="status_changed", now=now, recipient_role="hr", recipient_id="HR7",
                          payload={}, dedupe_key=f"status:{CASE_ID}:1", case_id=CASE_ID, tenant_id=tenant)
        # The dedupe key is unique per tenant: acme's second one is dropped, globex's first was kept.
        assert notify(session, kind="status_changed", now=now, recipient_role="hr", recipient_id="HR7", payload={},
                      dedupe_key=f"status:{CASE_ID}:1", case_id=CASE_ID, tenant_id="acme") is None
    with app.extensions["db_sessions"]() as session:
        assert session.get(Case, ("acme", CASE_ID)).employee_id == "E1001"
        assert session.get(Case, ("globex", CASE_ID)).employee_id == "E2002"
        assert session.get(Case, ("default", CASE_ID)) is None
        assert sorted(session.scalars(select(Notification.tenant_id))) == ["acme", "globex"]


# ---- roles -----------------------------------------------------------------------------------

def test_a_key_asserting_a_role_it_was_not_granted_gets_403_and_the_refusal_is_recorded(app, client):
    made = app.test_cli_runner().invoke(args=["keys", "create", "self-service", "--tenant", "acme", "--scope", "cases",
                                              "--scope", "checks", "--role", "employee", "--role", "manager"])
    portal = _as(app, made.output.strip().splitlines()[-1])
    _submit(portal)  # the employee role: granted
    approved = _event(portal, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    assert approved.status_code == 201, approved.get_json()

    refused = _event(portal, "k3", "offboarding_started", "2026-01-20T10:00:00+08:00", "HR9", "hr_admin")
    assert refused.status_code == 403
    assert "hr_admin" in refused.get_json()["message"]
    # Nothing of it is written: no event.
    with app.extensions["db_sessions"]() as session:
        assert session.scalar(select(Case.event_count).where(Case.tenant_id == "acme", Case.id == CASE_ID)) == 2
    # A check asserting a role not granted: refused the same way.
    check = portal.post("/v1/checks", json={"as_of": "2026-01-20", "employee": E1001,
                                            "action": {"type": "execute_offboarding",
                                                       "actor": {"id": "HR9", "role": "hr"}}})
    assert check.status_code == 403 and "actor role hr" in check.get_json()["message"]
    # On record, as refusals are: counted per address and minute, with the reason and the tenant.
    flush_refusals(app, everything=True)
    [entry] = client.get("/v1/trail?kind=access_refused").get_json()["entries"]
    body = entry["body"]
    assert body["by_reason"] == {"actor role hr_admin not granted to the key": 1,
                                 "actor role hr not granted to the key": 1}
    assert body["by_status"] == {"403": 2} and body["by_client"] == {"self-service": 2}
    assert body["by_tenant"] == {"acme": 2}


def test_a_default_tenant_key_keeps_todays_behaviour(app, client):
    """The development key (the test client's) and a key made without --tenant are the default
    tenant's: they see each other's cases, and may assert any role."""
    _submit(client)
    ehr = _as(app, _key(app, "ehr", "default"))
    assert ehr.get(f"/v1/cases/{CASE_ID}").status_code == 200
    # Any role may be asserted: the rules decide (a verdict), not the key (no 403).
    answer = _event(ehr, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "HRA", "hr_admin")
    assert answer.status_code != 403 and answer.get_json()["verdict"] in ("allow", "warn", "deny")
    with app.extensions["db_sessions"]() as session:
        assert session.scalars(select(Case.tenant_id)).all() == ["default"]


# ---- the worker and the SLA sweep --------------------------------------------------------------

def test_the_sweep_runs_over_every_tenant_and_notifies_in_each_cases_tenant(app):
    acme, globex = _as(app, _key(app, "acme-ehr", "acme")), _as(app, _key(app, "globex-ehr", "globex"))
    _submit(acme, case_id="ACME-1")
    _submit(globex, case_id="GLOBEX-1", employee=E2002)
    # A tenant's own sweep (POST /v1/sla/sweep with its key) reviews its cases only.
    assert acme.post("/v1/sla/sweep", json={"as_of": "2026-01-07"}).get_json()["cases_checked"] == 1
    # The worker's (no tenant): every tenant's, each notification written with its case's tenant.
    with app.app_context():
        counts = sweep_overdue(app, dt.date(2026, 1, 20))
    assert counts["cases_checked"] == 2 and counts["notifications_created"] >= 2
    with app.extensions["db_sessions"]() as session:
        overdue = {(n.tenant_id, n.case_id) for n in session.scalars(
            select(Notification).where(Notification.kind.in_(("step_overdue", "step_escalated"))))}
    assert overdue == {("acme", "ACME-1"), ("globex", "GLOBEX-1")}
    assert {n["case_id"] for n in globex.get("/v1/notifications").get_json()["notifications"]} == {"GLOBEX-1"}


def test_the_daily_recheck_keeps_each_tenants_facts_sealed_to_its_case(app):
    acme = _as(app, _key(app, "acme-ehr", "acme"))
    _submit(acme, case_id="ACME-1")
    worked = app.test_cli_runner().invoke(args=["worker", "--once", "--as-of", "2026-01-06"])
    assert worked.exit_code == 0 and "recheck_open_cases: as_of=2026-01-06 cases_checked=1 cases_skipped=0" \
        in worked.output, worked.output
    # Sealed to acme's case: the same bytes under another tenant's case of that id do not open.
    from service.record.models import CaseRecheck
    from service.record.recheck_keys import RecheckKeyError
    from service.record.rechecks import kept_employee
    keys = app.extensions["recheck_keys"]
    with app.extensions["db_sessions"]() as session:
        row = session.get(CaseRecheck, ("acme", "ACME-1"))
        assert kept_employee(row, keys)["id"] == "E1001"
        moved = CaseRecheck(tenant_id="globex", case_id="ACME-1", key_id=row.key_id,
                            employee_sealed=row.employee_sealed)
        with pytest.raises(RecheckKeyError):
            kept_employee(moved, keys)


# ---- the pages -------------------------------------------------------------------------------

def test_signing_in_with_a_key_shows_only_its_tenants_cases(app):
    acme_key, globex_key = _key(app, "acme-ehr", "acme"), _key(app, "globex-auditor", "globex", "trail:read")
    _submit(_as(app, acme_key), case_id="ACME-1")
    browser = app.test_client()
    browser.environ_base.pop("HTTP_AUTHORIZATION")
    assert browser.post("/login", data={"key": globex_key, "next": "/rules"}).status_code == 303
    assert browser.get_cookie(PAGES_COOKIE) is not None
    assert browser.get("/cases/ACME-1").status_code == 404
    with app.extensions["db_sessions"]() as session:
        assert session.scalar(text("SELECT tenant_id FROM page_sessions")) == "globex"
    own = app.test_client()
    own.environ_base.pop("HTTP_AUTHORIZATION")
    own.post("/login", data={"key": acme_key, "next": "/rules"})
    assert own.get("/cases/ACME-1").status_code == 200


# ---- the migration ----------------------------------------------------------------------------

def test_existing_rows_migrate_to_the_default_tenant(database_url):
    engine = make_engine(database_url)
    upgrade(engine, "0012_verify")
    at = "2026-01-05 01:00:00"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO api_clients (id, name, key_digest, scopes, created_at) "
                          "VALUES ('c1', 'ehr', 'd1', '[\"cases\"]', :at)"), {"at": at})
        conn.execute(text("INSERT INTO cases (id, kind, employee_id, created_at, event_count) "
                          "VALUES ('C1', 'resignation', 'E1', :at, 1)"), {"at": at})
        conn.execute(text("INSERT INTO case_events (case_id, seq, client_key, accepted, type, at, actor_id, actor_role, "
                          "recorded_at, decision_id, response_status, response) VALUES ('C1', 1, 'k1', true, "
                          "'resignation_submitted', :at, 'E1', 'employee', :at, 'd', 201, '{}')"), {"at": at})
        conn.execute(text("INSERT INTO notifications (id, created_at, kind, case_id, recipient_role, payload, "
                          "dedupe_key, status, attempts, next_attempt_at) VALUES ('n1', :at, 'status_changed', 'C1', "
                          "'hr', '{}', 'status:C1:1', 'pending', 0, :at)"), {"at": at})
        conn.execute(text("INSERT INTO case_rechecks (case_id, verdict) VALUES ('C1', 'allow')"))
        conn.execute(text("INSERT INTO page_sessions (token_digest, client_id, created_at, expires_at) "
                          "VALUES ('t1', 'c1', :at, :at)"), {"at": at})
    upgrade(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # row-level security: this transaction reads every tenant
            conn.execute(text("SELECT set_config('sg.tenant', '*', true)"))
        for table in ("api_clients", "cases", "case_events", "notifications", "case_rechecks", "page_sessions"):
            assert conn.execute(text(f"SELECT tenant_id FROM {table}")).scalars().all() == ["default"], table
        # Case ids are per tenant now: another tenant's C1, its event 1 and its notification fit beside.
        conn.execute(text("INSERT INTO cases (tenant_id, id, kind, employee_id, created_at, event_count) "
                          "VALUES ('acme', 'C1', 'resignation', 'E9', :at, 1)"), {"at": at})
        conn.execute(text("INSERT INTO case_events (tenant_id, case_id, case_opened_at, seq, client_key, accepted, type, "
                          "at, actor_id, actor_role, recorded_at, decision_id, response_status, response) VALUES "
                          "('acme', 'C1', :at, 1, 'k1', true, 'resignation_submitted', :at, 'E9', 'employee', :at, "
                          "'d2', 201, '{}')"),
                     {"at": at})
        conn.execute(text("INSERT INTO notifications (tenant_id, id, created_at, kind, case_id, recipient_role, "
                          "payload, dedupe_key, status, attempts, next_attempt_at) VALUES ('acme', 'n2', :at, "
                          "'status_changed', 'C1', 'hr', '{}', 'status:C1:1', 'pending', 0, :at)"), {"at": at})
        assert conn.execute(text("SELECT count(*) FROM cases WHERE id = 'C1'")).scalar_one() == 2
    # An event of a case no tenant holds is refused by the composite foreign key.
    with pytest.raises(Exception, match="(?i)foreign key"):
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT set_config('sg.tenant', '*', true)"))
            conn.execute(text("INSERT INTO case_events (tenant_id, case_id, case_opened_at, seq, client_key, accepted, "
                              "type, at, actor_id, actor_role, recorded_at, decision_id, response_status, response) "
                              "VALUES ('globex', 'C1', :at, 1, 'k1', true, 'resignation_submitted', :at, 'E9', "
                              "'employee', :at, 'd3', 201, '{}')"), {"at": at})
    engine.dispose()


# ---- admin: the statutes are the deployment's, a pack its company's ------------------------------

def test_a_companys_key_reloads_its_own_pack_only_and_never_the_statutes(app):
    acme = _as(app, _key(app, "acme-admin", "acme", "rules:admin"))
    globex = _as(app, _key(app, "globex-admin", "globex", "rules:admin"))
    operator = _as(app, _key(app, "operator", "default", "rules:admin"))
    assert acme.post("/v1/admin/rules/packs/acme/reload").status_code == 200
    # Another company's pack is not there for it (404, as a missing pack), not even its problems.
    assert acme.post("/v1/admin/rules/packs/globex/reload").status_code == 404
    assert globex.post("/v1/admin/rules/packs/globex/reload").status_code == 200
    answer = acme.post("/v1/admin/rules/reload")
    assert answer.status_code == 403 and "statutes bind every company" in answer.get_json()["message"]
    assert operator.post("/v1/admin/rules/packs/globex/reload").status_code == 200
    assert operator.post("/v1/admin/rules/reload").status_code == 200
