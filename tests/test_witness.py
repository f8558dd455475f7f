"""The witness (issue 21, item 3): the protocol as c2sp.org/tlog-witness states it, and the
attacks of whoever runs the service's database (and holds its checkpoint key) that only a
witness catches: a cut tail, and a rewrite re-signed with the real key."""
import base64
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from werkzeug.serving import make_server

from service.record import merkle
from service.record.models import TrailCheckpoint, TrailCosignature, TrailEntry
from service.flows.sealing import wait_until_sealed
from service.record.sealer import append_leaves
from service.record.trail import entry_hash
from service.record.verify import verify_chain
from service.record.witnessing import submit_pending
from service.tools.worker import TASKS, run_pass
from service.witness.app import Witness, create_witness_app
from service.signed_notes import COSIGNATURE_V1, NOTE_ED25519, Signer, checkpoint_text, verified_by
from service.witness.store import Store
from tests.conftest import check_body, make_app

ORIGIN = "log.example/trail"


# -- the protocol, on a tree built here ----------------------------------------------------------

def _tree(leaves: list[bytes], size: int):
    def get(level, index):
        return merkle.from_leaves(level, index, lambda _, j: leaves[j])
    return get


def _checkpoint(log: Signer, leaves: list[bytes], size: int) -> str:
    text_ = checkpoint_text(log.name, size, merkle.root(size, _tree(leaves, size)))
    return text_ + "\n" + log.line(text_)


def _body(log: Signer, leaves, old: int, size: int) -> str:
    proof = merkle.consistency_path(old, size, _tree(leaves, size)) if 0 < old < size else []
    return f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + \
        _checkpoint(log, leaves, size)


@pytest.fixture
def protocol(tmp_path):
    log = Signer(ORIGIN, NOTE_ED25519, Ed25519PrivateKey.generate())
    me = Signer("witness.example/w1", COSIGNATURE_V1, Ed25519PrivateKey.generate())
    witness = Witness(me, {ORIGIN: [log.verifier]}, Store(f"sqlite:///{tmp_path / 'w.sqlite'}"), clock=lambda: 1_700_000_000)
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(20)]
    return log, me, witness, leaves


def test_the_witness_cosigns_a_consistent_checkpoint_and_refuses_rollbacks_and_forks(protocol):
    log, me, witness, leaves = protocol
    status, line, _ = witness.add_checkpoint(_body(log, leaves, 0, 5))
    assert status == 200
    cosigned = _checkpoint(log, leaves, 5) + line
    assert verified_by(cosigned, [me.verifier]) == {me.verifier.vkey: 1_700_000_000}  # cosignature/v1, timestamped
    assert witness.add_checkpoint(_body(log, leaves, 5, 12))[0] == 200
    # A rollback: the log (or whoever holds its key) offers a smaller tree again.
    assert witness.add_checkpoint(_body(log, leaves, 0, 5))[:3] == (409, "12\n", "text/x.tlog.size")
    assert witness.add_checkpoint(_body(log, leaves, 12, 5))[0] == 400  # old size above the checkpoint's
    # A fork: the tree of 12 rewritten (leaf 3 changed), its checkpoint signed with the real key.
    forked = [*leaves[:3], merkle.leaf_hash(b"rewritten"), *leaves[4:]]
    assert witness.add_checkpoint(_body(log, forked, 12, 15))[0] == 422
    assert witness.add_checkpoint(_body(log, forked, 12, 12))[0] == 422  # same size, another root
    assert witness.store.latest(ORIGIN).size == 12  # nothing refused was recorded
    # Not the log's key, a known key that does not verify, an unknown log, a malformed body.
    impostor = Signer(ORIGIN, NOTE_ED25519, Ed25519PrivateKey.generate())
    assert witness.add_checkpoint(_body(impostor, leaves, 12, 15))[0] == 403
    bad = _body(log, leaves, 12, 15)
    bad = bad.replace(checkpoint_text(ORIGIN, 15, merkle.root(15, _tree(leaves, 15))),
                      checkpoint_text(ORIGIN, 15, b"\x01" * 32))
    assert witness.add_checkpoint(bad)[0] == 403
    other = Signer("other.example/log", NOTE_ED25519, Ed25519PrivateKey.generate())
    assert witness.add_checkpoint(_body(other, leaves, 0, 3))[0] == 404
    assert witness.add_checkpoint("old 12\nnot base64!\n\n" + _checkpoint(log, leaves, 15))[0] == 400
    assert witness.add_checkpoint(_body(log, leaves, 12, 15))[0] == 200


