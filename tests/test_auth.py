"""API keys and scopes: 401 without a valid key, 403 without the scope, both in the trail."""
import base64

import pytest

from sqlalchemy import update

from service import create_app
from service.http.keys import KeyCache, StartUpRefused, create_client
from service.http.refusals import flush_refusals
from service.record.models import ApiClient
from tests.conftest import check_body, make_app


def _key(app, name, *scopes):
    with app.extensions["db_sessions"]() as session, session.begin():
        return create_client(session, name, list(scopes))


def _refusals(app, client):
    flush_refusals(app, everything=True)  # the minute under way: written at its end, or now
    return client.get("/v1/trail?kind=access_refused").get_json()["entries"]


def test_no_key_is_401_and_recorded(app, client):
    anonymous = app.test_client()
    anonymous.environ_base.pop("HTTP_AUTHORIZATION")
    response = anonymous.post("/v1/checks", json=check_body())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = anonymous.post("/v1/checks", json=check_body(), headers={"Authorization": "Bearer sg_nope"})
    assert wrong.status_code == 401
    [refusals] = _refusals(app, client)
    assert refusals["body"]["count"] == 2 and refusals["body"]["by_status"] == {"401": 2}
    assert refusals["body"]["by_reason"] == {"missing API key": 1, "unknown or revoked API key": 1}
    assert refusals["client_id"] is None and refusals["body"]["by_route"] == {"POST /v1/checks": 2}


def test_a_key_without_the_scope_is_403_and_recorded_with_the_client(app, client):
    key = _key(app, "auditor-portal", "trail:read")
    auditor = app.test_client()
    auditor.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert auditor.get("/v1/trail").status_code == 200
    assert auditor.post("/v1/checks", json=check_body()).status_code == 403
    refusal = _refusals(app, client)[-1]
    assert refusal["client_id"] == "auditor-portal" and refusal["body"]["by_status"] == {"403": 1}


def test_the_trail_names_the_client_of_each_decision(app, client):
    key = _key(app, "ehr-prod", "checks")
    ehr = app.test_client()
    ehr.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    decision_id = ehr.post("/v1/checks", json=check_body()).get_json()["decision_id"]
    entry = next(e for e in client.get("/v1/trail?kind=check").get_json()["entries"] if e["entry_id"] == decision_id)
    assert entry["client_id"] == "ehr-prod"


def test_a_revoked_key_is_refused(app):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["keys", "create", "temp", "--scope", "checks"])
    assert created.exit_code == 0
    key = created.output.strip()
    assert key.startswith("sg_")
    caller = app.test_client()
    caller.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert caller.post("/v1/checks", json=check_body()).status_code == 200
    assert runner.invoke(args=["keys", "revoke", "temp"]).exit_code == 0
    assert caller.post("/v1/checks", json=check_body()).status_code == 401
    listing = runner.invoke(args=["keys", "list"]).output
    assert "temp" in listing and "revoked" in listing and key not in listing


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _revoke_elsewhere(app, name):
    """As the `keys revoke` command run in another process does: this worker's cache is not told."""
    with app.extensions["db_sessions"]() as session, session.begin():
        session.execute(update(ApiClient).where(ApiClient.name == name).values(revoked_at=ApiClient.created_at))


def test_a_key_revoked_in_another_process_is_refused_once_the_cache_time_has_passed(app):
    clock = FakeClock()
    app.extensions["api_key_cache"] = KeyCache(5, clock=clock)
    key = _key(app, "ehr-temp", "checks")
    caller = app.test_client()
    caller.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert caller.post("/v1/checks", json=check_body()).status_code == 200
    _revoke_elsewhere(app, "ehr-temp")
    clock.now += 4.9
    assert caller.post("/v1/checks", json=check_body()).status_code == 200  # the documented window
    clock.now += 0.1
    assert caller.post("/v1/checks", json=check_body()).status_code == 401


