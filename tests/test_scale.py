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


# ---- partitions, archive (PostgreSQL) --------------------------------------------------------

import datetime as dt  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy import text  # noqa: E402

from service.flows.sealing import wait_until_sealed  # noqa: E402
from service.record.archive import ArchiveRefused, archive, verify_archive  # noqa: E402
from service.record.partitions import attached, month_of, next_month, partition_name  # noqa: E402
from service.record.verification import FULL, run  # noqa: E402
from tests.conftest import make_app, reset_postgres_schema  # noqa: E402


@pytest.fixture
def pg_app(postgres_url):
    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url)
    yield app
    app.extensions["db_engine"].dispose()


def _key(app, name: str, tenant: str) -> dict:
    with app.extensions["db_sessions"]() as session, session.begin():
        key = create_client(session, name, ["checks", "trail:read"], tenant_id=tenant)
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.postgres
def test_the_trail_is_partitioned_by_month_ahead_and_an_entry_lands_in_its_month(pg_app):
    decision = pg_app.test_client().post("/v1/checks", json=check_body()).get_json()["decision_id"]
    this_month = month_of(dt.datetime.now(dt.timezone.utc))
    with pg_app.extensions["db_engine"].connect() as c:
        c.execute(text("SELECT set_config('sg.tenant', '*', false)"))
        names = [name for name, _ in attached(c)]
        assert [partition_name(next_month(this_month, n)) for n in range(4)] == names[-4:]
        assert c.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'trail_entries' "
                             "AND relnamespace = current_schema()::regnamespace")) == "p"
        held_in = c.scalar(text("SELECT tableoid::regclass::text FROM trail_entries WHERE entry_id = :d"),
                           {"d": decision})
        assert held_in == partition_name(this_month)
        # Each partition is held to the tenant as its parent is.
        assert c.scalar(text("SELECT relforcerowsecurity FROM pg_class WHERE relname = :n "
                             "AND relnamespace = current_schema()::regnamespace"), {"n": held_in})
    made = pg_app.test_cli_runner().invoke(args=["db", "partitions"])
    assert made.exit_code == 0 and "every partition ahead exists" in made.output, made.output


@pytest.mark.postgres
def test_an_entry_of_a_month_not_made_is_kept_and_moves_into_its_month_when_made(pg_app):
    from freezegun import freeze_time
    from service.record.partitions import ensure_ahead
    with freeze_time("2020-03-10T02:00:00Z"):
        answer = pg_app.test_client().post("/v1/checks", json=check_body())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    where = text("SELECT tableoid::regclass::text FROM trail_entries WHERE entry_id = :d")
    with pg_app.extensions["db_engine"].begin() as c:
        c.execute(text("SELECT set_config('sg.tenant', '*', true)"))
        assert c.scalar(where, {"d": answer.get_json()["decision_id"]}) == "trail_entries_default"
        ensure_ahead(c, dt.date(2020, 3, 1), months=0)
        assert c.scalar(where, {"d": answer.get_json()["decision_id"]}) == "trail_entries_2020_03"


@pytest.mark.postgres
def test_a_cases_events_stay_in_its_opening_month_and_their_seq_stays_unique(pg_app):
    from tests.test_trail_ledger import _seed_until_withdrawal_accepted, CASE
    client = pg_app.test_client()
    _seed_until_withdrawal_accepted(client)
    with pg_app.extensions["db_engine"].connect() as c:
        c.execute(text("SELECT set_config('sg.tenant', '*', false)"))
        assert c.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'case_events' "
                             "AND relnamespace = current_schema()::regnamespace")) == "p"
        opened = c.scalar(text("SELECT created_at FROM cases WHERE id = :c"), {"c": CASE})
        held_in = c.execute(text("SELECT DISTINCT tableoid::regclass::text FROM case_events WHERE case_id = :c"),
                            {"c": CASE}).scalars().all()
        assert held_in == [partition_name(month_of(opened), "case_events")]
        with pytest.raises(Exception, match="(?i)unique|duplicate"):  # event 1 again: refused by the key
            c.execute(text("INSERT INTO case_events (tenant_id, case_id, case_opened_at, seq, client_key, accepted, "
                           "type, at, actor_id, actor_role, recorded_at, decision_id, response_status, response) "
                           "SELECT tenant_id, case_id, case_opened_at, 1, 'again', accepted, type, at, actor_id, "
                           "actor_role, recorded_at, decision_id, response_status, response FROM case_events "
                           "WHERE case_id = :c AND seq = 1"), {"c": CASE})
        c.rollback()
        c.execute(text("SELECT set_config('sg.tenant', '*', false)"))
        with pytest.raises(Exception, match="(?i)foreign key"):  # another opening time than its case's
            c.execute(text("INSERT INTO case_events (tenant_id, case_id, case_opened_at, seq, client_key, accepted, "
                           "type, at, actor_id, actor_role, recorded_at, decision_id, response_status, response) "
                           "SELECT tenant_id, case_id, case_opened_at + interval '1 microsecond', 1, 'again', accepted, "
                           "type, at, actor_id, actor_role, recorded_at, decision_id, response_status, response "
                           "FROM case_events WHERE case_id = :c AND seq = 1"), {"c": CASE})


