"""Issue 22 item 7: a Merkle log per tenant. Each tenant's entries are the leaves of its own tree,
with its own origin, checkpoints, proofs and verification; another tenant's are not found."""
import base64
import datetime as dt
import json

import pytest
from sqlalchemy import create_engine, func, select, text

from service.flows.sealing import wait_until_sealed
from service.record import merkle, sealer
from service.record.db import make_engine, upgrade
from service.record.models import TrailCheckpoint, TrailEntry, TrailLeaf
from service.record.trail import append_and_commit, entry_values, log_origin
from service.record.verify import verify_chain
from service.signed_notes import Checkpoint, split_note
from service.http.keys import create_client
from tests.conftest import POSTGRES_URL, TEST_KEY, check_body
from tests.test_witness import witnessed  # noqa: F401 -- the service with a witness of its own

KEYS = {"default": TEST_KEY}  # the tests' key is the default tenant's; one key per other tenant


@pytest.fixture
def tenant_app(app):
    """The app, with a key for each of the tenants a, b and c (auth sets g.tenant from the key)."""
    with app.extensions["db_sessions"]() as session, session.begin():
        for tenant in ("a", "b", "c"):
            KEYS[tenant] = create_client(session, f"{tenant}-ehr", ["checks", "cases", "trail:read"], tenant_id=tenant)
    return app


