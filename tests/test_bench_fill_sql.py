"""benchmarks/fill_sql.py (bench_tenants.py --fill sql): the copies land in the monthly partitions
with time-sorted ids of their own, in the tenants asked for, and every tenant's tree verifies."""
import sys

import pytest
from conftest import make_app, reset_postgres_schema
from sqlalchemy import text

from service import PROJECT_ROOT
from service.record.verification import FULL, run

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import fill_sql
import workload

pytestmark = pytest.mark.postgres


@pytest.fixture
def seeded(postgres_url):
    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url, TRAIL_SEALER_THREAD=False)
    bodies = workload.request_bodies(PROJECT_ROOT / "rules")[:20]
    answer = app.test_client().post("/v1/checks:batch", json={"checks": bodies})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    from service.flows.sealing import seal_once
    while seal_once(app):
        pass
    yield app, postgres_url
    app.extensions["db_engine"].dispose()


def scalar(app, sql: str):
    with app.extensions["db_engine"].connect() as c:
        return c.execute(text(sql)).scalar()


def test_copies_fill_the_months_and_every_tenants_tree_verifies(seeded):
    app, url = seeded
    before = scalar(app, "SELECT count(*) FROM trail_entries")
    done = fill_sql.multiply(url, app.extensions["trail_key"], ["acme", "globex"], 3000, months=4, log=lambda _: None)

    assert done["seeds"] == 20 and done["sealed"] == 3000
    assert scalar(app, "SELECT count(*) FROM trail_entries") == before + 3000
    assert scalar(app, "SELECT count(DISTINCT entry_id) FROM trail_entries") == before + 3000
    assert scalar(app, "SELECT count(*) FROM trail_entries WHERE tenant_id = 'acme'") == 1500
    # Spread over the months, each month in its own partition, none in the default one.
    assert scalar(app, "SELECT count(DISTINCT tableoid) FROM trail_entries WHERE tenant_id = 'acme'") >= 4
    assert scalar(app, "SELECT count(*) FROM trail_entries_default") == 0
    # Ids sort by time: UUID version 7, their first 48 bits the copy's recorded_at in ms.
    assert scalar(app, "SELECT count(*) FROM trail_entries WHERE tenant_id = 'acme' AND ("
                       "substr(entry_id, 15, 1) <> '7' OR ('x' || lpad(replace(substr(entry_id, 1, 13), '-', ''), "
                       "16, '0'))::bit(64)::bigint <> (extract(epoch FROM recorded_at) * 1000)::bigint)") == 0
    # The rule-id GIN index is back on every partition.
    assert scalar(app, "SELECT count(*) FROM pg_partition_tree('ix_trail_rule_ids') WHERE isleaf") == \
        scalar(app, "SELECT count(*) FROM pg_partition_tree('trail_entries') WHERE isleaf")
    for tenant in ("acme", "globex"):
        _, result = run(app.extensions["db_engine"], app.extensions["trail_key"], FULL, tenant_id=tenant)
        assert result.ok, result.reason
        assert result.checked == 1500
