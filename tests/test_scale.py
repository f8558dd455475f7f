"""Issue 22, item 9: sized for an HR SaaS. Ids that sort by time; (after the tenants and logs
branches) partitions, archive and the fairness of the worker's sweeps."""
import time
import uuid

from sqlalchemy import select

from service.clock import utcnow
from service.http.keys import create_client
from service.record.ids import new_id
from service.record.models import ApiClient
from service.record.notifications import notify
from tests.conftest import check_body


def _version_and_ms(value: str) -> tuple[int, int]:
    parsed = uuid.UUID(value)
    return parsed.version, parsed.int >> 80


def test_new_ids_are_uuid7_in_the_order_they_were_minted():
    minted = [new_id() for _ in range(2000)]
    assert minted == sorted(minted)  # the counter keeps ids of the same millisecond in order
    assert len(set(minted)) == len(minted)
    assert all(len(v) == 36 and _version_and_ms(v)[0] == 7 for v in minted)
    before = _version_and_ms(minted[0])[1]
    time.sleep(0.005)
    assert _version_and_ms(new_id())[1] > before


def test_decisions_notifications_and_clients_get_time_ordered_ids(app, client):
    decisions = [client.post("/v1/checks", json=check_body()).get_json()["decision_id"] for _ in range(3)]
    assert decisions == sorted(decisions) and all(_version_and_ms(d)[0] == 7 for d in decisions)
    with app.extensions["db_sessions"]() as session, session.begin():
        note = notify(session, kind="status_changed", now=utcnow(), recipient_role="hr", recipient_id="HR7",
                      payload={"case_id": "C1", "to_status": "withdrawn"}, dedupe_key="status:C1:1",
                      case_id="C1", employee_id="E1", tenant_id="default")
        create_client(session, "ehr-scale", ["checks"])
    with app.extensions["db_sessions"]() as session:
        client_id = session.scalar(select(ApiClient.id).where(ApiClient.name == "ehr-scale"))
    assert _version_and_ms(note.id)[0] == 7 and _version_and_ms(client_id)[0] == 7
    assert note.id > decisions[-1]  # minted later, sorts later: the right edge of the index


def test_round_robin_gives_every_tenant_its_first_batch_before_any_second():
    from service.flows.fair import round_robin
    queues = {"acme": [f"A{n}" for n in range(7)], "globex": ["G1"], "initech": ["I1", "I2", "I3"], "empty": []}
    order = list(round_robin(queues, batch=3))
    assert order == [("acme", ["A0", "A1", "A2"]), ("globex", ["G1"]), ("initech", ["I1", "I2", "I3"]),
                     ("acme", ["A3", "A4", "A5"]), ("acme", ["A6"])]