def test_the_latest_cosigned_checkpoint_is_served_by_origin_hash(protocol):
    import hashlib
    log, me, witness, leaves = protocol
    client = create_witness_app(witness).test_client()
    path = f"/{hashlib.sha256(ORIGIN.encode()).hexdigest()}/checkpoint"
    assert client.get(path).status_code == 404
    answer = client.post("/add-checkpoint", data=_body(log, leaves, 0, 7), content_type="text/plain")
    assert answer.status_code == 200 and answer.text.startswith("\u2014 witness.example/w1 ")
    served = client.get(path).text
    assert set(verified_by(served, [me.verifier, log.verifier])) == {me.verifier.vkey, log.verifier.vkey}
    assert client.get("/").get_json()["witness"] == me.verifier.vkey


# -- the service and its witness -----------------------------------------------------------------

class Switch:
    """The witness's WSGI app, which a test can take down (503) and bring back."""

    def __init__(self, app):
        self.app, self.down = app, False

    def __call__(self, environ, start_response):
        if self.down and environ["PATH_INFO"] == "/add-checkpoint":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down\n"]
        return self.app(environ, start_response)


@pytest.fixture
def witnessed(database_url, tmp_path):
    """The service, and a witness of its own (own key, own SQLite file) in a thread."""
    me = Signer("witness.test/w1", COSIGNATURE_V1, Ed25519PrivateKey.generate())
    witness = Witness(me, {}, Store(f"sqlite:///{tmp_path / 'witness.sqlite'}"))
    switch = Switch(create_witness_app(witness))
    server = make_server("127.0.0.1", 0, switch, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = make_app(database_url, TRAIL_WITNESS_URL=f"http://127.0.0.1:{server.server_port}",
                   TRAIL_WITNESS_VKEY=me.verifier.vkey, TRAIL_WITNESS_DEGRADED_SECONDS=3600)
    ring = app.extensions["trail_key"]
    witness.logs[ring.name] = ring.checkpoint_verifiers()
    yield app, witness, switch
    server.shutdown()
    server.server_close()
    app.extensions["db_engine"].dispose()


def _checks(app, n):
    client = app.test_client()
    for _ in range(n):
        assert client.post("/v1/checks", json=check_body()).status_code == 200
    wait_until_sealed(app)


def _verify_cli(app):
    return app.test_cli_runner().invoke(args=["trail", "verify"])


def _sql(app, statement, **params):
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text(statement), params)


def _scalar(app, query):
    with app.extensions["db_read_sessions"]() as session:
        return session.scalar(query)


def test_every_checkpoint_is_cosigned_and_verify_relies_on_it(witnessed):
    app, witness, _ = witnessed
    _checks(app, 2)
    _checks(app, 3)
    sizes = _scalar(app, select(func.count()).select_from(TrailCheckpoint))
    assert _scalar(app, select(func.count()).select_from(TrailCosignature)) == sizes >= 2
    latest = _scalar(app, select(func.max(TrailCheckpoint.tree_size)))
    assert witness.store.latest(app.config["TRAIL_ORIGIN"]).size == latest
    result = _verify_cli(app)
    assert result.exit_code == 0 and "trail ok" in result.output, result.output
    ready = app.test_client().get("/readyz").get_json()
    assert ready["witness"]["status"] == "ok" and ready["witness"]["latest_cosigned"] == latest
    assert ready["degraded"] is False
    keys = app.test_client().get("/v1/trail/keys").get_json()
    assert keys["witness"] == witness.signer.verifier.vkey


