"""The OpenAPI contract, fuzzed: no 5xx, and every response matches its documented schema."""
import pytest
import schemathesis
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)
from hypothesis import HealthCheck, given, settings

from tests.conftest import TEST_KEY, make_app


@pytest.fixture(scope="module")
def contract_app(tmp_path_factory):
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('contract') / 'c.sqlite'}", RULES_WATCH_SECONDS=0)
    yield app
    app.extensions["db_engine"].dispose()


# What the contract promises. Not "positive data is accepted": dates, ids and cross-field rules
# are stricter than a JSON schema can say, and a 422 naming the field is the right answer there.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_api_honours_its_contract(contract_app):
    """Generated requests for every operation: no 5xx, every answer as documented.

    (schemathesis' own pytest plugin does not support this pytest; the loop below is the same
    thing: one hypothesis run per operation.)"""
    api_schema = schemathesis.openapi.from_wsgi("/openapi.json", contract_app)
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {TEST_KEY}"}, checks=CHECKS)
        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def test_the_contract_documents_authentication_and_every_v1_endpoint(contract_app):
    spec = contract_app.test_client().get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path in ("/v1/checks", "/v1/checks:batch", "/v1/decisions/{decision_id}", "/v1/cases/{case_id}/events",
                 "/v1/cases/{case_id}", "/v1/trail", "/v1/trail/verify", "/v1/notifications", "/v1/sla/sweep",
                 "/v1/admin/rules/reload"):
        assert path in spec["paths"], path
    fields = spec["components"]["schemas"]["Employee"]["properties"]
    assert fields["pregnancy"] and fields["children"]