def test_with_key_caching_off_a_revocation_elsewhere_applies_at_once(database_url):
    app = make_app(database_url, API_KEY_CACHE_SECONDS=0)
    try:
        key = _key(app, "ehr-temp", "checks")
        caller = app.test_client()
        caller.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        assert caller.post("/v1/checks", json=check_body()).status_code == 200
        _revoke_elsewhere(app, "ehr-temp")
        assert caller.post("/v1/checks", json=check_body()).status_code == 401
    finally:
        app.extensions["db_engine"].dispose()


def test_an_unknown_key_is_not_remembered(app):
    key = "sg_" + "k" * 43
    caller = app.test_client()
    caller.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert caller.post("/v1/checks", json=check_body()).status_code == 401
    with app.extensions["db_sessions"]() as session, session.begin():
        create_client(session, "late", ["checks"], key=key)
    assert caller.post("/v1/checks", json=check_body()).status_code == 200


def test_the_key_cache_is_bounded():
    cache = KeyCache(60, size=2)
    for n in range(3):
        cache.put(f"d{n}", object())
    assert cache.get("d2") is not None and cache.get("d0") is None


def test_unknown_scope_is_refused_by_the_command(app):
    result = app.test_cli_runner().invoke(args=["keys", "create", "x", "--scope", "everything"])
    assert result.exit_code != 0 and "unknown scopes" in result.output


def test_health_and_the_contract_need_no_key(app):
    anonymous = app.test_client()
    anonymous.environ_base.pop("HTTP_AUTHORIZATION")
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200


def test_production_refuses_to_start_with_development_secrets_or_no_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'prod.sqlite'}"
    with pytest.raises(StartUpRefused) as info:
        create_app({"DATABASE_URL": url, "ENV": "production"})
    message = str(info.value)
    assert "TRAIL_DIGEST_KEY" in message and "no API key" in message and "TRAIL_RECEIPT_KEY" in message
    assert "TRAIL_WITNESS_URL" in message
    assert "RECHECK_KEY" in message
    with pytest.raises(StartUpRefused, match="WEBHOOK_SECRET must be a Standard Webhooks secret"):
        create_app({"DATABASE_URL": url, "ENV": "production", "TRAIL_DIGEST_KEY": "k" * 32,
                    "WEBHOOK_SECRET": "w" * 32})
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    signing_key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    from service.signed_notes import COSIGNATURE_V1, NOTE_ED25519, Signer
    witness = Signer("w.example/witness", COSIGNATURE_V1, Ed25519PrivateKey.generate()).verifier.vkey
    # The web workers hold the receipt key and the checkpoint key's public half only.
    checkpoints = Signer("separation-guard.example/trail", NOTE_ED25519, Ed25519PrivateKey.generate()).verifier.vkey
    secrets = {"TRAIL_DIGEST_KEY": "k" * 32, "WEBHOOK_SECRET": "whsec_" + "d" * 44, "TRAIL_RECEIPT_KEY": signing_key,
               "TRAIL_CHECKPOINT_VKEY": checkpoints,
               "TRAIL_WITNESS_URL": "http://127.0.0.1:9/", "TRAIL_WITNESS_VKEY": witness,
               "RECHECK_KEY": base64.b64encode(b"r" * 32).decode()}
    with pytest.raises(StartUpRefused, match="no API key"):
        create_app({"DATABASE_URL": url, "ENV": "production", **secrets})
    dev = create_app({"DATABASE_URL": url})
    with dev.extensions["db_sessions"]() as session, session.begin():
        create_client(session, "ehr", ["checks"])
    prod = create_app({"DATABASE_URL": url, "ENV": "production", **secrets})
    assert prod.config["ENV"] == "production"


def test_every_endpoint_declares_its_scopes_or_is_open_on_purpose(sqlite_app):
    """An endpoint in neither map is refused to every key (fail closed); none ships that way."""
    from service.http.auth import _SCOPES_OF_ENDPOINT, OPEN_ENDPOINTS
    endpoints = {rule.endpoint for rule in sqlite_app.url_map.iter_rules()}
    assert endpoints - set(_SCOPES_OF_ENDPOINT) - OPEN_ENDPOINTS == set()
    assert "admin.PackReload" in _SCOPES_OF_ENDPOINT  # once open to anyone: reloading a company's pack
