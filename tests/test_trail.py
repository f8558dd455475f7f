"""The trail: every decision appended to one hash chain; tampering is detected and named."""
import datetime as dt
import hashlib
import json
import logging
import multiprocessing
import os

import pytest
from sqlalchemy import create_engine, func, select, text

from service.record.db import make_engine, upgrade
from service.record.models import TrailEntry
from service.record.trail import HASHED, entry_hash, verify_chain
from tests.conftest import check_body


def _post(client, **overrides):
    response = client.post("/v1/checks", json=check_body(**overrides))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _verify(app):
    with app.extensions["db_sessions"]() as session:
        return verify_chain(session)


def _sql(app, statement, **params):
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text(statement), params)


def test_start_up_records_the_rule_set_version_once(app, client):
    entries = client.get("/v1/trail?kind=ruleset_change").get_json()["entries"]
    assert len(entries) == 1
    assert entries[0]["ruleset_version"] == app.extensions["rulebook"].version
    assert "lcl-42-4.protected-period@2008-01-01" in entries[0]["body"]["rules"]


def test_each_decision_is_a_chained_entry_with_digest_not_health_facts(app, client):
    first = _post(client)
    second = _post(client, employee={"id": "E2", "gender": "male", "medical_treatment": {"status": "none"}})
    page = client.get("/v1/trail?kind=check").get_json()
    assert [e["entry_id"] for e in page["entries"]] == [first["decision_id"], second["decision_id"]]
    entry = page["entries"][0]
    assert entry["employee_id"] == "E1001" and entry["actor_id"] == "HR7" and entry["verdict"] == "deny"
    assert entry["process_type"] == "employer_termination"
    assert entry["rule_ids"] == ["lcl-42-4.protected-period", "lcl-46.severance-employer-termination",
                                 "lcl-50.exit-certificate"]
    assert entry["request_digest"].startswith("hmac-sha256:")
    stored = json.dumps(page, ensure_ascii=False)
    assert "\"pregnant\"" not in stored  # the value; its name is kept
    assert "employee.pregnancy.status" in stored
    assert _verify(app).ok


def test_trail_filters_and_pages(client):
    for _ in range(3):
        _post(client)
    _post(client, employee={"id": "E9", "gender": "male", "medical_treatment": {"status": "none"}})
    assert len(client.get("/v1/trail?employee=E1001").get_json()["entries"]) == 3
    assert len(client.get("/v1/trail?verdict=allow").get_json()["entries"]) == 1
    assert len(client.get("/v1/trail?rule_id=lcl-42-4.protected-period").get_json()["entries"]) == 3
    assert len(client.get("/v1/trail?process_type=employer_termination&kind=check").get_json()["entries"]) == 4
    assert client.get("/v1/trail?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z").get_json()["entries"] == []
    page = client.get("/v1/trail?kind=check&limit=3").get_json()
    assert len(page["entries"]) == 3 and page["next_after"] == page["entries"][-1]["seq"]
    rest = client.get(f"/v1/trail?kind=check&limit=3&after={page['next_after']}").get_json()
    assert len(rest["entries"]) == 1 and rest["next_after"] is None
    bad = client.get("/v1/trail?verdict=maybe")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "verdict"


@pytest.mark.parametrize("tamper, bad_seq, words", [
    ("update", 3, "altered"),
    ("delete", 3, "missing"),
    ("swap", 2, "does not follow"),
    ("truncate", 4, "removed from the end"),
    ("scheme", 3, "unknown hash scheme"),
    ("old_scheme", 3, "altered"),
])
def test_tampering_is_detected_and_names_the_entry(app, client, tamper, bad_seq, words):
    for _ in range(4):
        _post(client)  # seq 1 is the rule-set entry; checks are 2..5
    assert _verify(app).ok
    if tamper == "update":
        with app.extensions["db_sessions"]() as session, session.begin():
            entry = session.get(TrailEntry, 3)
            body = json.loads(json.dumps(entry.body))
            body["findings"][0]["verdict"] = "warn"
            entry.body = body
    elif tamper == "delete":
        _sql(app, "DELETE FROM trail_rule_hits WHERE seq = 3")
        _sql(app, "DELETE FROM trail_entries WHERE seq = 3")
    elif tamper in ("scheme", "old_scheme"):
        _sql(app, "UPDATE trail_entries SET hash_scheme = :scheme WHERE seq = 3",
             scheme=3 if tamper == "scheme" else 1)
    elif tamper == "swap":
        _sql(app, "DELETE FROM trail_rule_hits WHERE seq IN (2, 3)")
        _sql(app, "UPDATE trail_entries SET seq = -1 WHERE seq = 2")
        _sql(app, "UPDATE trail_entries SET seq = 2 WHERE seq = 3")
        _sql(app, "UPDATE trail_entries SET seq = 3 WHERE seq = -1")
    else:
        _sql(app, "DELETE FROM trail_rule_hits WHERE seq = 5")
        _sql(app, "DELETE FROM trail_entries WHERE seq = 5")
        bad_seq = 5
    result = _verify(app)
    assert not result.ok
    assert result.first_bad_seq == bad_seq, result
    assert words in result.reason
    body = app.test_client().get("/v1/trail/verify").get_json()
    assert body["ok"] is False and body["first_bad_seq"] == bad_seq
    cli = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert cli.exit_code == 1 and f"entry {bad_seq}" in cli.output


