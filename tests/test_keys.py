"""The trail's keys (issue 21, item 7): receipts and checkpoints signed by separate keys with key
ids; rotation keeps what old keys signed verifying; production takes keys from outside the
checkout; only the sealer reads the checkpoint key."""
import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service import PROJECT_ROOT
from service.record.keyring import load_keyring
from service.flows.sealing import wait_until_sealed
from service.record.signing import SigningKeyError, TrailKey
from service.signed_notes import split_note
from tests.conftest import check_body, make_app

ORIGIN = "separation-guard.example/trail"


def _pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _vkey(pem: str) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return TrailKey(ORIGIN, key, key.public_key()).key_id


def _check(app) -> dict:
    answer = app.test_client().post("/v1/checks", json=check_body())
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _verify(app, receipts=None, tmp_path=None):
    args = ["trail", "verify"]
    if receipts:
        kept = tmp_path / "receipts.jsonl"
        kept.write_text("".join(json.dumps(r) + "\n" for r in receipts))
        args += ["--receipts", str(kept)]
    return app.test_cli_runner().invoke(args=args)


def test_receipts_and_checkpoints_are_signed_by_two_keys_each_named_by_its_id(app):
    answer = _check(app)
    wait_until_sealed(app)
    ring = app.extensions["trail_key"]
    assert answer["receipt"]["key_id"] == ring.receipt_key.key_id != ring.key_id
    note = app.test_client().get("/v1/trail/checkpoints").get_json()["checkpoints"][-1]["note"]
    _, signatures = split_note(note)
    assert [raw[:4] for _, raw in signatures] == [ring.checkpoint_public.key_hash]  # the signed-note key id
    listed = app.test_client().get("/v1/trail/keys").get_json()["keys"]
    assert {(k["role"], k["state"]) for k in listed} >= {("receipt", "current"), ("checkpoint", "current")}


def test_a_process_that_does_not_seal_never_reads_the_checkpoint_key(database_url):
    app = make_app(database_url)
    try:
        ring = app.extensions["trail_key"]
        assert ring._checkpoint is None  # verifying needs its public half only
        _check(app)
        wait_until_sealed(app)  # sealing reads it
        assert ring._checkpoint is not None and ring._checkpoint.key_id == ring.key_id
    finally:
        app.extensions["db_engine"].dispose()


def test_in_production_the_checkpoint_key_is_the_sealers_alone_and_never_inside_the_checkout(tmp_path):
    config = {"TRAIL_ORIGIN": ORIGIN, "ENV": "production"}
    checkpoint = _pem()
    web = load_keyring({**config, "TRAIL_RECEIPT_KEY": _pem(), "TRAIL_CHECKPOINT_VKEY": _vkey(checkpoint)},
                       tmp_path, PROJECT_ROOT)
    with pytest.raises(SigningKeyError, match="only the sealer"):
        web.sign_note(f"{ORIGIN}\n1\n{base64.b64encode(b'x' * 32).decode()}\n")
    outside = tmp_path / "checkpoint.pem"
    outside.write_text(checkpoint)
    sealer = load_keyring({**config, "TRAIL_RECEIPT_KEY": _pem(), "TRAIL_CHECKPOINT_KEY": str(outside),
                           "TRAIL_CHECKPOINT_VKEY": _vkey(checkpoint)}, tmp_path, PROJECT_ROOT)
    assert sealer.open_note(sealer.sign_note(f"{ORIGIN}\n1\n{base64.b64encode(b'x' * 32).decode()}\n"))
    inside = PROJECT_ROOT / "instance" / "trail_receipt_key.pem"
    with pytest.raises(SigningKeyError, match="inside the checkout"):
        load_keyring({**config, "TRAIL_RECEIPT_KEY": str(inside), "TRAIL_CHECKPOINT_VKEY": _vkey(checkpoint)},
                     tmp_path, PROJECT_ROOT)
    with pytest.raises(SigningKeyError, match="replaced by TRAIL_RECEIPT_KEY and TRAIL_CHECKPOINT_KEY"):
        load_keyring({**config, "TRAIL_SIGNING_KEY": _pem()}, tmp_path, PROJECT_ROOT)


def test_the_single_key_of_before_becomes_a_retired_key_of_both_roles_and_rotation_keeps_verifying(
        database_url, tmp_path):
    old = _pem()
    before = make_app(database_url, TRAIL_SIGNING_KEY=old)  # as deployed before the split
    try:
        first = _check(before)
        wait_until_sealed(before)
    finally:
        before.extensions["db_engine"].dispose()
    receipt, checkpoint = _pem(), _pem()
    split = {"TRAIL_RECEIPT_KEY": receipt, "TRAIL_CHECKPOINT_KEY": checkpoint}
    forgetful = make_app(database_url, **split)
    try:  # without the old key retired, what it signed no longer verifies
        refused = _verify(forgetful)
        assert refused.exit_code == 1 and "not signed by the trail's key" in refused.output
    finally:
        forgetful.extensions["db_engine"].dispose()
    after = make_app(database_url, **split, TRAIL_RETIRED_KEYS=f"receipt:{_vkey(old)}, checkpoint:{_vkey(old)}")
    try:
        second = _check(after)
        wait_until_sealed(after)
        assert second["receipt"]["key_id"] == _vkey(receipt) and first["receipt"]["key_id"] == _vkey(old)
        result = _verify(after, [first["receipt"], second["receipt"]], tmp_path)
        assert result.exit_code == 0 and "receipts: 2 of 2 hold" in result.output, result.output
        shown = after.test_cli_runner().invoke(args=["trail", "keys", "list"]).output
        assert f"receipt    retired  {_vkey(old)}" in shown and f"checkpoint current  {_vkey(checkpoint)}" in shown
    finally:
        after.extensions["db_engine"].dispose()


def test_trail_keys_create_writes_a_new_key_once_and_show_prints_its_retired_items(sqlite_app, tmp_path):
    runner = sqlite_app.test_cli_runner()
    path = tmp_path / "receipt-2027.pem"
    made = runner.invoke(args=["trail", "keys", "create", "--role", "receipt", str(path)])
    assert made.exit_code == 0, made.output
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    vkey = _vkey(path.read_text())
    assert f"key id: {vkey}" in made.output
    assert runner.invoke(args=["trail", "keys", "create", "--role", "receipt", str(path)]).exit_code == 1
    shown = runner.invoke(args=["trail", "keys", "show", str(path)])
    assert shown.output.split() == [f"receipt:{vkey}", f"checkpoint:{vkey}"]
