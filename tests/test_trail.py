"""The trail: entries by reference, sealed into a signed Merkle tree; tampering is named."""
import base64
import datetime as dt
import json
import logging
import multiprocessing
import os
import sqlite3

import pytest
from freezegun import freeze_time
from sqlalchemy import create_engine, func, select, text

from service.record.db import make_engine, upgrade
from service.record.models import TrailEntry
from service.flows.sealing import seal_once, wait_until_sealed
from service.record.trail import HASHED, entry_hash, hash_of
from service.record.verify import verify_chain
from service.tools import worker
from tests.conftest import check_body

_VERIFY_TASK = [t for t in worker.TASKS if t.name == "verify_trail"]


def _post(client, **overrides):
    response = client.post("/v1/checks", json=check_body(**overrides))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _verify(app, against=None):
    with app.extensions["db_read_sessions"]() as session:
        return verify_chain(session, app.extensions["trail_key"], against=against)


def _sql(app, statement, **params):
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text(statement), params)


def test_start_up_records_the_rule_set_version_once_with_every_file(app, client):
    from service.flows.rules_live import record_version
    from service.record.rulesets import version_of
    assert record_version(app) is False  # a second start on the same version writes nothing
    entries = client.get("/v1/trail?kind=ruleset_change").get_json()["entries"]
    assert len(entries) == 1
    version = app.extensions["rulebook"].version
    assert entries[0]["ruleset_version"] == version and entries[0]["entry_id"] == version
    body = entries[0]["body"]
    assert "lcl-42-4.protected-period@2008-01-01" in body["rules"]
    assert version_of(body["files"]) == version  # content-addressed: every file, as loaded
    assert any(path.startswith("citations/") for path in body["files"])


def test_each_decision_is_a_small_entry_by_reference_without_health_facts(app, client):
    first = _post(client)
    second = _post(client, employee={"id": "E2", "gender": "male", "medical_treatment": {"status": "none"}})
    page = client.get("/v1/trail?kind=check").get_json()
    assert [e["entry_id"] for e in page["entries"]] == [first["decision_id"], second["decision_id"]]
    entry = page["entries"][0]
    assert entry["employee_id"] == "E1001" and entry["actor_id"] == "HR7" and entry["verdict"] == "deny"
    assert entry["process_type"] == "employer_termination" and entry["hash_scheme"] == 3
    assert entry["rule_ids"] == ["lcl-42-4.protected-period", "lcl-46.severance-employer-termination",
                                 "lcl-50.exit-certificate"]
    assert entry["body"]["matched"] and "findings" not in entry["body"]
    assert entry["request_digest"].startswith("hmac-sha256:")
    stored = json.dumps(page, ensure_ascii=False)
    assert "\"pregnant\"" not in stored  # the value; its name is kept, as a code
    shown = client.get(f"/v1/decisions/{first['decision_id']}").get_json()
    assert {"employee.pregnancy.status": "[sensitive]"}.items() <= shown["findings"][0]["facts"].items()
    assert "第四十二条" not in stored  # citation text lives in the rule-set version's entry only
    assert _verify(app).ok


def test_trail_filters_and_pages(client):
    for _ in range(3):
        _post(client)
    _post(client, employee={"id": "E9", "gender": "male", "medical_treatment": {"status": "none"}})
    assert len(client.get("/v1/trail?employee=E1001").get_json()["entries"]) == 3
    assert len(client.get("/v1/trail?verdict=allow").get_json()["entries"]) == 1
    assert len(client.get("/v1/trail?rule_id=lcl-42-4.protected-period").get_json()["entries"]) == 3
    assert client.get("/v1/trail?rule_id=lcl-42-4").get_json()["entries"] == []  # whole ids only
    assert len(client.get("/v1/trail?process_type=employer_termination&kind=check").get_json()["entries"]) == 4
    assert client.get("/v1/trail?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z").get_json()["entries"] == []
    page = client.get("/v1/trail?kind=check&limit=3").get_json()
    assert len(page["entries"]) == 3 and page["next_after"] == page["entries"][-1]["seq"]
    rest = client.get(f"/v1/trail?kind=check&limit=3&after={page['next_after']}").get_json()
    assert len(rest["entries"]) == 1 and rest["next_after"] is None
    bad = client.get("/v1/trail?verdict=maybe")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "verdict"


