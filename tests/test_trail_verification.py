"""Verification that scales: resumed from the last verified checkpoint, recorded, reported by
GET without a scan, asked for by POST and run by the worker; a full one streams and reports its
progress. docs/trail-verification-at-scale.md"""
import datetime as dt
import json

import orjson
import pytest
from sqlalchemy import select, text

from service.record import verification
from service.record.models import TrailEntry, TrailVerification
from service.flows.sealing import wait_until_sealed
from service.record.trail import append_all, entry_values, hash_of
from service.tools import worker
from tests.conftest import check_body

VERIFY_TASK = [t for t in worker.TASKS if t.name == "verify_trail"]


def _checks(client, n):
    assert client.post("/v1/checks:batch", json={"checks": [check_body() for _ in range(n)]}).status_code == 200


def _sql(app, statement, **params):
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text(statement), params)


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["trail", "verify", *args])


def _rows(app):
    with app.extensions["db_read_sessions"]() as session:
        return list(session.scalars(select(TrailVerification).order_by(TrailVerification.id)))


def test_an_incremental_verification_resumes_from_the_last_verified_checkpoint_and_rehashes_only_the_new(app, client):
    _checks(client, 4)
    wait_until_sealed(app)
    first = _cli(app)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("trail ok: 5 entries, 5 sealed up to checkpoint 5, 0 pending (5 leaves re-hashed)")
    _checks(client, 3)
    wait_until_sealed(app)
    second = _cli(app)
    assert second.exit_code == 0, second.output
    assert "8 sealed up to checkpoint 8" in second.output
    assert "(resumed from checkpoint 5, 3 new leaves re-hashed)" in second.output
    body = client.get("/v1/trail/verify").get_json()
    assert body["ok"] is True and body["mode"] == "incremental" and body["from_checkpoint"] == 5
    assert (body["checkpoint"], body["checked"], body["entries"], body["sealed"]) == (8, 3, 8, 8)
    assert body["verified_at"] and body["root_hash"] and body["in_progress"] is None
    nothing_new = _cli(app)
    assert "(resumed from checkpoint 8, 0 new leaves re-hashed)" in nothing_new.output


def test_get_reports_the_latest_verification_and_never_scans(app, client, monkeypatch):
    never = client.get("/v1/trail/verify").get_json()
    assert never["ok"] is False and never["verified_at"] is None and "never verified" in never["reason"]
    _checks(client, 2)
    wait_until_sealed(app)
    assert _cli(app).exit_code == 0
    from service.record import verify
    monkeypatch.setattr(verify.Scan, "leaves", lambda *a: pytest.fail("GET scanned the tree"))
    body = client.get("/v1/trail/verify").get_json()
    assert body["ok"] is True and body["checkpoint"] == 3


def test_a_post_asks_the_worker_which_runs_it_once(app, client):
    _checks(client, 2)
    wait_until_sealed(app)
    asked = client.post("/v1/trail/verify")
    assert asked.status_code == 202
    waiting = asked.get_json()["in_progress"]
    assert waiting["status"] == "requested" and waiting["mode"] == "incremental"
    again = client.post("/v1/trail/verify").get_json()["in_progress"]
    assert again["verification_id"] == waiting["verification_id"]  # one open request, not two
    assert worker.run_pass(app, "test", force=True, tasks=VERIFY_TASK) == {
        "verify_trail": {"ran": waiting["verification_id"], "mode": "incremental"}}
    body = client.get("/v1/trail/verify").get_json()
    assert body["ok"] is True and body["verification_id"] == waiting["verification_id"] and body["in_progress"] is None
    assert worker.run_pass(app, "test", force=True, tasks=VERIFY_TASK) == {"verify_trail": {}}  # nothing asked
    [row] = _rows(app)
    assert (row.status, row.requested_by, row.checked, row.to_check) == ("ok", "development", 3, 3)


def test_a_verification_whose_process_died_is_taken_over(app, client):
    _checks(client, 1)
    wait_until_sealed(app)
    client.post("/v1/trail/verify?full=true")
    assert verification.claim(app.extensions["db_engine"], "host-a:1") is not None
    assert verification.claim(app.extensions["db_engine"], "host-b:2") is None  # taken, and alive
    _sql(app, "UPDATE trail_verifications SET heartbeat_at = :t",
         t=dt.datetime.now(dt.timezone.utc) - verification.STALE - dt.timedelta(seconds=1))
    assert worker.run_pass(app, "test", force=True, tasks=VERIFY_TASK)["verify_trail"]["mode"] == "full"
    assert [r.status for r in _rows(app)] == ["ok"]


def test_the_worker_verifies_on_its_own_every_so_often(app, client):
    _checks(client, 1)
    wait_until_sealed(app)
    app.config["TRAIL_VERIFY_SECONDS"] = 3600
    assert worker.run_pass(app, "test", force=True, tasks=VERIFY_TASK)["verify_trail"]["mode"] == "incremental"
    assert worker.run_pass(app, "test", force=True, tasks=VERIFY_TASK) == {"verify_trail": {}}  # not due again
    assert [(r.status, r.requested_by) for r in _rows(app)] == [("ok", "worker")]


def test_a_cut_tail_is_named_against_the_checkpoint_verified_before(app, client):
    """Issue 21, attack 2: the last entries deleted with their leaves, nodes and later checkpoints."""
    _checks(client, 4)
    wait_until_sealed(app)
    _checks(client, 3)
    wait_until_sealed(app)
    assert _cli(app).exit_code == 0
    for statement in ("DELETE FROM trail_leaves WHERE leaf_index >= 5", "DELETE FROM trail_entries WHERE seq > 5",
                      "DELETE FROM trail_nodes", "DELETE FROM trail_checkpoints WHERE tree_size > 5"):
        _sql(app, statement)
    cut = _cli(app)
    assert cut.exit_code == 1
    assert "checkpoint 8, verified on" in cut.output and "no longer in the database: the tree was cut" in cut.output
    assert client.get("/v1/trail/verify").get_json()["ok"] is False


