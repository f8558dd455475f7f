"""The OpenAPI document as client generators take it: an operationId on every operation, no
closed answers, enums, and request examples (the README's) that are answered as documented."""
import re

import pytest
import schemathesis

from service.http.examples import listed
from tests.conftest import TEST_KEY, make_app
from tests.test_readme_walkthrough import steps
from tests.test_requirements import _first_check

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture()
def fresh_app(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'openapi.sqlite'}", RULES_WATCH_SECONDS=0)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('spec') / 's.sqlite'}", RULES_WATCH_SECONDS=0)
    yield app.test_client().get("/openapi.json").get_json()
    app.extensions["db_engine"].dispose()


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def _refs(node, components, found):
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in found:
            found.add(ref.rsplit("/", 1)[1])
            _refs(components[ref.rsplit("/", 1)[1]], components, found)
        for value in node.values():
            _refs(value, components, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, components, found)
    return found


def test_every_operation_has_a_readable_unique_operation_id(spec):
    ids = [operation.get("operationId") for _, _, operation in _operations(spec)]
    assert len(ids) >= 14 and all(ids), ids
    assert len(set(ids)) == len(ids), ids
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", i) for i in ids), ids
    by_route = {(path, method): operation["operationId"] for path, method, operation in _operations(spec)}
    assert by_route[("/v1/checks", "post")] == "createCheck"
    assert by_route[("/v1/decisions/{decision_id}", "get")] == "getDecision"


def test_answers_are_open_to_fields_added_later_and_bodies_stay_closed(spec):
    components = spec["components"]["schemas"]
    answered, sent = set(), set()
    for _, _, operation in _operations(spec):
        _refs(operation["responses"], components, answered)
        _refs(operation.get("requestBody", {}), components, sent)
    _refs(spec["components"]["responses"], components, answered)
    assert {"CheckResult", "Finding", "Decision", "TrailEntry", "Error"} <= answered
    assert not [name for name in answered if components[name].get("additionalProperties") is False]
    assert {"CheckRequest", "Employee", "Action"} <= sent
    assert all(components[name].get("additionalProperties") is False for name in sent if "properties" in components[name])


def test_verdicts_outcomes_and_kinds_are_enums(spec):
    c = spec["components"]["schemas"]
    assert c["CheckResult"]["properties"]["verdict"]["enum"] == ["deny", "warn", "allow"]
    assert set(c["Finding"]["properties"]["verdict"]["enum"]) == {"deny", "warn", "obligation"}
    assert set(c["Finding"]["properties"]["outcome"]["enum"]) == {"fired", "unknown", "dates_differ"}
    assert set(c["Checked"]["properties"]["outcome"]["enum"]) == {"fired", "unknown", "cleared", "dates_differ"}
    assert set(c["Citation"]["properties"]["kind"]["enum"]) == {"law", "policy"}
    assert "case_event" in c["TrailEntry"]["properties"]["kind"]["enum"]
    assert set(c["Decision"]["properties"]["kind"]["enum"]) == {"check", "case_event", "event_refused"}


def test_always_present_answer_fields_are_required(spec):
    c = spec["components"]["schemas"]
    assert {"decision_id", "verdict", "as_of", "retrospective", "ruleset_version", "findings",
            "checked"} <= set(c["CheckResult"]["required"])
    assert {"rule_id", "verdict", "outcome", "title", "message", "citations", "facts",
            "missing_facts"} <= set(c["Finding"]["required"])
    assert {"seq", "entry_id", "kind", "recorded_at", "body", "hash", "decision"} <= set(c["TrailEntry"]["required"])
    assert {"code", "status", "message", "errors"} <= set(c["Error"]["required"])


def test_the_public_key_is_documented_as_text_a_generator_reads(spec, fresh_app):
    answer = spec["paths"]["/v1/trail/public-key"]["get"]["responses"]["200"]
    assert set(answer["content"]) == {"application/x-pem-file", "text/plain"} and "X-Verifier-Key" in answer["headers"]
    client = fresh_app.test_client()
    assert client.get("/v1/trail/public-key", headers=AUTH).mimetype == "application/x-pem-file"
    as_text = client.get("/v1/trail/public-key", headers={**AUTH, "Accept": "text/plain"})
    assert as_text.mimetype == "text/plain" and as_text.get_data(as_text=True).startswith("-----BEGIN PUBLIC KEY-----")