def test_entries_not_sealed_yet_are_pending_not_missing(app, client):
    _post(client)
    result = _verify(app)
    assert result.ok and result.pending == 2 and result.sealed == 0
    seal_once(app)
    _post(client)
    result = _verify(app)
    assert result.ok and (result.sealed, result.pending, result.checkpoint) == (2, 1, 2)


def _rewrite(app, seq):
    """Edit entry `seq`'s body; returns the hash its content has now."""
    with app.extensions["db_sessions"]() as session, session.begin():
        entry = session.get(TrailEntry, seq)
        body = json.loads(json.dumps(entry.body))
        body["matched"] = body["matched"][1:]  # a finding dropped
        entry.body = body
        session.flush()
        return hash_of(entry)


@pytest.mark.parametrize("tamper, bad_seq, words", [
    ("update", 3, "altered after it was written"),
    ("delete", 3, "deleted"),
    ("swap", 2, "reordered"),
    ("insert", 6, "inserted behind the service's back"),
    ("truncate", None, "removed from the end"),
    ("scheme", 3, "unknown hash scheme"),
    ("checkpoint", None, "checkpoint 5 is not signed"),
])
def test_tampering_is_detected_and_names_the_entry(app, client, tamper, bad_seq, words):
    for _ in range(4):
        _post(client)  # seq 1 is the rule-set entry; checks are 2..5
    wait_until_sealed(app)
    assert _verify(app).ok
    if tamper == "update":
        _rewrite(app, 3)
    elif tamper == "delete":
        _sql(app, "DELETE FROM trail_entries WHERE seq = 3")
    elif tamper == "scheme":
        _sql(app, "UPDATE trail_entries SET hash_scheme = 4 WHERE seq = 3")
    elif tamper == "swap":
        _sql(app, "UPDATE trail_entries SET seq = -1 WHERE seq = 2")
        _sql(app, "UPDATE trail_entries SET seq = 2 WHERE seq = 3")
        _sql(app, "UPDATE trail_entries SET seq = 3 WHERE seq = -1")
    elif tamper == "insert":
        _sql(app, "INSERT INTO trail_entries (seq, entry_id, kind, recorded_at, rule_ids, ruleset_version, body, "
                  "hash, hash_scheme) SELECT 6, 'forged', kind, recorded_at, rule_ids, ruleset_version, body, hash, 3 "
                  "FROM trail_entries WHERE seq = 5")
    elif tamper == "truncate":
        _sql(app, "DELETE FROM trail_leaves WHERE leaf_index = 4")
        _sql(app, "DELETE FROM trail_entries WHERE seq = 5")
    elif tamper == "checkpoint":
        forged = base64.b64encode(b"\x07" * 32).decode()
        _sql(app, "UPDATE trail_checkpoints SET note = :note WHERE tree_size = 5",
             note=f"separation-guard.example/trail\n5\n{forged}\n\n\u2014 separation-guard.example/trail "
                  f"{base64.b64encode(b'x' * 68).decode()}\n")
    result = _verify(app)
    assert not result.ok
    assert result.first_bad_seq == bad_seq, result
    assert words in result.reason, result.reason
    client = app.test_client()
    assert client.post("/v1/trail/verify?full=true").status_code == 202  # the worker runs it, not the request
    assert worker.run_pass(app, "test", force=True, tasks=_VERIFY_TASK) == {"verify_trail": {"ran": 1, "mode": "full"}}
    body = client.get("/v1/trail/verify").get_json()
    assert body["ok"] is False and body["first_bad_seq"] == bad_seq and body["mode"] == "full"
    cli = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert cli.exit_code == 1 and (f"entry {bad_seq}" if bad_seq else "the tree") in cli.output