def test_a_cut_tail_is_caught_by_the_witness(witnessed):
    app, _, _ = witnessed
    _checks(app, 3)
    kept = _scalar(app, select(func.max(TrailCheckpoint.tree_size)))
    _checks(app, 2)
    assert _verify_cli(app).exit_code == 0
    # The operator deletes the last entries with their leaves, nodes and later checkpoints (and
    # the cosignatures stored with them): what is left is a consistent, signed, smaller tree.
    _sql(app, "DELETE FROM trail_entries WHERE seq IN (SELECT seq FROM trail_leaves WHERE leaf_index >= :n)", n=kept)
    _sql(app, "DELETE FROM trail_leaves WHERE leaf_index >= :n", n=kept)
    _sql(app, "DELETE FROM trail_nodes")  # none above level 3 in a tree this small; all would go
    for table in ("trail_checkpoints", "trail_cosignatures"):
        _sql(app, f"DELETE FROM {table} WHERE tree_size > :n", n=kept)
    with app.extensions["db_read_sessions"]() as session:
        assert verify_chain(session, app.extensions["trail_key"]).ok  # the trail alone cannot tell
    # A full verification starts from nothing the trail kept: the witness is what names the cut.
    result = app.test_cli_runner().invoke(args=["trail", "verify", "--full"])
    assert result.exit_code == 1
    assert "the witness cosigned checkpoint" in result.output and "cut from its end" in result.output
    # The default one resumes from the checkpoint verified before the cut, which names it too.
    resumed = _verify_cli(app)
    assert resumed.exit_code == 1 and "is no longer in the database: the tree was cut" in resumed.output


def test_a_rewrite_re_signed_with_the_real_key_is_refused_by_the_witness_and_caught(witnessed):
    app, witness, _ = witnessed
    _checks(app, 4)
    cosigned = witness.store.latest(app.config["TRAIL_ORIGIN"]).size
    ring = app.extensions["trail_key"]
    # The deny of a sealed check becomes an allow; the tree is dropped and built again from the
    # entries as they now are, and signed with the real checkpoint key: the database holds together.
    target = _scalar(app, select(TrailEntry.seq).where(TrailEntry.kind == "check").order_by(TrailEntry.seq))
    _sql(app, "UPDATE trail_entries SET verdict = 'allow' WHERE seq = :s", s=target)
    for table in ("trail_cosignatures", "trail_checkpoints", "trail_nodes", "trail_leaves"):
        _sql(app, f"DELETE FROM {table}")
    with app.extensions["db_read_sessions"]() as session:
        entries = list(session.scalars(select(TrailEntry).order_by(TrailEntry.seq)))
        leaves = [(e.seq, bytes.fromhex(entry_hash({**{c.name: getattr(e, c.name) for c in TrailEntry.__table__.c}})))
                  for e in entries]
    with app.extensions["db_engine"].begin() as connection:
        append_leaves(connection, ring, leaves)
    with app.extensions["db_read_sessions"]() as session:
        assert verify_chain(session, ring).ok  # re-signed: the trail alone holds together
    # The witness will not cosign it: not consistent with the tree it cosigned.
    assert submit_pending(app)["status"] in (409, 422)
    assert _scalar(app, select(func.count()).select_from(TrailCosignature)) == 0
    assert witness.store.latest(app.config["TRAIL_ORIGIN"]).size == cosigned
    result = _verify_cli(app)
    assert result.exit_code == 1 and "rewritten" in result.output, result.output


def test_a_failed_delivery_is_retried_by_the_worker_and_readyz_says_degraded_meanwhile(witnessed):
    app, witness, switch = witnessed
    switch.down = True
    _checks(app, 2)  # sealed; its checkpoint could not reach the witness
    assert _scalar(app, select(func.count()).select_from(TrailCosignature)) == 0
    app.config["TRAIL_WITNESS_DEGRADED_SECONDS"] = 0
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200  # still serving: degraded, not down
    assert ready.get_json()["degraded"] is True and ready.get_json()["witness"]["status"] == "behind"
    refused = _verify_cli(app)
    assert refused.exit_code == 1 and "cosigned no checkpoint" in refused.output, refused.output
    switch.down = False
    task = [t for t in TASKS if t.name == "witness_submit"]
    assert run_pass(app, "test-worker", force=True, tasks=task)["witness_submit"]["cosigned"] >= 1
    latest = _scalar(app, select(func.max(TrailCheckpoint.tree_size)))
    assert _scalar(app, select(TrailCosignature.tree_size).where(TrailCosignature.tree_size == latest)) == latest
    assert app.test_client().get("/readyz").get_json()["degraded"] is False
    assert _verify_cli(app).exit_code == 0