def test_a_new_entry_edited_is_caught_and_a_failure_never_moves_the_resume_point(app, client):
    _checks(client, 2)
    wait_until_sealed(app)
    assert _cli(app).exit_code == 0
    _checks(client, 2)
    wait_until_sealed(app)
    _sql(app, "UPDATE trail_entries SET verdict = 'allow' WHERE seq = 5")
    for _ in range(2):
        broken = _cli(app)
        assert broken.exit_code == 1 and "trail BROKEN at entry 5" in broken.output
        assert "altered after it was written" in broken.output
    rows = _rows(app)
    assert [(r.status, r.from_size, r.tree_size) for r in rows] == [("ok", None, 3), ("failed", 3, 5), ("failed", 3, 5)]
    assert rows[-1].problems and "entry 5" in rows[-1].problems[0]
    body = client.get("/v1/trail/verify").get_json()
    assert body["ok"] is False and body["first_bad_seq"] == 5 and body["from_checkpoint"] == 3


def test_an_old_entry_edited_is_a_full_verifications_to_find_and_stands_until_one_holds(app, client):
    app.config["TRAIL_VERIFY_SAMPLE"] = 0  # no spot check (the next test)
    _checks(client, 4)
    wait_until_sealed(app)
    first = _cli(app, "--full")
    assert first.exit_code == 0 and "verified 5 of 5 leaves" in first.output  # its progress (stderr)
    assert [(r.mode, r.checked, r.to_check) for r in _rows(app)] == [("full", 5, 5)]
    _sql(app, "UPDATE trail_entries SET verdict = 'allow' WHERE seq = 3")
    # Already verified: the incremental verification re-hashes only what came after it.
    assert _cli(app).exit_code == 0
    full = _cli(app, "--full")
    assert full.exit_code == 1 and "trail BROKEN at entry 3" in full.output
    # Found once, it stands: a later incremental verification does not clear it.
    _checks(client, 1)
    wait_until_sealed(app)
    standing = _cli(app)
    assert standing.exit_code == 1 and "trail BROKEN at entry 3" in standing.output
    assert "only a full verification that holds clears it" in standing.output
    assert client.get("/v1/trail/verify").get_json()["first_bad_seq"] == 3


def test_extra_checks_on_the_checkpoint_relied_on_can_fail_a_verification(app, client, monkeypatch):
    _checks(client, 1)
    wait_until_sealed(app)
    seen = []

    def witness(connection, checkpoint):
        seen.append(checkpoint["tree_size"])
        return "no cosignature of the witness on it"
    monkeypatch.setattr(verification, "CHECKPOINT_CHECKS", [witness])
    result = _cli(app)
    assert result.exit_code == 1 and "no cosignature of the witness on it" in result.output and seen == [2]


def test_content_the_fast_encoder_writes_otherwise_is_hashed_the_reference_way(app, client):
    """orjson and json differ on some values (a float's exponent): never a false alarm."""
    assert orjson.dumps(1e-07) != json.dumps(1e-07).encode()
    with app.app_context(), app.extensions["db_sessions"]() as session, session.begin():
        append_all(session, [entry_values(kind="check", recorded_at=dt.datetime.now(dt.timezone.utc),
                                          ruleset_version="v", body={"ratio": 1e-07, "big": 2**70, "名": "值\u2028"})],
                   app.extensions["trail_key"])
    wait_until_sealed(app)
    result = _cli(app, "--full")
    assert result.exit_code == 0, result.output


def test_an_entry_queued_at_the_last_verification_and_dropped_from_the_queue_since_is_named(app, client):
    _checks(client, 2)
    wait_until_sealed(app)
    _checks(client, 1)  # queued, not sealed: the verification counts it as pending
    first = _cli(app)
    assert first.exit_code == 0 and "1 pending" in first.output
    _sql(app, "DELETE FROM trail_pending")
    dropped = _cli(app)
    assert dropped.exit_code == 1 and "trail BROKEN at entry 4" in dropped.output
    assert "neither in the tree nor queued" in dropped.output


@pytest.mark.parametrize("tamper, words", [
    ("edit", "entry 3 was altered after it was written"),
    ("delete", "entry 3 (leaf 2), verified before, is missing"),
    ("edit and rehash", "the tree verified at 5 leaves was rewritten: the inclusion proof of leaf 0"),
])
def test_the_spot_check_of_old_leaves_finds_a_rewrite_of_what_was_verified(app, client, tamper, words):
    app.config["TRAIL_VERIFY_SAMPLE"] = 3
    _checks(client, 4)
    wait_until_sealed(app)
    assert _cli(app).exit_code == 0
    if tamper == "delete":
        _sql(app, "DELETE FROM trail_entries WHERE seq = 3")
    else:
        _sql(app, "UPDATE trail_entries SET verdict = 'allow' WHERE seq = 3")
    if tamper == "edit and rehash":  # the leaf made to match the edited entry: the tree no longer does
        with app.extensions["db_read_sessions"]() as session:
            rehashed = bytes.fromhex(hash_of(session.get(TrailEntry, 3)))
        _sql(app, "UPDATE trail_leaves SET hash = :h WHERE leaf_index = 2", h=rehashed)
    app.config["TRAIL_VERIFY_SAMPLE"] = 5  # the whole tree of 5: the draw always includes leaf 2
    caught = _cli(app)
    assert caught.exit_code == 1 and words in caught.output and "BROKEN" in caught.output