def test_a_rewritten_tree_is_caught_by_its_signed_checkpoint_and_by_the_exported_copy(app, client, tmp_path):
    for _ in range(3):
        _post(client)
    wait_until_sealed(app)
    exported = tmp_path / "checkpoints.jsonl"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["trail", "checkpoints", "export", str(exported)]).exit_code == 0
    assert [json.loads(line)["tree_size"] for line in exported.read_text().splitlines()] == [4]
    ok = runner.invoke(args=["trail", "verify", "--against", str(exported)])
    assert ok.exit_code == 0 and "matches the 1 exported checkpoints" in ok.output
    # Whoever writes the database rewrites entry 3, its leaf and the tree, but cannot sign.
    new_hash = _rewrite(app, 3)
    _sql(app, "UPDATE trail_leaves SET hash = :h WHERE seq = 3", h=bytes.fromhex(new_hash))
    result = _verify(app)
    assert not result.ok and "checkpoint 4's signed root" in result.reason and "leaves 0..3" in result.reason
    # ... nor can they drop the checkpoint and have the service seal the tree again: the sealer
    # refuses entries queued without their writer's signature, on the record...
    _sql(app, "DELETE FROM trail_checkpoints")
    _sql(app, "DELETE FROM trail_nodes")
    _sql(app, "DELETE FROM trail_leaves")
    _sql(app, "INSERT INTO trail_pending (seq) SELECT seq FROM trail_entries")
    wait_until_sealed(app)
    result = _verify(app)
    assert not result.ok and result.first_bad_seq == 1 and "the sealer refused it" in result.reason
    # ... and the exported copy still has the checkpoint they dropped.
    against = runner.invoke(args=["trail", "verify", "--against", str(exported)])
    assert against.exit_code == 1
    assert "checkpoint 4 differs from the exported copy" in against.output


# ---- what an auditor checks with nothing from the service ---------------------------------

def _auditor_leaf_hash(entry):
    """docs/trail.md, 'Verifying the trail yourself': the entry's content as canonical JSON."""
    recorded = dt.datetime.fromisoformat(entry["recorded_at"]).astimezone(dt.timezone.utc).replace(tzinfo=None)
    content = [entry["entry_id"], entry["kind"], recorded.isoformat(timespec="microseconds"), entry["as_of"],
               entry["employee_id"], entry["case_id"], entry["process_type"], entry["action_type"],
               entry["event_type"], entry["actor_id"], entry["actor_role"], entry["client_id"], entry["verdict"],
               entry["rule_ids"], entry["ruleset_version"], entry["body"], entry["request_digest"]]
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    import hashlib
    return hashlib.sha256(b"\x00" + canonical.encode()).digest()


def _node(left, right):
    import hashlib
    return hashlib.sha256(b"\x01" + left + right).digest()