def test_the_examples_are_the_readmes_requests(spec):
    (_, path, _, first), _, _ = _first_check()
    assert path == "/v1/checks" and listed("createCheck")[0]["value"] == first
    assert listed("createCheckBatch")[0]["value"] == {"checks": [first]}
    events = [(s.path, s.body, s.status) for s in steps() if s.method == "POST" and "/events" in s.path]
    assert [(f"/v1/cases/{e['path']['case_id']}/events", e["value"], e["status"])
            for e in listed("createCaseEvent")] == events
    for path, method, operation in _operations(spec):
        if "requestBody" in operation:
            examples = operation["requestBody"]["content"]["application/json"]["examples"]
            assert examples, (method, path)
            assert [e["value"] for e in examples.values()] == [e["value"] for e in listed(operation["operationId"])]


def test_every_example_is_answered_as_documented(fresh_app):
    """Each example, posted in order on a fresh database (the events build one case), gets the
    status it states, a documented one, with an answer in that status' schema. The first of
    each is the body /docs' "Try it out" sends."""
    api = schemathesis.openapi.from_wsgi("/openapi.json", fresh_app)
    client = fresh_app.test_client()
    documented = client.get("/openapi.json").get_json()
    for path, method, operation in _operations(documented):
        if "requestBody" not in operation:
            continue
        for example in listed(operation["operationId"]):
            url = path.format(**example.get("path", {}))
            answer = client.open(url, method=method.upper(), json=example["value"], headers=AUTH)
            assert answer.status_code == example["status"], (example["name"], answer.get_json())
            assert str(answer.status_code) in operation["responses"], example["name"]
            api[path][method.upper()].validate_response(answer)


def test_the_reads_after_the_examples_are_answered_as_documented(fresh_app):
    """What the examples recorded, read back through every GET: each answer has every field its
    schema requires (the always-present ones), in the documented shape."""
    from service.flows import sealing as sealer
    from service.tools import worker

    api = schemathesis.openapi.from_wsgi("/openapi.json", fresh_app)
    client = fresh_app.test_client()
    sizes = []
    for examples in (listed("createCaseEvent"), listed("createCheck")):  # a checkpoint after each
        for example in examples:
            path = f"/v1/cases/{example['path']['case_id']}/events" if "path" in example else "/v1/checks"
            assert client.post(path, json=example["value"], headers=AUTH).status_code == example["status"]
        while sealer.seal_once(fresh_app):
            pass
        assert client.post("/v1/trail/verify", headers=AUTH).status_code == 202  # the worker verifies
        worker.run_pass(fresh_app, "test", force=True, tasks=[t for t in worker.TASKS if t.name == "verify_trail"])
        sizes.append(client.get("/v1/trail/verify", headers=AUTH).get_json()["checkpoint"])
    entries = client.get("/v1/trail", headers=AUTH).get_json()["entries"]
    decision = next(e for e in entries if e["kind"] == "check")["entry_id"]
    refused = next(e for e in entries if e["kind"] == "event_refused")["entry_id"]
    reads = {"/v1/trail": "/v1/trail?limit=500", "/v1/trail/verify": "/v1/trail/verify",
             "/v1/trail/checkpoints": f"/v1/trail/checkpoints?first={sizes[0]}&second={sizes[1]}",
             "/v1/trail/proof/{entry_id}": f"/v1/trail/proof/{decision}",
             "/v1/decisions/{decision_id}": f"/v1/decisions/{refused}",
             "/v1/cases/{case_id}": "/v1/cases/SEP-2026-001?as_of=2026-02-10",
             "/v1/notifications": "/v1/notifications", "/v1/requirements": "/v1/requirements?action=terminate_with_notice"}
    for template, url in reads.items():
        answer = client.get(url, headers=AUTH)
        assert answer.status_code == 200, (url, answer.get_json())
        api[template]["GET"].validate_response(answer)
    notified = client.get("/v1/notifications", headers=AUTH).get_json()["notifications"]
    assert notified, "the refusal notifies: the notification's required fields were checked"
