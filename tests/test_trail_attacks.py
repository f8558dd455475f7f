"""Attacks by whoever runs the database: what the sealer refuses, what `trail verify` names, what
a receipt an EHR kept proves, and a client key reused with another request."""
import json
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text

from service.flows import sealing as sealer
from service.record.models import TrailEntry, TrailLeaf
from service.flows.sealing import seal_once, wait_until_sealed
from service.record.signing import TrailKey
from service.record.trail import hash_of
from service.record.verify import verify_chain
from tests.conftest import check_body


def _post(client, **overrides):
    response = client.post("/v1/checks", json=check_body(**overrides))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _verify(app):
    with app.extensions["db_read_sessions"]() as session:
        return verify_chain(session, app.extensions["trail_key"])


def _sql(app, statement, **params):
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text(statement), params)


def _scalar(app, query):
    with app.extensions["db_read_sessions"]() as session:
        return session.scalar(query)


def _seq_of(app, decision_id):
    return _scalar(app, select(TrailEntry.seq).where(TrailEntry.entry_id == decision_id))


def test_a_sealed_check_rewritten_and_queued_again_is_refused_and_still_renders_as_answered(app, client, tmp_path):
    answer = _post(client)
    assert answer["verdict"] == "deny"
    wait_until_sealed(app)
    assert _verify(app).ok
    # The operator turns the deny into an allow, drops the tree and queues everything again with
    # no hash, for the sealer to hash "what is there now" and sign it with the real key.
    _sql(app, "UPDATE trail_entries SET verdict = 'allow' WHERE entry_id = :id", id=answer["decision_id"])
    for table in ("trail_checkpoints", "trail_nodes", "trail_leaves"):
        _sql(app, f"DELETE FROM {table}")
    _sql(app, "INSERT INTO trail_pending (seq) SELECT seq FROM trail_entries")
    wait_until_sealed(app)

    seq = _seq_of(app, answer["decision_id"])
    assert _scalar(app, select(TrailLeaf.leaf_index).where(TrailLeaf.seq == seq)) is None  # not sealed
    refusals = client.get("/v1/trail?kind=seal_refused").get_json()["entries"]
    assert sorted(e["body"]["refused_seq"] for e in refusals) == [1, seq]  # the rule-set entry and the check
    assert {e["body"]["reason"] for e in refusals} == {"it was queued without its writer's hash and signature"}
    result = _verify(app)
    assert not result.ok and result.first_bad_seq == 1
    assert "the sealer refused it" in result.reason and "behind the service's back" in result.reason
    cli = app.test_cli_runner().invoke(args=["trail", "verify"])
    assert cli.exit_code == 1 and "trail BROKEN at entry 1" in cli.output

    shown = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert shown["verdict"] == "deny"  # assembled from what the engine matched, not the edited column
    assert [f["rule_id"] for f in shown["findings"]] == [f["rule_id"] for f in answer["findings"]]
    assert shown["entry_intact"] is False and "receipt" not in shown  # no receipt over what the trail lacks

    kept = tmp_path / "receipts.jsonl"
    kept.write_text(json.dumps(answer["receipt"]) + "\n")
    checked = app.test_cli_runner().invoke(args=["trail", "verify", "--receipts", str(kept)])
    assert checked.exit_code == 1
    assert f"receipt 1 decision {answer['decision_id']}: FAILED: entry {seq} is not in the tree" in checked.output


@pytest.mark.parametrize("tamper, reason", [
    ("null", "it was queued without its writer's hash and signature"),
    ("rehash", "its signature does not verify"),
    ("other_signature", "its signature does not verify"),
])
def test_an_entry_edited_while_queued_is_refused(app, client, tamper, reason):
    first, answer = _post(client), _post(client)
    seq, other = _seq_of(app, answer["decision_id"]), _seq_of(app, first["decision_id"])
    _sql(app, "UPDATE trail_entries SET verdict = 'allow' WHERE seq = :seq", seq=seq)
    if tamper == "null":
        _sql(app, "UPDATE trail_pending SET hash = NULL WHERE seq = :seq", seq=seq)
    else:
        with app.extensions["db_read_sessions"]() as session:
            edited = bytes.fromhex(hash_of(session.get(TrailEntry, seq)))
        _sql(app, "UPDATE trail_pending SET hash = :h WHERE seq = :seq", h=edited, seq=seq)
        if tamper == "other_signature":  # a real signature, over another entry's hash
            _sql(app, "UPDATE trail_pending SET signature = (SELECT signature FROM trail_pending WHERE seq = :o) "
                      "WHERE seq = :seq", o=other, seq=seq)
    before = _verify(app)  # named while still queued, before the sealer gets to it
    assert not before.ok and before.first_bad_seq == seq and "without its writer's signature" in before.reason
    assert client.get(f"/v1/decisions/{answer['decision_id']}").get_json()["entry_intact"] is False

    wait_until_sealed(app)
    assert _scalar(app, select(TrailLeaf.leaf_index).where(TrailLeaf.seq == seq)) is None
    assert _scalar(app, select(TrailLeaf.leaf_index).where(TrailLeaf.seq == other)) is not None  # the rest is sealed
    refusal = client.get("/v1/trail?kind=seal_refused").get_json()["entries"]
    assert [(e["body"]["refused_seq"], e["body"]["entry_id"]) for e in refusal] == [(seq, answer["decision_id"])]
    assert refusal[0]["body"]["reason"].startswith(reason)
    after = _verify(app)
    assert not after.ok and after.first_bad_seq == seq and "the sealer refused it" in after.reason
    shown = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    assert shown["verdict"] == "deny" and shown["entry_intact"] is False