def test_a_sealer_whose_cosignatures_were_lost_catches_up_with_the_witness(witnessed):
    """The witness is ahead of what the database remembers (409): it is told its own size."""
    app, witness, _ = witnessed
    _checks(app, 2)
    _sql(app, "DELETE FROM trail_cosignatures")
    _checks(app, 1)
    assert witness.store.latest(app.config["TRAIL_ORIGIN"]).size == _scalar(
        app, select(func.max(TrailCheckpoint.tree_size)))
    assert _verify_cli(app).exit_code == 0


def test_the_witness_command_in_production_needs_its_own_key_storage_and_log_keys(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from service import PROJECT_ROOT
    from service.witness.cli import witness_group
    monkeypatch.setenv("SEPARATION_GUARD_ENV", "production")
    for name in ("KEY", "DATABASE_URL", "LOG_KEYS"):
        monkeypatch.delenv(f"SEPARATION_GUARD_WITNESS_{name}", raising=False)
    missing = CliRunner().invoke(witness_group, ["vkey"])
    assert missing.exit_code == 1 and "SEPARATION_GUARD_WITNESS_KEY is not set" in missing.output
    monkeypatch.setenv("SEPARATION_GUARD_WITNESS_KEY", str(PROJECT_ROOT / "instance" / "witness" / "witness_key.pem"))
    inside = CliRunner().invoke(witness_group, ["vkey"])
    assert inside.exit_code == 1 and "inside the checkout" in inside.output
    signer = Signer("w.example/w", COSIGNATURE_V1, Ed25519PrivateKey.generate())
    from cryptography.hazmat.primitives import serialization
    key_file = tmp_path / "witness.pem"
    key_file.write_bytes(signer.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    monkeypatch.setenv("SEPARATION_GUARD_WITNESS_KEY", str(key_file))
    monkeypatch.setenv("SEPARATION_GUARD_WITNESS_NAME", "w.example/w")
    assert "WITNESS_DATABASE_URL is not set" in CliRunner().invoke(witness_group, ["vkey"]).output
    monkeypatch.setenv("SEPARATION_GUARD_WITNESS_DATABASE_URL", f"sqlite:///{tmp_path / 'w.sqlite'}")
    assert "WITNESS_LOG_KEYS is not set" in CliRunner().invoke(witness_group, ["vkey"]).output
    log = Signer(ORIGIN, NOTE_ED25519, Ed25519PrivateKey.generate())
    monkeypatch.setenv("SEPARATION_GUARD_WITNESS_LOG_KEYS", log.verifier.vkey)
    ready = CliRunner().invoke(witness_group, ["vkey"])
    assert ready.exit_code == 0 and ready.output.strip() == signer.verifier.vkey


def test_in_development_one_environment_makes_the_witness_and_the_service_agree(monkeypatch, tmp_path):
    """As a run with keys of its own sets them for every Procfile line (nothing from instance/)."""
    from cryptography.hazmat.primitives import serialization

    from service.record.witnessing import witness_vkey
    from service.witness.cli import load_witness

    def pem_file(name):
        path = tmp_path / name
        path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return str(path)

    env = {"TRAIL_SIGNING_KEY": pem_file("trail.pem"), "WITNESS_KEY": pem_file("witness.pem"),
           "WITNESS_DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite'}"}
    monkeypatch.delenv("SEPARATION_GUARD_ENV", raising=False)
    monkeypatch.delenv("SEPARATION_GUARD_WITNESS_LOG_KEYS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"SEPARATION_GUARD_{name}", value)
    witness = load_witness()
    app = make_app(f"sqlite:///{tmp_path / 's.sqlite'}", TRAIL_SIGNING_KEY=env["TRAIL_SIGNING_KEY"],
                   WITNESS_KEY=env["WITNESS_KEY"], TRAIL_WITNESS_URL="http://127.0.0.1:9")
    try:
        ring = app.extensions["trail_key"]
        assert [v.vkey for v in witness.logs[ring.name]] == [v.vkey for v in ring.checkpoint_verifiers()]
        assert witness_vkey(app) == witness.signer.verifier.vkey
    finally:
        app.extensions["db_engine"].dispose()