def _root_from_inclusion(index, size, leaf, path):
    """RFC 9162 2.1.3.2, written from the RFC."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn > 0
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = _node(r, p)
        fn, sn = fn // 2, sn // 2
    assert sn == 0
    return r


def _roots_from_consistency(first, second, first_root, path):
    """RFC 9162 2.1.4.2: the (first, second) roots the proof leads to."""
    if first & (first - 1) == 0:
        path = [first_root] + path
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]
    for c in path[1:]:
        assert sn > 0
        if fn % 2 == 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            sr = _node(sr, c)
        fn, sn = fn // 2, sn // 2
    assert sn == 0
    return fr, sr


def _open_checkpoint(note, public_key, origin):
    """c2sp.org/signed-note + tlog-checkpoint: (size, root) if our key signed it."""
    import hashlib
    from cryptography.hazmat.primitives import serialization
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    raw_key = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_hash = hashlib.sha256(origin.encode() + b"\n\x01" + raw_key).digest()[:4]
    line = next(s for s in signatures.splitlines() if s.startswith(f"\u2014 {origin} "))
    signature = base64.b64decode(line.split(" ")[2])
    assert signature[:4] == key_hash
    public_key.verify(signature[4:], text.encode())  # raises if forged
    lines = text.splitlines()
    assert lines[0] == origin
    return int(lines[1]), base64.b64decode(lines[2])


def test_an_auditor_verifies_a_receipt_a_proof_and_consistency_from_http_alone(app, client):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    answer = _post(client)
    public_key = load_pem_public_key(client.get("/v1/trail/public-key").data)  # the checkpoints'
    receipt_key = load_pem_public_key(client.get("/v1/trail/public-key?role=receipt").data)
    assert receipt_key.public_bytes_raw() != public_key.public_bytes_raw()  # two keys (issue 21 item 7)
    receipt = answer["receipt"]
    receipt_key.verify(base64.b64decode(receipt["signature"]), receipt["signed"].encode())
    lines = dict(line.split(" ", 1) for line in receipt["signed"].splitlines()[1:])
    assert lines["decision"] == answer["decision_id"]
    entry = next(e for e in client.get("/v1/trail").get_json()["entries"] if e["entry_id"] == answer["decision_id"])
    leaf = _auditor_leaf_hash(entry)
    assert lines["entry"] == "sha256:" + leaf.hex() == "sha256:" + entry["hash"]

    assert client.get(f"/v1/trail/proof/{answer['decision_id']}").status_code == 409  # not sealed yet
    wait_until_sealed(app)
    first = client.get("/v1/trail/checkpoints").get_json()["checkpoints"][-1]
    origin = first["note"].split("\n", 1)[0]
    for _ in range(4):
        _post(client)
    wait_until_sealed(app)

    proof = client.get(f"/v1/trail/proof/{answer['decision_id']}").get_json()
    size, root = _open_checkpoint(proof["checkpoint"], public_key, origin)
    assert size == proof["tree_size"] == 6
    path = [base64.b64decode(h) for h in proof["inclusion_path"]]
    assert _root_from_inclusion(proof["leaf_index"], size, leaf, path) == root

    first_size, first_root = _open_checkpoint(first["note"], public_key, origin)
    listed = client.get(f"/v1/trail/checkpoints?first={first_size}&second={size}").get_json()
    consistency = [base64.b64decode(h) for h in listed["consistency"]["path"]]
    assert _roots_from_consistency(first_size, size, first_root, consistency) == (first_root, root)
    with pytest.raises(AssertionError):  # and a proof does not verify against another root
        assert _roots_from_consistency(first_size, size, b"\x00" * 32, consistency) == (b"\x00" * 32, root)


def test_a_case_event_answer_carries_a_receipt(client):
    body = {"client_key": "k1", "employee": {"id": "E77", "gender": "male"},
            "case": {"kind": "resignation"},
            "event": {"type": "resignation_submitted", "at": "2026-03-02T09:00:00+08:00", "form": "written",
                      "actor": {"id": "E77", "role": "employee"}}}
    answer = client.post("/v1/cases/SEP-R1/events", json=body)
    assert answer.status_code == 201, answer.get_json()
    receipt = answer.get_json()["receipt"]
    assert f"decision {answer.get_json()['decision_id']}\n" in receipt["signed"]


# ---- decisions rendered again from their entries -----------------------------------------

def _fixture_checks():
    from service.tools.scenarios import default_fixture_paths, fixture_checks, load_fixture_cases
    return [check for path in default_fixture_paths() for source, case, now in load_fixture_cases(path)
            for check in fixture_checks(case, now, source)]


def test_every_fixture_decision_renders_again_as_answered(sqlite_app):
    """GET /v1/decisions/<id> equals the original answer, with sensitive values redacted as the
    trail keeps them (the EHR got them; the trail never had them). Rendered both from the
    serving rule book and from the version's own trail entry."""
    from service.http.decisions import render_body
    from service.record.privacy import redact_findings
    from service.record.rulesets import _Versions

    client, rulebook = sqlite_app.test_client(), sqlite_app.extensions["rulebook"]
    versions, checked = _Versions(), 0
    for source, request, _expected, now in _fixture_checks():
        with freeze_time(now or "2026-02-10T10:00:00+08:00"):
            response = client.post("/v1/checks", json=json.loads(json.dumps(request, default=str)))
        if response.status_code != 200:
            continue  # a request the API refuses (e.g. a story step naming a case id)
        answer = response.get_json()
        expected = {**answer, "findings": redact_findings(answer["findings"], rulebook.vocabulary.sensitive)}
        # each rule that applied, with the facts it read: redacted alike
        expected["checked"] = redact_findings(answer["checked"], rulebook.vocabulary.sensitive)
        stored = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
        assert {k: stored[k] for k in expected} == expected, source
        with sqlite_app.extensions["db_read_sessions"]() as session:
            entry = session.scalar(select(TrailEntry).where(TrailEntry.entry_id == answer["decision_id"]))
            recorded = versions.rulebook(session, entry.ruleset_version)
            again = json.loads(sqlite_app.json.dumps(render_body(entry.body, entry.as_of, entry.action_type, recorded)))
        assert again["verdict"] == answer["verdict"], source  # from what matched, not the verdict column
        assert again["findings"] == expected["findings"], source
        assert again["checked"] == expected["checked"], source
        checked += 1
    assert checked > 50


