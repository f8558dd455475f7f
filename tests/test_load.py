"""The load-and-fault test (benchmarks/load_test.py): two gunicorn masters (two hosts) on one
PostgreSQL, LOAD_TEST_SECONDS of load (default 20; CI runs the issue's two minutes), then
PostgreSQL stopped for 6 s. No decision lost, one tree holding every entry, each sealed within 2 s.

Skipped unless RUN_LOAD_TEST=1 (CI sets it): it starts gunicorn and keeps both cores busy.
Stopping PostgreSQL stops it for everyone on the machine, so that part runs only with
LOAD_TEST_STOP_POSTGRES=1 (outage 6 s). LOAD_TEST_PRIVATE_POSTGRES=1 instead runs the whole test,
outage included, on a throw-away server (initdb in /tmp, needs the PostgreSQL binaries and root
or the postgres user), which disturbs nobody.
"""
import os
import sys

import pytest

from service import PROJECT_ROOT
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _postgres_available

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(os.environ.get("RUN_LOAD_TEST") != "1",
                       reason="load test: set RUN_LOAD_TEST=1 (and LOAD_TEST_STOP_POSTGRES=1 to stop PostgreSQL)"),
]


@pytest.fixture
def load_test():
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    try:
        import load_test
        yield load_test
    finally:
        sys.path.remove(str(PROJECT_ROOT / "benchmarks"))


def test_load_loses_no_decision_and_fails_closed_when_postgres_stops(load_test):
    private = os.environ.get("LOAD_TEST_PRIVATE_POSTGRES") == "1"
    if not private:
        if not _postgres_available():
            if REQUIRE_POSTGRES:
                pytest.fail(f"PostgreSQL required (REQUIRE_POSTGRES=1) but not reachable at {POSTGRES_URL}")
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    stop = private or os.environ.get("LOAD_TEST_STOP_POSTGRES") == "1"
    report = load_test.run(duration=float(os.environ.get("LOAD_TEST_SECONDS", "20")), clients=4, stop_postgres=stop, outage=6.0, recovery=30.0,
                           max_requests=200_000, private_postgres=private, hosts=2,
                           # a schema of our own in the test database, dropped afterwards; never its public schema
                           admin_url=POSTGRES_URL)
    assert not report.failures, "\n".join(report.lines)
