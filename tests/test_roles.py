"""PostgreSQL: the service runs as a role that may add to the trail and the case ledger but never
change or remove what is there; the owner role runs the migrations (service.record.roles)."""
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from conftest import POSTGRES_URL, make_app, reset_postgres_schema
from service.record.db import Base
from service.record.roles import PRIVILEGES, RolesError, statements
from test_ledger import _event


def test_every_table_has_its_privileges_decided_and_none_may_rewrite_the_record():
    assert set(PRIVILEGES) == set(Base.metadata.tables) | {"alembic_version"}
    for table in ("trail_entries", "trail_leaves", "trail_nodes", "trail_checkpoints", "case_events", "trail_head"):
        assert not {"UPDATE", "DELETE", "TRUNCATE"} & set(PRIVILEGES[table]), table
    with pytest.raises(RolesError, match="no privileges are decided for table.*new_table"):
        statements("s", "o", "v", ["trail_entries", "new_table"], [])
    with pytest.raises(RolesError, match="letters, digits"):
        statements("s", "o", 'v"; DROP TABLE x; --', ["trail_entries"], [])


@pytest.fixture
def roles(postgres_url):
    """The schema migrated by an app, then the two roles made by `db roles`; dropped afterwards
    (roles belong to the whole server, not to this run's schema)."""
    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url)
    suffix = uuid.uuid4().hex[:8]
    owner, service = f"sg_owner_{suffix}", f"sg_service_{suffix}"
    result = app.test_cli_runner().invoke(args=["db", "roles", "--owner", owner, "--service", service, "--print-sql"])
    app.extensions["db_engine"].dispose()
    assert result.exit_code == 0, result.output
    assert 'GRANT SELECT, INSERT ON TABLE' in result.output and "roles ready" in result.output
    yield postgres_url, owner, service
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        for role in (owner, service):
            conn.execute(text(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER'))
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


def _as(url: str, role: str):
    return create_engine(url + f"%20-crole%3D{role}")


@pytest.mark.postgres
def test_the_service_role_appends_to_the_trail_and_case_events_but_never_updates_or_deletes(roles):
    url, owner, service = roles
    app = make_app(url + f"%20-crole%3D{service}")
    # The service at work under its role: a case event (the ledger and the trail), sealed.
    client = app.test_client()
    assert _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                  form="written").status_code == 201
    worked = app.test_cli_runner().invoke(args=["worker", "--once", "--as-of", "2026-01-06"])
    assert worked.exit_code == 0 and "recheck_open_cases: as_of=2026-01-06 cases_checked=1" in worked.output, \
        worked.output
    with app.extensions["db_engine"].connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == service
        # Row-level security: a raw connection that names no tenant sees no leaf; '*', every log's.
        assert conn.execute(text("SELECT count(*) FROM trail_leaves")).scalar_one() == 0
        conn.execute(text("SELECT set_config('sg.tenant', '*', false)"))
        assert conn.execute(text("SELECT count(*) FROM trail_leaves")).scalar_one() >= 2  # sealed
    verified = client.get("/v1/trail/verify")
    assert verified.status_code == 200 and verified.get_json()["ok"] is True, verified.get_json()
    app.extensions["db_engine"].dispose()
    engine = _as(url, service)
    refused = ["UPDATE trail_entries SET verdict = 'allow'", "DELETE FROM trail_entries",
               "UPDATE case_events SET accepted = true", "DELETE FROM case_events",
               "UPDATE trail_leaves SET hash = hash", "DELETE FROM trail_checkpoints",
               "DELETE FROM trail_nodes", "TRUNCATE trail_entries CASCADE", "UPDATE trail_pending SET hash = NULL",
               "DROP TABLE case_events", "ALTER TABLE trail_entries DROP COLUMN body",
               "UPDATE alembic_version SET version_num = '0001'"]
    for statement in refused:
        with engine.connect() as conn, pytest.raises(ProgrammingError, match="permission denied|must be owner"):
            conn.execute(text(statement))
    with engine.begin() as conn:  # INSERT works
        # Row-level security (migration 0013_tenants): a transaction names its tenant; '*' is every one.
        conn.execute(text("SELECT set_config('sg.tenant', '*', true)"))
        conn.execute(text(
            "INSERT INTO trail_entries (seq, entry_id, kind, recorded_at, rule_ids, ruleset_version, body, "
            "hash_scheme) VALUES (nextval('trail_entries_seq'), 'probe', 'probe', now(), '[]', 'v', '{}', 3)"))
        conn.execute(text(
            "INSERT INTO case_events (case_id, case_opened_at, seq, client_key, accepted, type, at, actor_id, "
            "actor_role, recorded_at, decision_id, response_status, response) SELECT case_id, case_opened_at, 99, "
            "'probe', false, 'probe', now(), 'a', 'hr', now(), 'probe', 409, '{}' FROM case_events LIMIT 1"))
        assert conn.execute(text("SELECT count(*) FROM case_events WHERE client_key = 'probe'")).scalar_one() == 1
    engine.dispose()
    # The owner, which runs the migrations, may change the schema.
    engine = _as(url, owner)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE trail_entries ADD COLUMN probe integer"))
        conn.execute(text("ALTER TABLE trail_entries DROP COLUMN probe"))
    engine.dispose()


@pytest.mark.postgres
def test_roles_refuse_a_schema_not_yet_migrated(postgres_url):
    reset_postgres_schema(postgres_url)
    app = make_app("sqlite://")
    result = app.test_cli_runner().invoke(args=["db", "roles", "--owner", "o_x", "--service", "s_x",
                                                "--url", postgres_url])
    assert result.exit_code != 0 and "run the migrations first" in result.output