def test_none_kept_still_renders_messages_with_their_values(tmp_path):
    from tests.conftest import make_app
    app = make_app(f"sqlite:///{tmp_path / 'none.sqlite'}", TRAIL_FACT_VALUES="none")
    client = app.test_client()
    answer = _post(client)
    stored = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert [f["message"] for f in stored["findings"]] == [f["message"] for f in answer["findings"]]
    assert all(v in ("[not kept]", "[sensitive]") for f in stored["findings"] for v in f["facts"].values())
    app.extensions["db_engine"].dispose()


# ---- old entries, the key, locks -----------------------------------------------------------

def test_entries_written_before_the_tree_still_verify_and_stay_tamper_evident(database_url):
    """A trail written by the scheme-1 code (migration 0002) waits in the legacy queue (0008) and is
    sealed into the tree, with its chain hash, by `trail seal --legacy-unsigned`."""
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
    app = make_app(database_url)  # migrates to head, records the new rule set (scheme 3)
    try:
        _post(app.test_client())
        wait_until_sealed(app)
        waiting = _verify(app)
        assert waiting.ok and (waiting.sealed, waiting.pending) == (2, 1)
        done = app.test_cli_runner().invoke(args=["trail", "seal", "--legacy-unsigned"])
        assert done.exit_code == 0 and "sealed 1 entries queued before signed queueing (entries 1)" in done.output
        assert "hash of their content" not in done.output  # its chain hash, which its content still holds
        entries = app.test_client().get("/v1/trail").get_json()["entries"]
        assert [(e["hash_scheme"], e["kind"]) for e in entries] == [
            (1, "ruleset_change"), (3, "ruleset_change"), (3, "check"), (3, "legacy_sealed")]
        assert _verify(app).ok and _verify(app).sealed == 4
        _sql(app, "UPDATE trail_entries SET ruleset_version = 'sha256:forged' WHERE seq = 1")
        result = _verify(app)
        assert not result.ok and result.first_bad_seq == 1 and "altered" in result.reason
    finally:
        app.extensions["db_engine"].dispose()


def test_production_refuses_to_start_without_a_signing_key(tmp_path):
    from service import create_app
    from service.http.keys import StartUpRefused
    with pytest.raises(StartUpRefused, match="TRAIL_RECEIPT_KEY is not set"):
        create_app({"ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite'}"})


def test_sqlite_readers_take_no_write_lock(app, client, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's locks")
    answer = _post(client)
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("PRAGMA busy_timeout=0")
    holder.execute("BEGIN IMMEDIATE")  # a writer in the middle of its transaction
    try:
        # A reader that asked for the write lock would wait busy_timeout (10 s) and fail.
        for path in ("/v1/trail/verify", f"/v1/decisions/{answer['decision_id']}", "/v1/trail?limit=5",
                     "/v1/trail/checkpoints"):
            assert client.get(path).status_code == 200, path
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_verify_command_reports_an_intact_trail(app, client):
    _post(client)
    seal_once(app)
    _post(client)
    result = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert result.exit_code == 0 and "3 entries, 2 sealed up to checkpoint 2, 1 pending" in result.output
    sealed = app.test_cli_runner().invoke(args=["trail", "seal"])
    assert sealed.exit_code == 0 and "sealed 1 entries" in sealed.output


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


# ---- many writers, hosts and sealers on one PostgreSQL --------------------------------------

def _append_many(url: str, count: int, barrier, seal: bool) -> None:
    from tests.conftest import make_app
    app = make_app(url, AUTO_MIGRATE=False)
    client = app.test_client()
    barrier.wait()
    for n in range(count):
        response = client.post("/v1/checks", json=check_body(employee={
            "id": f"P{os.getpid()}-{n}", "gender": "male", "medical_treatment": {"status": "none"}}))
        assert response.status_code == 200, response.get_data(as_text=True)
        if seal and n % 25 == 0:
            seal_once(app)  # every writer also tries to seal: one at a time holds the lock


def _start_many(url: str, barrier) -> None:
    """A host starting on the same rule set as everyone else."""
    from tests.conftest import make_app
    barrier.wait()
    make_app(url).extensions["db_engine"].dispose()


@pytest.mark.postgres
def test_many_hosts_starting_together_record_their_rule_set_once(postgres_url):
    from tests.conftest import make_app, reset_postgres_schema

    reset_postgres_schema(postgres_url)
    make_app(postgres_url).extensions["db_engine"].dispose()
    _sql_url(postgres_url, "DELETE FROM trail_pending")
    _sql_url(postgres_url, "DELETE FROM trail_entries")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    starters = [context.Process(target=_start_many, args=(postgres_url, barrier)) for _ in range(4)]
    for p in starters:
        p.start()
    for p in starters:
        p.join(timeout=300)
    assert [p.exitcode for p in starters] == [0, 0, 0, 0]
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(TrailEntry).where(TrailEntry.kind == "ruleset_change")) == 1
    engine.dispose()