def test_an_intact_decision_carries_the_receipt_it_was_answered_with(app, client):
    answer = _post(client)
    queued = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    wait_until_sealed(app)
    sealed = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    for shown in (queued, sealed):
        assert shown["entry_intact"] is True and shown["receipt"] == answer["receipt"]


def _forged(receipt: dict, key: TrailKey) -> dict:
    """Signed by another key under the trail's name, claiming the trail's key id."""
    other = Ed25519PrivateKey.generate()
    impostor = TrailKey(key.name, other, other.public_key())
    signed = receipt["signed"]
    return {**impostor.receipt(decision_id=signed.split("\n")[1].split(" ")[1],
                               entry_hash=signed.split("\n")[2].removeprefix("entry sha256:"),
                               recorded_at=signed.split("\n")[3].removeprefix("recorded_at ")),
            "key_id": key.key_id}


def test_receipts_an_ehr_kept_are_checked_one_by_one(app, client, tmp_path):
    good, second = _post(client), _post(client)
    event = client.post("/v1/cases/SEP-9/events", json={
        "client_key": "k1", "case": {"kind": "resignation"}, "employee": {"id": "E7"},
        "event": {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00", "form": "written",
                  "actor": {"id": "E7", "role": "employee"}}})
    assert event.status_code == 201, event.get_json()
    wait_until_sealed(app)
    key = app.extensions["trail_key"]
    tampered = {**good["receipt"], "signed": good["receipt"]["signed"].replace(good["decision_id"],
                                                                             second["decision_id"])}
    kept = tmp_path / "receipts.jsonl"
    kept.write_text("\n".join(json.dumps(r) for r in (
        good["receipt"], _forged(good["receipt"], key), tampered, event.get_json()["receipt"])) + "\n")
    result = app.test_cli_runner().invoke(args=["trail", "verify", "--receipts", str(kept)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("receipt ")]
    assert lines[0].startswith(f"receipt 1 decision {good['decision_id']}: ok: entry ")
    assert "in signed checkpoint 4" in lines[0]
    assert lines[1] == lines[2].replace("receipt 3", "receipt 2") == (
        "receipt 2 (no decision named): FAILED: its signature does not verify with the trail's key "
        "(forged, or its signed text was altered)")
    assert lines[3].startswith(f"receipt 4 decision {event.get_json()['decision_id']}: ok")
    assert "receipts: 2 of 4 hold" in result.output

    kept.write_text(json.dumps(good["receipt"]) + "\n\n" + json.dumps(second["receipt"]) + "\n")
    ok = app.test_cli_runner().invoke(args=["trail", "verify", "--receipts", str(kept)])
    assert ok.exit_code == 0 and "receipts: 2 of 2 hold" in ok.output


def test_a_receipt_is_not_evidence_until_its_entry_is_sealed_and_fails_once_its_leaf_is_rewritten(
        app, client, tmp_path):
    answer = _post(client)
    kept = tmp_path / "receipts.jsonl"
    kept.write_text(json.dumps(answer["receipt"]) + "\n")
    pending = app.test_cli_runner().invoke(args=["trail", "verify", "--receipts", str(kept)])
    assert pending.exit_code == 1 and "is recorded and not sealed yet" in pending.output
    wait_until_sealed(app)
    seq = _seq_of(app, answer["decision_id"])
    _sql(app, "UPDATE trail_leaves SET hash = :h WHERE seq = :seq", h=b"\x07" * 32, seq=seq)
    rewritten = app.test_cli_runner().invoke(args=["trail", "verify", "--receipts", str(kept)])
    assert rewritten.exit_code == 1 and "holds another hash than the receipt signed" in rewritten.output
    assert "receipts: none proven, the trail does not verify (0 of 1 found at their leaf)" in rewritten.output


def test_the_entries_queued_before_signed_queueing_are_sealed_once_by_an_explicit_command(app, client):
    answer = _post(client)
    # As migration 0008 leaves a queue written before it: the rule-set entry without a hash.
    _sql(app, "INSERT INTO trail_legacy_pending (seq, hash) SELECT seq, hash FROM trail_pending")
    _sql(app, "DELETE FROM trail_pending")
    _sql(app, "UPDATE trail_legacy_pending SET hash = NULL WHERE seq = 1")
    assert seal_once(app) == 0  # the sealer leaves them alone
    waiting = _verify(app)
    assert waiting.ok and waiting.pending == 2 and waiting.sealed == 0

    runner = app.test_cli_runner()
    done = runner.invoke(args=["trail", "seal", "--legacy-unsigned"])
    assert done.exit_code == 0, done.output
    assert "sealed 2 entries queued before signed queueing (entries 1, 2)" in done.output
    assert "1 of them had no queued hash: sealed with the hash of their content as it is now (entries 1)" \
        in done.output
    assert "this never runs again" in done.output and "sealed 1 entries" in done.output  # the record of it
    result = _verify(app)
    assert result.ok and result.pending == 0 and result.sealed == result.entries == 3
    marker = client.get("/v1/trail?kind=legacy_sealed").get_json()["entries"]
    assert [m["body"] for m in marker] == [{"sealed": [1, 2], "hashed_now": [1], "refused": []}]
    assert client.get(f"/v1/decisions/{answer['decision_id']}").get_json()["entry_intact"] is True

    again = runner.invoke(args=["trail", "seal", "--legacy-unsigned"])
    assert again.exit_code == 1 and "sealed once already" in again.output
    # Anything put in that queue afterwards is never sealed, and named.
    _sql(app, "INSERT INTO trail_legacy_pending (seq) VALUES (2)")
    named = _verify(app)
    assert not named.ok and named.first_bad_seq == 2 and "sealed once already" in named.reason
    assert runner.invoke(args=["trail", "seal", "--legacy-unsigned"]).exit_code == 1


def test_a_legacy_chain_entry_whose_content_no_longer_holds_its_hash_is_refused(app, client):
    _post(client)
    wait_until_sealed(app)
    # A hash-chained entry (scheme 2) queued by migration 0005, edited since.
    _sql(app, "INSERT INTO trail_entries (seq, entry_id, kind, recorded_at, rule_ids, ruleset_version, body, "
              "prev_hash, hash, hash_scheme) VALUES (0, 'old', 'check', '2025-01-01 00:00:00', '[]', 'v0', "
              "'{}', :genesis, :h, 2)", genesis="0" * 64, h="ab" * 32)
    _sql(app, "INSERT INTO trail_legacy_pending (seq) VALUES (0)")
    done = app.test_cli_runner().invoke(args=["trail", "seal", "--legacy-unsigned"])
    assert done.exit_code == 0
    assert "refused entry 0: queued without a hash, and its content no longer holds its chain hash" in done.output
    wait_until_sealed(app)
    result = _verify(app)
    assert not result.ok and result.first_bad_seq == 0 and "the sealer refused it" in result.reason


def test_a_sealing_loop_never_runs_without_a_pause(app, monkeypatch):
    app.config["TRAIL_SEAL_SECONDS"] = 0  # "no sealer thread in the service"
    with pytest.raises(ValueError, match="needs a pause"):
        sealer.run(app)
    outcome = {}

    def loop():
        outcome["result"] = app.test_cli_runner().invoke(args=["trail", "seal", "--loop"])
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "trail seal --loop with a zero interval ran on"
    result = outcome["result"]
    assert result.exit_code == 2 and "--interval SECONDS" in result.output
    zero = app.test_cli_runner().invoke(args=["trail", "seal", "--loop", "--interval", "0"])
    assert zero.exit_code == 2 and "--interval" in zero.output

    rounds = []
    monkeypatch.setattr(sealer, "seal_once", lambda target: rounds.append(target) or 0)
    stop = threading.Event()
    looping = threading.Thread(target=sealer.run, args=(app, stop, 0.05), daemon=True)
    looping.start()
    stop.wait(0.3)
    stop.set()
    looping.join(timeout=5)
    assert 2 <= len(rounds) <= 10  # a round every 0.05 s, not a spin


def test_the_queue_and_the_sealer_count_no_entry_twice(app, client):
    """A refusal is an entry of its own: sealed once, and the refused entry is never a leaf."""
    answer = _post(client)
    seq = _seq_of(app, answer["decision_id"])
    _sql(app, "UPDATE trail_pending SET signature = NULL WHERE seq = :seq", seq=seq)
    wait_until_sealed(app)
    with app.extensions["db_read_sessions"]() as session:
        leaves = session.scalar(select(func.count()).select_from(TrailLeaf))
        kinds = sorted(session.scalars(select(TrailEntry.kind)))
    assert kinds == ["check", "ruleset_change", "seal_refused"] and leaves == 2