def _as(tenant: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


def _get(client, tenant, path):
    return client.get(path, headers=_as(tenant))


def _check(client, tenant, **overrides) -> dict:
    answer = client.post("/v1/checks", json=check_body(**overrides), headers=_as(tenant))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def _verify(app, tenant):
    with app.extensions["db_read_sessions"]() as session:
        return verify_chain(session, app.extensions["trail_key"], tenant_id=tenant)


def _latest(client, tenant) -> dict:
    return _get(client, tenant, "/v1/trail/checkpoints?limit=1000").get_json()["checkpoints"][-1]


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _two_tenants(app, client, a=2, b=3) -> tuple[list[dict], list[dict]]:
    made = [_check(client, "a") for _ in range(a)], [_check(client, "b") for _ in range(b)]
    wait_until_sealed(app)
    return made


def test_two_tenants_have_two_trees_with_their_own_origins_checkpoints_and_proofs(tenant_app):
    app, client = tenant_app, tenant_app.test_client()
    in_a, in_b = _two_tenants(app, client)
    ring, origin = app.extensions["trail_key"], app.config["TRAIL_ORIGIN"]
    for tenant, made in (("a", in_a), ("b", in_b)):
        latest = _latest(client, tenant)
        assert latest["tree_size"] == len(made)  # its own entries only, from leaf 0
        signed = ring.open_note(latest["note"])  # the one checkpoint key signs every log
        checkpoint = Checkpoint.parse(signed)
        assert checkpoint.origin == f"{origin}/{tenant}" == log_origin(origin, tenant)
        assert (checkpoint.size, checkpoint.root) == (len(made), _b64(latest["root_hash"]))
        for index, answer in enumerate(made):
            proof = _get(client, tenant, f"/v1/trail/proof/{answer['decision_id']}").get_json()
            assert proof["leaf_index"] == index and proof["checkpoint"] == latest["note"]
            assert merkle.verify_inclusion(index, proof["tree_size"], bytes.fromhex(proof["entry_hash"]),
                                           [_b64(h) for h in proof["inclusion_path"]], _b64(proof["root_hash"]))
    assert _latest(client, "a")["root_hash"] != _latest(client, "b")["root_hash"]
    # Consistency within one log, from its own earlier checkpoint.
    _check(client, "a")
    wait_until_sealed(app)
    page = _get(client, "a", "/v1/trail/checkpoints?first=2&second=3").get_json()
    sizes = {c["tree_size"]: _b64(c["root_hash"]) for c in page["checkpoints"]}
    assert merkle.verify_consistency(2, 3, sizes[2], sizes[3], [_b64(h) for h in page["consistency"]["path"]])
    # The default log keeps the deployment's origin (its published checkpoints and witness know it).
    _check(client, "default")
    wait_until_sealed(app)
    assert Checkpoint.parse(ring.open_note(_latest(client, "default")["note"])).origin == origin


def test_another_tenants_decision_entries_and_proofs_are_not_found(tenant_app):
    app, client = tenant_app, tenant_app.test_client()
    (mine, *_), _ = _two_tenants(app, client, a=1, b=1)
    decision = mine["decision_id"]
    assert _get(client, "a", f"/v1/decisions/{decision}").status_code == 200
    other = _get(client, "b", f"/v1/decisions/{decision}")
    assert other.status_code == 404
    assert other.get_json() == {**_get(client, "b", "/v1/decisions/no-such-decision").get_json(),
                                "message": f"No decision {decision}."}  # exactly as a missing one
    assert _get(client, "b", f"/v1/trail/proof/{decision}").status_code == 404
    listed = _get(client, "b", "/v1/trail?employee=E1001").get_json()["entries"]
    assert decision not in {e["entry_id"] for e in listed} and {e["kind"] for e in listed} == {"check"}
    assert len(listed) == 1
    assert [e["entry_id"] for e in _get(client, "a", "/v1/trail?kind=check").get_json()["entries"]] == [decision]


def test_a_log_verifies_on_its_own_with_only_its_entries(tenant_app, tmp_path):
    app, client = tenant_app, tenant_app.test_client()
    _two_tenants(app, client)
    a, b = _verify(app, "a"), _verify(app, "b")
    assert a.ok and (a.entries, a.sealed, a.pending, a.checkpoint) == (2, 2, 0, 2)
    assert b.ok and (b.entries, b.sealed, b.checkpoint) == (3, 3, 3)
    runner = app.test_cli_runner()
    every = runner.invoke(args=["trail", "verify"])
    assert every.exit_code == 0, every.output
    assert "trail of a ok: 2 entries" in every.output and "trail of b ok: 3 entries" in every.output
    exported = tmp_path / "a.jsonl"
    assert runner.invoke(args=["trail", "checkpoints", "export", "--tenant", "a", str(exported)]).exit_code == 0
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [Checkpoint.parse(split_note(r["note"])[0]).origin for r in rows] == [f"{app.config['TRAIL_ORIGIN']}/a"] * len(rows)
    one = runner.invoke(args=["trail", "verify", "--full", "--tenant", "a", "--against", str(exported)])
    assert one.exit_code == 0 and "trail ok: 2 entries" in one.output, one.output
    bad = runner.invoke(args=["trail", "verify", "--tenant", "Not A Tenant"])
    assert bad.exit_code == 2 and "is not a tenant id" in bad.output


def test_a_tampered_entry_fails_its_own_log_and_not_the_other(tenant_app):
    app, client = tenant_app, tenant_app.test_client()
    _, in_b = _two_tenants(app, client)
    with app.extensions["db_engine"].begin() as c:
        seq = c.scalar(select(TrailEntry.seq).where(TrailEntry.entry_id == in_b[1]["decision_id"]))
        c.execute(text("UPDATE trail_entries SET verdict = 'allow' WHERE seq = :s"), {"s": seq})
    b = _verify(app, "b")
    assert not b.ok and b.first_bad_seq == seq and "altered" in b.reason
    assert _verify(app, "a").ok
    result = app.test_cli_runner().invoke(args=["trail", "verify", "--full"])
    assert result.exit_code == 1 and "trail of a ok" in result.output and "trail of b BROKEN" in result.output


def test_an_entry_moved_to_another_tenant_fails_both_logs(tenant_app):
    """The tenant is in the hash of every entry not of the default log: moved, it is named."""
    app, client = tenant_app, tenant_app.test_client()
    in_a, _ = _two_tenants(app, client)
    with app.extensions["db_engine"].begin() as c:
        seq = c.scalar(select(TrailEntry.seq).where(TrailEntry.entry_id == in_a[0]["decision_id"]))
        c.execute(text("UPDATE trail_entries SET tenant_id = 'b' WHERE seq = :s"), {"s": seq})
    a, b = _verify(app, "a"), _verify(app, "b")
    assert not a.ok and a.first_bad_seq == seq and "another tenant" in a.reason
    assert not b.ok and b.first_bad_seq == seq and "neither in the tree nor queued" in b.reason
    assert _get(client, "b", f"/v1/decisions/{in_a[0]['decision_id']}").get_json()["entry_intact"] is False


def test_another_logs_checkpoint_put_in_place_of_one_is_named(tenant_app):
    app, client = tenant_app, tenant_app.test_client()
    _two_tenants(app, client, a=2, b=2)
    with app.extensions["db_engine"].begin() as c:
        theirs = c.execute(select(TrailCheckpoint.root_hash, TrailCheckpoint.note)
                           .where(TrailCheckpoint.tenant_id == "b", TrailCheckpoint.tree_size == 2)).one()
        c.execute(text("UPDATE trail_checkpoints SET root_hash = :r, note = :n WHERE tenant_id = 'a' AND tree_size = 2"),
                  {"r": theirs.root_hash, "n": theirs.note})
    a = _verify(app, "a")
    assert not a.ok and "another log's checkpoint" in a.reason
    assert _verify(app, "b").ok


def _queue(app, tenant: str, count: int) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    append_and_commit(app.extensions["db_engine"], [
        entry_values(kind="check", recorded_at=now, ruleset_version="test", body={"n": n}, tenant_id=tenant)
        for n in range(count)], app.extensions["trail_key"])


def test_the_sealer_is_fair_one_tenants_backlog_never_starves_another(app):
    engine, key = app.extensions["db_engine"], app.extensions["trail_key"]
    wait_until_sealed(app)  # the rule set's version, recorded at start-up
    _queue(app, "a", 30)  # a backlog, queued first
    _queue(app, "b", 2)
    first = sealer.seal_round(engine, key, batch=10)
    # Equal shares (5 each); what b left of its share goes to a, which filled its own.
    assert first.taken == {"a": 8, "b": 2} and set(first.notes) == {"a", "b"}
    alone = sealer.seal_round(engine, key, batch=10)
    assert alone.taken == {"a": 10}  # a lone backlog still drains a whole batch a round
    _queue(app, "c", 1)
    assert sealer.seal_round(engine, key, batch=10).taken == {"a": 9, "c": 1}  # a batch in all
    with app.extensions["db_read_sessions"]() as session:
        sizes = dict(session.execute(select(TrailLeaf.tenant_id, func.count()).group_by(TrailLeaf.tenant_id)).all())
    assert sizes == {"default": 1, "a": 27, "b": 2, "c": 1}
    assert _verify(app, "a").ok and _verify(app, "b").ok and _verify(app, "c").ok


def test_verification_state_is_per_log(tenant_app):
    app, client = tenant_app, tenant_app.test_client()
    _two_tenants(app, client, a=1, b=1)
    from service.record.verification import INCREMENTAL, run
    run(app.extensions["db_engine"], app.extensions["trail_key"], INCREMENTAL, requested_by="test", tenant_id="a")
    a = _get(client, "a", "/v1/trail/verify").get_json()
    assert a["ok"] is True and a["entries"] == 1
    assert _get(client, "b", "/v1/trail/verify").get_json()["verification_id"] is None  # b's log: never verified
    asked = client.post("/v1/trail/verify", headers=_as("b")).get_json()
    assert asked["in_progress"]["status"] == "requested"
    assert _get(client, "a", "/v1/trail/verify").get_json()["in_progress"] is None


def test_existing_trail_rows_migrate_to_the_default_tenant(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade(engine, "0012_verify")
    with engine.begin() as c:
        c.execute(text("INSERT INTO trail_leaves (leaf_index, seq, hash) VALUES (0, 1, :h)"), {"h": b"\0" * 32})
        c.execute(text("INSERT INTO trail_checkpoints (tree_size, root_hash, published_at, note) "
                       "VALUES (1, :h, '2026-01-01 00:00:00', 'n')"), {"h": b"\0" * 32})
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT tenant_id, leaf_index FROM trail_leaves")).all() == [("default", 0)]
        assert c.execute(text("SELECT tenant_id, tree_size FROM trail_checkpoints")).all() == [("default", 1)]
    engine.dispose()


@pytest.mark.postgres
def test_row_level_security_hides_another_tenants_trail_rows(postgres_url):
    """The second wall: a query that forgot its tenant filter, run as a role that is not the
    owner nor a superuser (superusers bypass RLS), sees only the tenant the GUC names."""
    from tests.conftest import reset_postgres_schema
    reset_postgres_schema(postgres_url)
    engine = make_engine(postgres_url)
    upgrade(engine)
    with engine.begin() as c:
        for tenant, seq in (("a", 1), ("b", 2)):
            c.execute(text("INSERT INTO trail_leaves (tenant_id, leaf_index, seq, hash) VALUES (:t, 0, :s, :h)"),
                      {"t": tenant, "s": seq, "h": b"\0" * 32})
    schema = postgres_url.rsplit("search_path%3D", 1)[1]
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as c:
        if not c.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = 'sg_logs_rls'")):
            c.execute(text("CREATE ROLE sg_logs_rls NOLOGIN"))
        c.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO sg_logs_rls'))
        c.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO sg_logs_rls'))
    try:
        with engine.connect() as c, c.begin():
            c.execute(text("SET LOCAL ROLE sg_logs_rls"))
            assert c.scalar(text("SELECT count(*) FROM trail_leaves")) == 0  # no tenant set: nothing
            c.execute(text("SELECT set_config('sg.tenant', 'a', true)"))
            assert c.execute(text("SELECT tenant_id, seq FROM trail_leaves")).all() == [("a", 1)]
            c.execute(text("SELECT set_config('sg.tenant', '*', true)"))
            assert c.scalar(text("SELECT count(*) FROM trail_leaves")) == 2
    finally:
        with admin.begin() as c:
            c.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM sg_logs_rls'))
            c.execute(text(f'REVOKE USAGE ON SCHEMA "{schema}" FROM sg_logs_rls'))
        admin.dispose()
        engine.dispose()


def test_an_auditor_of_one_company_verifies_its_export_offline_without_another_companys_entries(tenant_app, tmp_path):
    app, client = tenant_app, tenant_app.test_client()
    in_a, in_b = _two_tenants(app, client)
    runner = app.test_cli_runner()
    exported = tmp_path / "a.jsonl"
    done = runner.invoke(args=["trail", "export", "--tenant", "a", str(exported)])
    assert done.exit_code == 0 and "exported 2 entries of the log of a" in done.output, done.output
    text = exported.read_text()
    assert all(d["decision_id"] in text for d in in_a)
    assert not any(d["decision_id"] in text for d in in_b)
    vkey = app.extensions["trail_key"].checkpoint_verifiers()[0].vkey
    checked = runner.invoke(args=["trail", "verify-export", str(exported), "--checkpoint-vkey", vkey])
    assert checked.exit_code == 0, checked.output
    assert f"export of {app.config['TRAIL_ORIGIN']}/a ok: 2 entries under" in checked.output
    # An entry altered in the export no longer hashes to the signed root.
    lines = [json.loads(line) for line in text.splitlines()]
    lines[-1]["content"][12] = "allow"  # its verdict
    altered = tmp_path / "altered.jsonl"
    altered.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    broken = runner.invoke(args=["trail", "verify-export", str(altered), "--checkpoint-vkey", vkey])
    assert broken.exit_code == 1 and "do not hash to checkpoint 2's signed root" in broken.output
    # b's entry slipped into a's export is named: its content ends with its own tenant.
    theirs = tmp_path / "b.jsonl"
    assert runner.invoke(args=["trail", "export", "--tenant", "b", str(theirs)]).exit_code == 0
    slipped = [*lines[:-1], {**json.loads(theirs.read_text().splitlines()[-1]), "leaf_index": 1}]
    altered.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in slipped))
    mixed = runner.invoke(args=["trail", "verify-export", str(altered), "--checkpoint-vkey", vkey])
    assert mixed.exit_code == 1 and "is not of this log's tenant a" in mixed.output


