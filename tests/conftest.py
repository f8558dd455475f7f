import json
import os
import shutil
import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from service import PROJECT_ROOT, create_app
from service.record.models import TrailEntry

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# CI sets REQUIRE_POSTGRES=1: there a missing server is a failure, not a skip.
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_url():
    """A private schema on the test server for this run, so parallel runs never collide."""
    if not _postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required (REQUIRE_POSTGRES=1) but not reachable at {POSTGRES_URL}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"sg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    reset_postgres_schema(url)
    return url


def reset_postgres_schema(url: str) -> None:
    """Empty this run's schema (tables and alembic_version) so each test starts from nothing."""
    schema = url.rsplit("search_path%3D", 1)[1]
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


# A key with every scope, registered as the development key; test clients send it.
TEST_KEY = "sg_test-key-with-every-scope"


class KeyedClient(FlaskClient):
    """The test client, sending TEST_KEY unless a test sets another Authorization header."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TEST_KEY}"


def make_app(database_url: str, **config):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "DEV_KEY": TEST_KEY, **config})
    app.test_client_class = KeyedClient
    return app


@pytest.fixture
def app(database_url):
    app = make_app(database_url)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def sqlite_app(tmp_path):
    """For tests about the rules rather than the database."""
    app = make_app(f"sqlite:///{tmp_path / 'test.sqlite'}")
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def rulebook(sqlite_app):
    return sqlite_app.extensions["rulebook"]


@pytest.fixture
def decision_count(app):
    def count() -> int:
        with app.extensions["db_sessions"]() as session:
            return session.scalar(select(func.count()).select_from(TrailEntry).where(TrailEntry.kind == "check"))
    return count


@pytest.fixture
def rules_copy(tmp_path):
    """A private copy of rules/ that a test may break."""
    target = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", target)
    return target


# What the statutory protections ask about besides pregnancy and the medical period (issue 3),
# all known, so that a check is decided by what a test sets: merged into every `employee`.
# Everything the protections ask about, known: a check on this employee is decided by what a
# test changes, not by a fact it forgot (unknown facts warn).
KNOWN_EMPLOYEE_FACTS = {
    "birth_date": "1994-05-12", "hire_date": "2021-03-01", "continuous_service_years": 4,
    "total_work_years": 8, "region": "CN-BJ", "department": "SALES", "childbirth": {"status": "none"}, "miscarriage": {"status": "none"},
    "medical_treatment": {"status": "none", "special_disease": False},
    "occupational_disease": {"hazard_exposure": False, "suspected": False, "diagnosed": False},
    "work_injury": {"status": "none"},
    "contract": {"type": "fixed_term", "end_date": "2027-12-31", "in_probation": False, "consecutive_fixed_terms": 1},
    "union_officer": {"position": "none"},
}


def check_body(**overrides):
    body = {
        "as_of": "2026-02-10",
        "employee": {"id": "E1001", "gender": "female", "pregnancy": {"status": "pregnant"},
                     "children": [], "medical_treatment": {"status": "none"}},
        "employer": {"union_exists": True},
        # An Art. 40 notice with its ground, the union told and 36 days' written notice.
        "action": {"type": "terminate_with_notice", "ground": "art40_2", "union_notified": True,
                   "notice_served_on": "2026-01-05", "actor": {"id": "HR7", "role": "hr"}},
    }
    body.update(overrides)
    employee = {**KNOWN_EMPLOYEE_FACTS}
    for key, value in body["employee"].items():  # a nested override keeps the other known facts
        employee[key] = {**employee[key], **value} if isinstance(value, dict) and isinstance(employee.get(key), dict) \
            else value
    body["employee"] = employee
    return json.loads(json.dumps(body))


def drop_citation_text(rules_dir, ref: str):
    """Delete one citation's verbatim text from a copy of rules/ (a typical bad edit)."""
    path = rules_dir / "citations" / "labor_law.yaml"
    text = path.read_text(encoding="utf-8")
    line = text.index("    text:", text.index(f"  {ref}:"))
    end = text.index("\n    effective_from:", line)
    path.write_text(text[:line] + text[end + 1:], encoding="utf-8")
    return path