def _sql_url(url, statement):
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


@pytest.mark.postgres
def test_four_writers_and_a_verifier_on_postgres_raise_no_false_alarm(postgres_url):
    from tests.conftest import make_app, reset_postgres_schema

    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(5)
    writers = [context.Process(target=_append_many, args=(postgres_url, 300, barrier, True)) for _ in range(4)]
    for w in writers:
        w.start()
    barrier.wait()
    verifications = []
    try:
        while any(w.is_alive() for w in writers):
            verifications.append(_verify(app))
            seal_once(app)
        for w in writers:
            w.join(timeout=600)
        assert [w.exitcode for w in writers] == [0, 0, 0, 0]
        wait_until_sealed(app)
        final = _verify(app)
    finally:
        app.extensions["db_engine"].dispose()
    alarms = [v for v in verifications if not v.ok]
    assert not alarms, alarms[:3]
    assert len(verifications) >= 3 and any(v.pending for v in verifications)
    assert final.ok and final.entries == final.sealed == 1201 and final.pending == 0


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


def test_the_sealer_also_runs_on_an_engine_and_key_alone(app, client):
    """As `separation-guard worker`'s task would call it, without the web app's context."""
    _post(client)
    assert seal_once(app.extensions["db_engine"], key=app.extensions["trail_key"]) == 2
    assert seal_once(app.extensions["db_engine"], key=app.extensions["trail_key"]) == 0
    assert _verify(app).ok and _verify(app).sealed == 2


def test_proofs_hold_in_a_tree_with_stored_interior_nodes(app, client):
    """Past 8 leaves the tree stores interior nodes (level 3 up); proofs mix them with folds of leaves."""
    sizes = []
    for n in (3, 11, 9, 20):
        assert client.post("/v1/checks:batch", json={"checks": [check_body() for _ in range(n)]}).status_code == 200
        wait_until_sealed(app)
        sizes.append(client.get("/v1/trail/checkpoints").get_json()["checkpoints"][-1])
    entries = client.get("/v1/trail?limit=500").get_json()["entries"]
    assert len(entries) == 44
    for entry in entries[::5]:
        proof = client.get(f"/v1/trail/proof/{entry['entry_id']}").get_json()
        root = base64.b64decode(proof["root_hash"])
        path = [base64.b64decode(h) for h in proof["inclusion_path"]]
        assert _root_from_inclusion(proof["leaf_index"], proof["tree_size"], _auditor_leaf_hash(entry), path) == root
    for old in sizes[:-1]:
        first, second = old["tree_size"], sizes[-1]["tree_size"]
        listed = client.get(f"/v1/trail/checkpoints?first={first}&second={second}").get_json()
        path = [base64.b64decode(h) for h in listed["consistency"]["path"]]
        roots = (base64.b64decode(old["root_hash"]), base64.b64decode(sizes[-1]["root_hash"]))
        assert _roots_from_consistency(first, second, roots[0], path) == roots
