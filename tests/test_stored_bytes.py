"""Fewer stored bytes (issue 23): an entry names request fields by position, and entries that name
them in full (written before) render the same."""
import json

from sqlalchemy import select

from service.http.decisions import render_body
from service.record.models import TrailEntry
from service.record.privacy import redact_findings
from service.record.recording import request_fields
from tests.conftest import check_body

# A female employee with nothing else given: many rules unknown, each naming the fields to give.
SPARSE = check_body(employee={"id": "E9", "gender": "female"})


def _entry(app, decision_id: str) -> TrailEntry:
    with app.extensions["db_read_sessions"]() as session:
        return session.scalar(select(TrailEntry).where(TrailEntry.entry_id == decision_id))


def _named(part: dict, fields: list[str]) -> dict:
    """The body as written before issue 23: `given` and `why` by name."""
    out = dict(part)
    if "given" in out:
        out["given"] = [fields[f] for f in out["given"]]
    if "why" in out:
        out["why"] = {k: [fields[f] for f in v] for k, v in out["why"].items()}
    if "earlier" in out:
        out["earlier"] = _named(out["earlier"], fields)
    return out


def test_an_entry_names_request_fields_by_position_and_renders_as_answered(sqlite_app):
    client, rulebook = sqlite_app.test_client(), sqlite_app.extensions["rulebook"]
    answer = client.post("/v1/checks", json=SPARSE).get_json()
    assert any(f["outcome"] == "unknown" for f in answer["findings"])
    body = _entry(sqlite_app, answer["decision_id"]).body
    fields = request_fields(rulebook.vocabulary)
    assert body["why"] and all(isinstance(f, int) for v in body["why"].values() for f in v)
    assert all(isinstance(f, int) for f in body.get("given", []))
    stored = client.get(f"/v1/decisions/{answer['decision_id']}").get_json()
    sensitive = rulebook.vocabulary.sensitive  # the trail never had the sensitive values
    assert stored["findings"] == redact_findings(answer["findings"], sensitive)
    assert stored["checked"] == redact_findings(answer["checked"], sensitive)
    assert any(f["missing_facts"] for f in stored["findings"])


def test_an_entry_written_with_field_names_renders_the_same(sqlite_app):
    client, rulebook = sqlite_app.test_client(), sqlite_app.extensions["rulebook"]
    fields = request_fields(rulebook.vocabulary)
    for body in (SPARSE, check_body(action={"type": "terminate_with_notice", "effective_date": "2026-03-15",
                                            "notice_served_on": "2026-02-10"}, employee={"id": "E8", "gender": "female"})):
        answer = client.post("/v1/checks", json=body).get_json()
        entry = _entry(sqlite_app, answer["decision_id"])
        coded = render_body(entry.body, entry.as_of, entry.action_type, rulebook)
        named = render_body(_named(entry.body, fields), entry.as_of, entry.action_type, rulebook)
        assert json.loads(sqlite_app.json.dumps(named)) == json.loads(sqlite_app.json.dumps(coded))
        assert coded["verdict"] == answer["verdict"]