def _link(prev_hash, seq, entry):
    """Scheme 2 as README 'Verifying the trail' states it, with nothing from the service."""
    recorded = dt.datetime.fromisoformat(entry["recorded_at"]).astimezone(dt.timezone.utc).replace(tzinfo=None)
    content = [entry["entry_id"], entry["kind"], recorded.isoformat(timespec="microseconds"), entry["as_of"],
               entry["employee_id"], entry["case_id"], entry["process_type"], entry["action_type"],
               entry["event_type"], entry["actor_id"], entry["actor_role"], entry["client_id"], entry["verdict"],
               entry["rule_ids"], entry["ruleset_version"], entry["body"], entry["request_digest"]]
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return hashlib.sha256(f"{prev_hash}|{seq}|{digest}".encode()).hexdigest()


def test_an_auditor_can_recompute_every_link_from_the_api_alone(client):
    _post(client)
    batch = client.post("/v1/checks:batch", json={"checks": [check_body(), check_body(employee={
        "id": "E2", "gender": "male", "medical_treatment": {"status": "none"}})]})
    assert batch.status_code == 200
    _post(client)
    entries = client.get("/v1/trail").get_json()["entries"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    prev_hash = "0" * 64
    for entry in entries:
        assert entry["hash_scheme"] == 2 and entry["prev_hash"] == prev_hash
        assert entry["hash"] == _link(prev_hash, entry["seq"], entry), entry["seq"]
        prev_hash = entry["hash"]


def test_entries_written_before_scheme_2_still_verify_and_stay_tamper_evident(database_url):
    """A trail written by the scheme-1 code (migration 0002) is extended by scheme 2 without a break."""
    from tests.conftest import make_app

    engine = make_engine(database_url)
    upgrade(engine, "0002")
    values = {name: None for name in HASHED}
    values.update(seq=1, entry_id="old-1", kind="ruleset_change", recorded_at=dt.datetime(2026, 1, 5, 8, 0),
                  rule_ids=[], ruleset_version="sha256:old", body={"previous_version": None, "rules": []},
                  prev_hash="0" * 64)
    values["hash"] = entry_hash(values)  # no hash_scheme: scheme 1, as the old code wrote it
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO trail_entries (seq, entry_id, kind, recorded_at, rule_ids, ruleset_version, "
                          "body, prev_hash, hash) VALUES (1, 'old-1', 'ruleset_change', :at, '[]', 'sha256:old', "
                          ":body, :prev, :hash)"),
                     {"at": values["recorded_at"], "body": json.dumps(values["body"]), "prev": "0" * 64,
                      "hash": values["hash"]})
        conn.execute(text("UPDATE trail_head SET seq = 1, hash = :hash WHERE id = 1"), {"hash": values["hash"]})
    engine.dispose()
    app = make_app(database_url)  # migrates to head, records the new rule set (scheme 2)
    try:
        _post(app.test_client())
        schemes = [e["hash_scheme"] for e in app.test_client().get("/v1/trail").get_json()["entries"]]
        assert schemes == [1, 2, 2]
        assert _verify(app).ok
        _sql(app, "UPDATE trail_entries SET ruleset_version = 'sha256:forged' WHERE seq = 1")
        result = _verify(app)
        assert not result.ok and result.first_bad_seq == 1 and "altered" in result.reason
    finally:
        app.extensions["db_engine"].dispose()


@pytest.mark.postgres
def test_a_check_commits_on_its_own_and_hands_its_connection_back_transactional(postgres_url):
    from tests.conftest import make_app, reset_postgres_schema

    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url)
    engine = app.extensions["db_engine"]
    try:
        _post(app.test_client())
        assert engine.pool.checkedin() == 1  # the one pooled connection, used by the check
        with engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False
        assert _verify(app).ok
    finally:
        engine.dispose()


def test_verify_command_reports_an_intact_chain(app, client):
    _post(client)
    result = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert result.exit_code == 0 and "2 entries, chain intact" in result.output


def test_logs_never_contain_health_facts(app, client, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    _post(client)
    body = check_body()
    body["employee"]["medical_treatment"] = {"status": "in_period"}
    from service.decide.engine import EngineError

    def broken(fact):
        raise EngineError("simulated failure")
    monkeypatch.setattr(app.extensions["rulebook"].engine, "fire", broken)
    assert client.post("/v1/checks", json=body).status_code == 500
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "the failure should have been logged"
    for value in ('"pregnant"', "'pregnant'", "in_period"):
        assert value not in logged


def _append_many(url: str, count: int, barrier) -> None:
    from tests.conftest import make_app
    app = make_app(url, AUTO_MIGRATE=False)
    client = app.test_client()
    barrier.wait()
    for n in range(count):
        response = client.post("/v1/checks", json=check_body(employee={
            "id": f"P{os.getpid()}-{n}", "gender": "male", "medical_treatment": {"status": "none"}}))
        assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.postgres
def test_four_processes_append_500_each_to_one_postgres_chain(postgres_url):
    from tests.conftest import make_app, reset_postgres_schema

    reset_postgres_schema(postgres_url)
    make_app(postgres_url).extensions["db_engine"].dispose()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_append_many, args=(postgres_url, 500, barrier)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=600)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(TrailEntry).where(TrailEntry.kind == "check")) == 2000
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        result = verify_chain(session)
    engine.dispose()
    assert result.ok, result
    assert result.entries == 2001


@pytest.mark.postgres
def test_a_forked_worker_does_not_share_the_parents_database_connections(postgres_url):
    """gunicorn preloads the app and forks: each worker must open its own connections."""
    from tests.conftest import make_app, reset_postgres_schema

    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url)
    engine = app.extensions["db_engine"]
    with engine.connect() as conn:
        parent_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker
        try:
            with engine.connect() as conn:
                os.write(write, str(conn.execute(text("SELECT pg_backend_pid()")).scalar()).encode())
        finally:
            os._exit(0)
    os.close(write)
    child_backend = int(os.read(read, 64).decode())
    os.waitpid(child, 0)
    assert child_backend != parent_pid
    engine.dispose()