@pytest.mark.postgres
def test_a_month_past_retention_is_archived_verified_offline_and_not_missing(pg_app, tmp_path):
    client = pg_app.test_client()
    mine = [client.post("/v1/checks", json=check_body()).get_json()["decision_id"] for _ in range(2)]
    theirs = client.post("/v1/checks", json=check_body(), headers=_key(pg_app, "ehr-acme", "acme")).get_json()
    wait_until_sealed(pg_app)
    engine, origin = pg_app.extensions["db_engine"], pg_app.config["TRAIL_ORIGIN"]
    this_month = month_of(dt.datetime.now(dt.timezone.utc))
    with pytest.raises(ArchiveRefused, match="within retention"):
        archive(engine, origin, next_month(this_month), this_month, 36, tmp_path)
    later = next_month(this_month, 40)
    done = archive(engine, origin, next_month(this_month), later, 36, tmp_path)
    assert [d.partition for d in done] == [partition_name(this_month)]
    files = {p.name.split(".")[1]: p for p in done[0].files}
    assert set(files) == {"default", "acme"}
    default_text, acme_text = files["default"].read_text(), files["acme"].read_text()
    assert all(d in default_text for d in mine) and theirs["decision_id"] not in default_text
    assert theirs["decision_id"] in acme_text and not any(d in acme_text for d in mine)
    vkey = pg_app.extensions["trail_key"].checkpoint_verifiers()[0].vkey
    checked = verify_archive(default_text.splitlines(), [vkey])
    assert checked.ok and checked.entries == 3, checked  # the rule set's version entry and two checks
    assert verify_archive(acme_text.splitlines(), [vkey]).entries == 2  # its pack's version and its check
    altered = default_text.replace('"deny"', '"allow"', 1)
    assert not verify_archive(altered.splitlines(), [vkey]).ok
    with engine.connect() as c:
        c.execute(text("SELECT set_config('sg.tenant', '*', false)"))
        assert partition_name(this_month) not in [n for n, _ in attached(c)]
        assert c.scalar(text("SELECT count(*) FROM trail_entries")) == 0
        assert c.scalar(text(f"SELECT count(*) FROM archived_{partition_name(this_month)}")) == 5  # detached, kept
        # (default: the rule set's version and two checks; acme: its pack's version and its check)
    for tenant in ("default", "acme"):  # the leaves are still the tree's; their entries archived, not missing
        _, result = run(engine, pg_app.extensions["trail_key"], FULL, requested_by="test", tenant_id=tenant)
        assert result.ok, result.reason
    with engine.begin() as c:  # a leaf whose entry is gone outside any archive is still a gap
        c.execute(text("SELECT set_config('sg.tenant', '*', true)"))
        c.execute(text("DELETE FROM trail_archives WHERE tenant_id = 'acme'"))
    _, result = run(engine, pg_app.extensions["trail_key"], FULL, requested_by="test", tenant_id="acme")
    assert not result.ok and "missing" in result.reason


def test_archiving_is_refused_on_sqlite(sqlite_app, tmp_path):
    with pytest.raises(ArchiveRefused, match="PostgreSQL only"):
        archive(sqlite_app.extensions["db_engine"], "o", dt.date(2020, 1, 1), dt.date(2026, 1, 1), 36, tmp_path)


# ---- fairness of the sweeps ------------------------------------------------------------------

def test_one_tenants_backlog_does_not_starve_another_in_the_sla_sweep(app, monkeypatch):
    """acme has a backlog of five batches of cases; globex one case. With room for two batches,
    the sweep reaches globex's case in its first round."""
    from service.flows.sla_sweep import sweep_overdue
    from service.record.models import Case
    now = dt.datetime(2026, 1, 5, 1, tzinfo=dt.timezone.utc)
    with app.extensions["db_sessions"]() as session, session.begin():
        for n in range(10):
            session.add(Case(tenant_id="acme", id=f"A{n:03d}", kind="resignation", employee_id=f"E{n}",
                             created_at=now, event_count=0))
        session.add(Case(tenant_id="globex", id="G001", kind="resignation", employee_id="E9", created_at=now,
                         event_count=0))
    seen = []
    import service.flows.sla_sweep as sla_sweep
    original = sla_sweep.sweep

    def watching(session, rulebook, as_of, now, *, tenant_id=None, case_ids=None):
        seen.append((tenant_id, list(case_ids)))
        return original(session, rulebook, as_of, now, tenant_id=tenant_id, case_ids=case_ids)
    monkeypatch.setattr(sla_sweep, "sweep", watching)
    counts = sweep_overdue(app, dt.date(2026, 1, 6), batch=2, max_batches=2)
    assert seen == [("acme", ["A000", "A001"]), ("globex", ["G001"])]
    assert counts["tenants"] == 2 and counts["batches"] == 2 and counts["cut_short"]
