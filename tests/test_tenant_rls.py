"""PostgreSQL row-level security, the second wall between tenants (migration 0013_tenants): a
query that forgets its tenant filter still sees only the tenant its transaction names (the GUC
sg.tenant, set per transaction by service.record.db), and nothing when none is named.

Superusers bypass RLS and the tests connect as `postgres`, so these tests act as a role of their
own: not a superuser, not the tables' owner, as production connects (docs/tenants.md)."""
import datetime as dt
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import ProgrammingError

from conftest import POSTGRES_URL, make_app, reset_postgres_schema
from service.http.keys import create_client
from service.record.db import tenant_info
from service.record.models import Case, Notification

pytestmark = pytest.mark.postgres

TENANT_TABLES = ("api_clients", "cases", "case_events", "notifications", "case_rechecks", "page_sessions")
# The trail's tables (migration 0014_tenant_logs): one Merkle log per tenant.
TENANT_TABLES += ("trail_entries", "trail_pending", "trail_leaves", "trail_nodes", "trail_checkpoints",
                  "trail_cosignatures", "trail_verifications")


@pytest.fixture
def rls(postgres_url):
    """A migrated schema with cases of two tenants, and a LOGIN role (no superuser, not the
    owner) granted its tables; dropped afterwards (roles belong to the whole server)."""
    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url)
    now = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
    with app.extensions["db_sessions"]() as session, session.begin():  # a command's session: every tenant
        for tenant, case_id in (("acme", "A-1"), ("acme", "A-2"), ("globex", "G-1")):
            session.add(Case(tenant_id=tenant, id=case_id, kind="resignation", employee_id="E1", created_at=now,
                             event_count=0))
    role = f"sg_app_rls_{uuid.uuid4().hex[:8]}"
    with app.extensions["db_engine"].begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
    app.extensions["db_engine"].dispose()
    yield postgres_url, role
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


def _as_role(url: str, role: str) -> str:
    return url + f"%20-crole%3D{role}"


def test_every_tenant_owned_table_is_forced_under_one_policy(rls):
    url, _ = rls
    engine = create_engine(url)
    with engine.connect() as conn:
        flags = dict(conn.execute(text(
            "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
            "WHERE relname = ANY(:t) AND relnamespace = current_schema()::regnamespace"),
            {"t": list(TENANT_TABLES)}).all())
        policies = conn.execute(text("SELECT tablename, qual, with_check FROM pg_policies "
                                     "WHERE schemaname = current_schema()")).all()
        # Migration 0015_scale: trail_entries and case_events are partitioned by month; each
        # partition carries its parent's policy (a query naming a partition is walled too).
        partitions = conn.scalars(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(:t) "
            "AND c.relnamespace = current_schema()::regnamespace"), {"t": list(TENANT_TABLES)}).all()
        forced = dict(conn.execute(text(
            "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
            "WHERE relname = ANY(:t) AND relnamespace = current_schema()::regnamespace"), {"t": partitions}).all())
    engine.dispose()
    assert flags == {table: True for table in TENANT_TABLES}
    assert {"trail_entries_default", "case_events_default"} <= set(partitions)
    assert forced == {partition: True for partition in partitions}
    assert sorted(p.tablename for p in policies) == sorted([*TENANT_TABLES, *partitions, "trail_archives"])
    for policy in policies:
        assert "current_setting('sg.tenant'" in policy.qual and policy.qual == policy.with_check


def test_an_unfiltered_query_sees_only_the_tenant_its_transaction_names(rls):
    url, role = rls
    engine = create_engine(url)  # the superuser, who SETs ROLE to the non-superuser in each transaction
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{role}"'))
        conn.execute(text("SELECT set_config('sg.tenant', 'acme', true)"))
        # On purpose: no WHERE tenant_id = ...
        assert conn.execute(text("SELECT tenant_id, id FROM cases ORDER BY id")).all() == [("acme", "A-1"),
                                                                                           ("acme", "A-2")]
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{role}"'))  # no tenant named: nothing at all
        assert conn.execute(text("SELECT * FROM cases")).all() == []
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{role}"'))
        conn.execute(text("SELECT set_config('sg.tenant', '*', true)"))  # the worker's, the sealer's, a command's
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == 3
    # The setting is the transaction's own (set_config(..., true)): the next one starts without it.
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(text("SELECT set_config('sg.tenant', 'acme', true)"))
        with conn.begin():
            conn.execute(text(f'SET LOCAL ROLE "{role}"'))
            assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == 0
    # WITH CHECK: a tenant cannot write a row into another tenant, nor move one there.
    with pytest.raises(ProgrammingError, match="row-level security"):
        with engine.begin() as conn:
            conn.execute(text(f'SET LOCAL ROLE "{role}"'))
            conn.execute(text("SELECT set_config('sg.tenant', 'acme', true)"))
            conn.execute(text("INSERT INTO cases (tenant_id, id, kind, employee_id, created_at, event_count) "
                              "VALUES ('globex', 'G-2', 'resignation', 'E1', now(), 0)"))
    with pytest.raises(ProgrammingError, match="row-level security"):
        with engine.begin() as conn:
            conn.execute(text(f'SET LOCAL ROLE "{role}"'))
            conn.execute(text("SELECT set_config('sg.tenant', 'acme', true)"))
            conn.execute(text("UPDATE cases SET tenant_id = 'globex' WHERE id = 'A-1'"))
    with engine.begin() as conn:  # and another tenant's rows are not there to update or delete
        conn.execute(text(f'SET LOCAL ROLE "{role}"'))
        conn.execute(text("SELECT set_config('sg.tenant', 'acme', true)"))
        assert conn.execute(text("DELETE FROM cases WHERE id = 'G-1'")).rowcount == 0
    engine.dispose()


def test_the_service_sets_the_tenant_of_each_transaction(rls):
    """The service connected as the non-superuser role: a session opened for a tenant sees that
    tenant's rows even through a query without a tenant filter; a command's session, every
    tenant's; and the API answers each key from its own tenant's rows."""
    url, role = rls
    app = make_app(_as_role(url, role))
    sessions = app.extensions["db_sessions"]
    with sessions(info=tenant_info("globex")) as session:
        assert session.scalar(text("SELECT current_user")) == role
        assert [c.id for c in session.scalars(select(Case))] == ["G-1"]  # forgot its filter, on purpose
    with sessions(info=tenant_info("initech")) as session:
        assert session.scalars(select(Case)).all() == []
    with sessions() as session:
        assert len(session.scalars(select(Case)).all()) == 3
    with sessions(info=tenant_info("globex")) as session, session.begin():
        # A notification written in globex's transaction for acme is refused by the policy.
        session.add(Notification(id=str(uuid.uuid4()), tenant_id="acme", created_at=dt.datetime.now(dt.timezone.utc),
                                 kind="status_changed", recipient_role="hr", payload={}, dedupe_key="x",
                                 status="pending", attempts=0, next_attempt_at=dt.datetime.now(dt.timezone.utc)))
        with pytest.raises(ProgrammingError, match="row-level security"):
            session.flush()
        session.rollback()
    with sessions() as session, session.begin():
        acme_key = create_client(session, "acme-ehr", ["cases"], tenant_id="acme")
        globex_key = create_client(session, "globex-ehr", ["cases"], tenant_id="globex")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {globex_key}"
    assert client.get("/v1/cases/A-1").status_code == 404
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {acme_key}"
    answer = client.get("/v1/cases/A-1?as_of=2026-01-06")
    assert answer.status_code == 200 and answer.get_json()["id"] == "A-1"
    app.extensions["db_engine"].dispose()