def test_the_witness_keeps_each_tenants_log_apart_under_the_services_key(tmp_path):
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from service.signed_notes import COSIGNATURE_V1, NOTE_ED25519, Signer, checkpoint_text
    from service.witness.app import Witness, create_witness_app
    from service.witness.store import Store
    origin = "log.example/trail"
    log = Signer(origin, NOTE_ED25519, Ed25519PrivateKey.generate())
    me = Signer("witness.example/w1", COSIGNATURE_V1, Ed25519PrivateKey.generate())
    witness = Witness(me, {origin: [log.verifier]}, Store(f"sqlite:///{tmp_path / 'w.sqlite'}"))
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(8)]

    def get(level, index):
        return merkle.from_leaves(level, index, lambda _, j: leaves[j])

    def body(log_origin_: str, old: int, size: int) -> str:
        text_ = checkpoint_text(log_origin_, size, merkle.root(size, get))
        proof = merkle.consistency_path(old, size, get) if 0 < old < size else []
        return (f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n"
                + text_ + "\n" + log.line(text_))
    assert witness.add_checkpoint(body(f"{origin}/acme", 0, 4))[0] == 200
    assert witness.add_checkpoint(body(origin, 0, 2))[0] == 200  # the default log: its own size
    assert witness.add_checkpoint(body(f"{origin}/acme", 4, 8))[0] == 200
    assert witness.add_checkpoint(body(f"{origin}/globex", 0, 3))[0] == 200
    assert (witness.store.latest(f"{origin}/acme").size, witness.store.latest(origin).size,
            witness.store.latest(f"{origin}/globex").size) == (8, 2, 3)
    assert witness.add_checkpoint(body(f"{origin}/acme", 0, 4))[0] == 409  # a rollback of acme's log
    assert witness.add_checkpoint(body(f"{origin}/Not A Tenant", 0, 4))[0] == 404
    served = create_witness_app(witness).test_client().get(
        f"/{hashlib.sha256(f'{origin}/globex'.encode()).hexdigest()}/checkpoint")
    assert served.status_code == 200 and served.text.startswith(f"{origin}/globex\n3\n")


