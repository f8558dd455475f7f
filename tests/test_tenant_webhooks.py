"""Each company's notifications at its own webhook (issue 22): the endpoint its pack names, signed
with the secret in the variable the pack names; every other tenant at WEBHOOK_URL as before; a
missing secret sends nothing unsigned; one company's dead receiver never holds up another's."""
import base64
import dataclasses
import datetime as dt
import logging
import time

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.clock import utcnow
from service.record.models import Notification
from service.record.notifications import WebhookRoutes, WebhookSettings, deliver_due, notify
from tests.conftest import make_app
from test_notifications import SECRET as DEPLOYMENT_SECRET, Receiver

ACME_SECRET = "whsec_" + base64.b64encode(b"acme-webhook-secret-of-32-bytes!").decode()
GLOBEX_SECRET = "whsec_" + base64.b64encode(b"globex-webhook-secret-32-bytes!!").decode()


SLOW = {"acme": 0.0}  # seconds acme's receiver takes before it answers


@pytest.fixture(scope="module")
def receivers():
    with Receiver(failures=0, on_receive=lambda: time.sleep(SLOW["acme"])) as acme, Receiver(failures=0) as globex:
        yield {"acme": acme, "globex": globex}


@pytest.fixture
def app(database_url, receivers, monkeypatch):
    """The shipped packs live, their webhooks at local receivers: a pack's endpoint is https only
    (pack.schema.json), so the live pack's is replaced after it loaded, the secret_env kept."""
    for receiver in receivers.values():
        receiver.received.clear()
        receiver.failures = 0
    monkeypatch.setenv("ACME_WEBHOOK_SECRET", ACME_SECRET)
    monkeypatch.setenv("GLOBEX_WEBHOOK_SECRET", GLOBEX_SECRET)
    app = make_app(database_url, WEBHOOK_SECRET=DEPLOYMENT_SECRET)
    packs = app.extensions["packs"]
    assert {t: b.pack.webhook["secret_env"] for t, b in packs.items()} == \
        {"acme": "ACME_WEBHOOK_SECRET", "globex": "GLOBEX_WEBHOOK_SECRET"}
    for tenant, receiver in receivers.items():
        pack = dataclasses.replace(packs[tenant].pack, webhook={**packs[tenant].pack.webhook, "endpoint": receiver.url})
        packs[tenant] = dataclasses.replace(packs[tenant], pack=pack)
    yield app
    app.extensions["db_engine"].dispose()


def _queue(app, tenant: str, n: int = 1, at: dt.datetime | None = None) -> list[str]:
    at = at or utcnow()
    with app.extensions["db_sessions"]() as session, session.begin():
        return [notify(session, kind="status_changed", now=at, recipient_role="hr", recipient_id="HR7",
                       payload={"case_id": f"{tenant}-C{i}", "to_status": "withdrawn"},
                       dedupe_key=f"status:{tenant}:{i}", case_id=f"{tenant}-C{i}", employee_id="E1",
                       tenant_id=tenant).id for i in range(n)]


def _rows(app, tenant: str) -> list[Notification]:
    with app.extensions["db_sessions"]() as session:
        return list(session.scalars(select(Notification).where(Notification.tenant_id == tenant)
                                    .order_by(Notification.created_at, Notification.id)))


def _verified(receiver, secret) -> list[dict]:
    return [Webhook(secret).verify(body, headers) for headers, body in receiver.received]


def test_each_company_gets_its_own_notifications_at_its_own_endpoint_signed_with_its_own_secret(app, receivers):
    ids = {tenant: _queue(app, tenant)[0] for tenant in ("acme", "globex", "default", "initech")}
    with Receiver(failures=0) as deployment:
        app.config.update(WEBHOOK_URL=deployment.url)
        result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
        assert result.exit_code == 0, result.output
        assert "delivered=4" in result.output
        to_deployment = _verified(deployment, DEPLOYMENT_SECRET)
    for tenant, secret, other in (("acme", ACME_SECRET, GLOBEX_SECRET), ("globex", GLOBEX_SECRET, ACME_SECRET)):
        [event] = _verified(receivers[tenant], secret)
        assert event["data"]["id"] == ids[tenant] and event["data"]["tenant"] == tenant
        assert event["data"]["case_id"] == f"{tenant}-C0"
        headers, body = receivers[tenant].received[0]
        with pytest.raises(WebhookVerificationError):
            Webhook(other).verify(body, headers)  # another company's secret does not verify it
        with pytest.raises(WebhookVerificationError):
            Webhook(DEPLOYMENT_SECRET).verify(body, headers)
    # The default tenant, and a tenant without a pack, exactly as before: WEBHOOK_URL, its secret.
    assert sorted((e["data"]["tenant"], e["data"]["id"]) for e in to_deployment) == \
        sorted([("default", ids["default"]), ("initech", ids["initech"])])
    for tenant in ids:
        assert [r.status for r in _rows(app, tenant)] == ["delivered"]


