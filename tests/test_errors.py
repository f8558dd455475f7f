"""One error shape everywhere (issue 15, item 9): {"code", "status", "message", "errors": [...]} from
400 to 503, the limits stated, and every refusal documented in the contract with that shape."""
import flask_smorest
import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from schemas.errors import ErrorSchema
from service.flows import check
from service.http.keys import create_client
from service.http.api import Api
from tests.conftest import check_body, make_app
from tests.test_ledger import PREGNANT, _event, _seed_until_withdrawal_accepted


def _error(response, status: int) -> dict:
    body = response.get_json()
    assert response.status_code == status, body
    assert response.content_type == "application/json"
    ErrorSchema().load({name: body[name] for name in ("code", "status", "message", "errors")})  # all required
    assert body["code"] == status and body["message"] and isinstance(body["errors"], list)
    return body


@pytest.fixture
def app(sqlite_app):
    return sqlite_app


def test_400_and_422_name_the_field(client):
    body = _error(client.post("/v1/checks", data=b'{"employee": {"id": tru}}', content_type="application/json"), 400)
    assert body["errors"][0]["path"] == "employee.id"
    body = _error(client.post("/v1/checks", json={"employee": {"id": "E1"}}), 422)
    assert {e["path"] for e in body["errors"]} == {"action"}


def test_401_and_403_name_the_authorization_header(app, client):
    anonymous = app.test_client()
    anonymous.environ_base.pop("HTTP_AUTHORIZATION")
    body = _error(anonymous.post("/v1/checks", json=check_body()), 401)
    assert body["errors"][0]["path"] == "Authorization"
    with app.extensions["db_sessions"]() as session, session.begin():
        key = create_client(session, "auditor", ["trail:read"])
    auditor = app.test_client()
    auditor.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    body = _error(auditor.post("/v1/checks", json=check_body()), 403)
    assert body["errors"] == [{"path": "Authorization", "reason": "This key lacks the scope checks."}]


def test_404_and_405(client):
    _error(client.get("/v1/nothing-here"), 404)
    assert _error(client.get("/v1/cases/NO-SUCH-CASE"), 404)["errors"] == []
    response = client.get("/v1/checks")
    _error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_409_from_the_case_and_from_the_rules(client):
    _error(client.post("/v1/cases/NEW-1/events", json={
        "client_key": "x", "employee": {"id": "E1001"},
        "event": {"type": "resignation_submitted", "at": "2026-01-05T09:00:00+08:00",
                  "actor": {"id": "E1001", "role": "employee"}}}), 409)
    _seed_until_withdrawal_accepted(client)
    refused = _event(client, "k5", "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr", employee=PREGNANT)
    body = _error(refused, 409)
    assert body["verdict"] == "deny" and body["findings"] and body["errors"] == []
    again = _event(client, "k5", "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr", employee=PREGNANT)
    assert _error(again, 409) == body  # the idempotent replay answers the same


def test_413_states_the_limit_and_415_the_content_type(client):
    body = _error(client.post("/v1/checks", data=b"{" + b" " * (256 * 1024) + b"}",
                              content_type="application/json"), 413)
    assert "256 KiB" in body["message"] and "262144 bytes" in body["message"]
    assert body["errors"] == [{"path": "(body)", "reason": body["message"]}]
    body = _error(client.post("/v1/checks", data="employee=E1", content_type="application/x-www-form-urlencoded"), 415)
    assert body["errors"][0]["path"] == "Content-Type"


def test_429_says_when_to_retry(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'limited.sqlite'}", REFUSAL_RATE_LIMIT="1 per minute")
    try:
        caller = app.test_client()
        caller.environ_base["HTTP_AUTHORIZATION"] = "Bearer sg_wrong"
        _error(caller.post("/v1/checks", json=check_body()), 401)
        response = caller.post("/v1/checks", json=check_body())
        body = _error(response, 429)
        assert body["errors"] == [] and 1 <= int(response.headers["Retry-After"]) <= 60
    finally:
        app.extensions["db_engine"].dispose()


def test_500_and_503_say_nothing_was_decided(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")
    monkeypatch.setattr(check, "evaluate", broken)
    body = _error(client.post("/v1/checks", json=check_body()), 500)
    assert "a bug" not in body["message"] and body["errors"] == []
    monkeypatch.undo()

    def unavailable(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))
    monkeypatch.setattr(check.trail, "append_and_commit", unavailable)
    body = _error(client.post("/v1/checks", json=check_body()), 503)
    assert "nothing was allowed" in body["message"]


def test_the_contract_documents_every_refusal_in_the_one_shape(client):
    spec = client.get("/openapi.json").get_json()
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "status", "message", "errors"}
    assert set(spec["components"]["schemas"]["FieldError"]["required"]) == {"path", "reason"}
    responses = spec["components"]["responses"]
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            if method == "parameters":
                continue
            expected = {"401", "403", "429", "500", "503"}
            if method == "post":
                expected |= {"400", "413", "415"}
            documented = operation["responses"]
            assert expected <= set(documented), (method, path, expected - set(documented))
            for code in expected:
                name = documented[code]["$ref"].rsplit("/", 1)[1]
                schema = responses[name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)


def test_every_api_blueprint_reads_bodies_strictly():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="v1", OPENAPI_VERSION="3.0.3")
    with pytest.raises(TypeError, match="service.http.api.Blueprint"):
        Api(app).register_blueprint(flask_smorest.Blueprint("plain", __name__))


@pytest.mark.postgres
def test_a_connection_the_server_dropped_fails_closed_once_and_the_pool_recovers(postgres_url):
    # The engine has no pre-ping (service/record/db.py): a dropped connection must cost at most one
    # 503, never an answer without its record, and the next checks connect afresh.
    from sqlalchemy import create_engine, text
    from tests.conftest import POSTGRES_URL, make_app, reset_postgres_schema
    reset_postgres_schema(postgres_url)
    app = make_app(f"{postgres_url}&application_name=sg_dropped", TRAIL_SEAL_SECONDS=0)
    client = app.test_client()
    assert client.post("/v1/checks", json=check_body()).status_code == 200
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = 'sg_dropped'")).scalar()
    admin.dispose()
    assert killed >= 1
    statuses = [client.post("/v1/checks", json=check_body()).status_code for _ in range(3)]
    assert statuses[0] in (200, 503) and statuses[1:] == [200, 200], statuses
    app.extensions["db_engine"].dispose()