def test_the_same_case_id_in_two_tenants_is_two_cases_each_in_its_own_log(tenant_app):
    from tests.test_ledger import CASE, E1001
    app, client = tenant_app, tenant_app.test_client()
    decisions = {}
    for tenant in ("a", "b"):
        body = {"client_key": "k1", "employee": E1001, "case": CASE,
                "event": {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00",
                          "actor": {"id": "E1001", "role": "employee"}, "form": "written", "note": f"by {tenant}"}}
        answer = client.post("/v1/cases/SEP-1/events", json=body, headers=_as(tenant))
        assert answer.status_code == 201, answer.get_json()
        decisions[tenant] = answer.get_json()["decision_id"]
    wait_until_sealed(app)
    for tenant, other in (("a", "b"), ("b", "a")):
        listed = _get(client, tenant, "/v1/trail?case_id=SEP-1").get_json()["entries"]
        assert [e["entry_id"] for e in listed] == [decisions[tenant]]
        assert _get(client, tenant, f"/v1/decisions/{decisions[other]}").status_code == 404
        assert _get(client, tenant, "/v1/cases/SEP-1").get_json()["events"][0]["decision_id"] == decisions[tenant]
    result = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.count("ledger ok: the case_events of 1 case(s) agree with the trail") >= 2


def test_the_trail_pages_show_only_the_signed_in_tenants_log(tenant_app):
    app, client = tenant_app, tenant_app.test_client()
    in_a, in_b = _two_tenants(app, client, a=1, b=1)
    with app.extensions["db_read_sessions"]() as session:
        seqs = dict(session.execute(select(TrailEntry.entry_id, TrailEntry.seq)).all())
    mine, theirs = seqs[in_a[0]["decision_id"]], seqs[in_b[0]["decision_id"]]
    page = _get(client, "a", "/trail?kind=check").get_data(as_text=True)
    assert f'/trail/{mine}"' in page and f'/trail/{theirs}"' not in page and "1 条记录" in page
    assert _get(client, "a", f"/trail/{mine}").status_code == 200
    assert _get(client, "a", f"/trail/{theirs}").status_code == 404
    assert _get(client, "a", f"/trail/{theirs}/stored").status_code == 404