def test_the_worker_delivers_pack_webhooks_without_a_deployment_webhook(app, receivers):
    """No WEBHOOK_URL: the companies' webhooks still leave; the other tenants' are only polled."""
    assert not app.config.get("WEBHOOK_URL")
    _queue(app, "globex")
    _queue(app, "default")
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "deliver_notifications: delivered=1" in result.output, result.output
    [event] = _verified(receivers["globex"], GLOBEX_SECRET)
    assert event["data"]["tenant"] == "globex"
    assert [r.status for r in _rows(app, "default")] == ["pending"]
    assert [r.attempts for r in _rows(app, "default")] == [0]


@pytest.mark.parametrize("value", [None, "not-a-standard-webhooks-secret"])
def test_a_missing_secret_sends_nothing_unsigned_and_names_the_variable(app, receivers, monkeypatch, caplog, value):
    if value is None:
        monkeypatch.delenv("GLOBEX_WEBHOOK_SECRET")
    else:
        monkeypatch.setenv("GLOBEX_WEBHOOK_SECRET", value)
    [globex_id] = _queue(app, "globex")
    _queue(app, "acme")
    with Receiver(failures=0) as deployment, caplog.at_level(logging.WARNING):
        app.config.update(WEBHOOK_URL=deployment.url)
        result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
        assert result.exit_code == 0, result.output
        assert deployment.received == []  # not to the deployment's webhook instead
    assert receivers["globex"].received == []
    assert [e["data"]["tenant"] for e in _verified(receivers["acme"], ACME_SECRET)] == ["acme"]
    [row] = _rows(app, "globex")
    assert (row.id, row.status, row.attempts) == (globex_id, "pending", 1)
    assert "GLOBEX_WEBHOOK_SECRET" in row.last_error and row.next_attempt_at > utcnow()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "GLOBEX_WEBHOOK_SECRET" in logged
    for secret in (GLOBEX_SECRET, ACME_SECRET, DEPLOYMENT_SECRET, value or GLOBEX_SECRET):
        assert secret not in logged and secret not in row.last_error
    # Retried like a failed delivery: once the variable is set, the next due pass sends it signed.
    monkeypatch.setenv("GLOBEX_WEBHOOK_SECRET", GLOBEX_SECRET)
    with app.app_context():
        from service.flows.notifications import webhook_routes
        counts = deliver_due(app.extensions["db_sessions"], webhook_routes(app), row.next_attempt_at)
    assert counts["delivered"] == 1
    [event] = _verified(receivers["globex"], GLOBEX_SECRET)
    assert event["data"]["id"] == globex_id


def test_the_deliver_command_names_the_unset_pack_secrets_when_nothing_can_be_sent(app, monkeypatch):
    monkeypatch.delenv("ACME_WEBHOOK_SECRET")
    monkeypatch.delenv("GLOBEX_WEBHOOK_SECRET")
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert result.exit_code != 0
    assert "WEBHOOK_URL" in result.output and "ACME_WEBHOOK_SECRET, GLOBEX_WEBHOOK_SECRET" in result.output


def test_a_failing_company_endpoint_does_not_delay_another_companys(app, receivers, monkeypatch):
    receivers["acme"].failures = 10**6
    monkeypatch.setitem(SLOW, "acme", 1.0)  # answers 503, after a second
    earlier = utcnow() - dt.timedelta(minutes=5)
    _queue(app, "acme", n=150, at=earlier)  # a backlog older than globex's, more than one batch
    [globex_id] = _queue(app, "globex")
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 5  # one slow failure, not ten (its share) nor 150
    # Globex's notification leaves in this pass; acme's endpoint is tried once, the rest of its
    # share of the pass waits without an attempt counted, the rest of its backlog is untouched.
    assert "delivered=1 retrying=1 dead=0 deferred=9" in result.output, result.output
    assert [e["data"]["id"] for e in _verified(receivers["globex"], GLOBEX_SECRET)] == [globex_id]
    assert len(receivers["acme"].received) == 1
    acme = _rows(app, "acme")
    assert sum(r.attempts for r in acme) == 1 and {r.status for r in acme} == {"pending"}
    assert sum(1 for r in acme if r.next_attempt_at > utcnow()) == 10


def test_a_pass_takes_every_tenant_in_turn(app):
    for tenant in ("acme", "globex", "default"):
        _queue(app, tenant, n=3)
    sent = []
    routes = WebhookRoutes(default=WebhookSettings(url="http://127.0.0.1:9/unused", secret=DEPLOYMENT_SECRET),
                           packs={t: WebhookSettings(url=f"http://127.0.0.1:9/{t}", secret=DEPLOYMENT_SECRET)
                                  for t in ("acme", "globex")})
    counts = deliver_due(app.extensions["db_sessions"], routes, utcnow(), send=lambda s, n: sent.append(n.tenant_id),
                         per_tenant=2)
    assert counts["delivered"] == 9  # two rounds: two of each, then the third of each
    assert [sorted(sent[i:i + 3]) for i in (0, 3, 6)] == [["acme", "default", "globex"]] * 3


def test_one_companys_backlog_leaves_in_one_pass_in_rounds(app, receivers):
    """The per-tenant share is per round, not a throttle: rounds go on while rows are due."""
    _queue(app, "acme", n=25)
    result = app.test_cli_runner().invoke(args=["notifications", "deliver"])
    assert "delivered=25 retrying=0 dead=0 deferred=0" in result.output, result.output
    assert len(_verified(receivers["acme"], ACME_SECRET)) == 25