def test_each_tenants_log_is_cosigned_by_the_witness_and_verified_against_it(witnessed):
    from service.record.models import TrailCosignature
    app, witness, _ = witnessed
    with app.extensions["db_sessions"]() as session, session.begin():
        key = create_client(session, "a-ehr", ["checks", "trail:read"], tenant_id="a")
    client = app.test_client()
    for headers in ({}, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {key}"}):
        assert client.post("/v1/checks", json=check_body(), headers=headers).status_code == 200
    wait_until_sealed(app)
    origin = app.config["TRAIL_ORIGIN"]
    assert witness.store.latest(f"{origin}/a").size == 2  # its own log, its own size
    assert witness.store.latest(origin).size >= 1  # the default log (the rule set's entry and a check)
    with app.extensions["db_read_sessions"]() as session:
        cosigned = dict(session.execute(select(TrailCosignature.tenant_id, func.max(TrailCosignature.tree_size))
                                        .group_by(TrailCosignature.tenant_id)).all())
    assert cosigned["a"] == 2 and cosigned["default"] == witness.store.latest(origin).size
    result = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert result.exit_code == 0 and "trail of a ok: 2 entries" in result.output, result.output
    # The witness's memory of a's log holds against a rewrite of a's log alone.
    with app.extensions["db_engine"].begin() as c:
        c.execute(text("DELETE FROM trail_checkpoints WHERE tenant_id = 'a' AND tree_size = 2"))
    cut = app.test_cli_runner().invoke(args=["trail", "verify", "--full", "--tenant", "a"])
    assert cut.exit_code == 1 and "the witness cosigned checkpoint 2" in cut.output, cut.output
    assert app.test_cli_runner().invoke(args=["trail", "verify", "--full", "--tenant", "default"]).exit_code == 0
