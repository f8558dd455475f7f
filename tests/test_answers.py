"""Answers are encoded once, by orjson, from plain data (service/http/checks.py): they must be what
the documented schemas say, field for field, for every check the fixtures make; and with
citations=refs the same answer, citing by reference, with the texts at GET /v1/citations."""
import datetime as dt
import json

from freezegun import freeze_time
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource

from schemas.check import CheckResultSchema
from service import PROJECT_ROOT
from service.decide.rulebook import load_rulebook
from service.tools.scenarios import (date_at, default_fixture_paths, fixture_checks, load_fixture_cases,
                                     rule_example_cases)
from tests.conftest import check_body

# Every check the fixtures make, and every rule example's request (each gives its as_of).
_CHECKS = [check for path in default_fixture_paths() for source, case, now in load_fixture_cases(path)
           for check in fixture_checks(case, now, source)] + \
          [(source, example["request"], None, None)
           for source, _rule, example in rule_example_cases(load_rulebook(PROJECT_ROOT / "rules"))]


def _result_validator(client) -> OAS30Validator:
    document = client.get("/openapi.json").get_json()
    registry = Registry().with_resource("urn:doc", Resource.opaque(document))
    return OAS30Validator({"$ref": "urn:doc#/components/schemas/CheckResult"}, registry=registry)


def _as_marshmallow_dumps(answer: dict) -> dict:
    """What the answer was before: the same data through CheckResultSchema().dump and Flask's JSON."""
    dumped = CheckResultSchema().dump({**answer, "as_of": dt.date.fromisoformat(answer["as_of"])})
    return json.loads(json.dumps(dumped, ensure_ascii=False, default=str))


def _without_texts(answer: dict) -> dict:
    by_ref = {k: v for k, v in answer.items() if k not in ("decision_id", "receipt")}
    by_ref["findings"] = [{**f, "citations": [{k: c[k] for k in ("ref", "kind", "role", "article", "item")}
                                              for c in f["citations"]]} for f in answer["findings"]]
    return by_ref


def test_every_fixture_answer_is_the_documented_schema_and_refs_only_drops_the_texts(sqlite_app):
    client = sqlite_app.test_client()
    validator = _result_validator(client)
    texts = client.get("/v1/citations").get_json()["citations"]
    assert len(_CHECKS) > 400
    for source, request, _expected, now in _CHECKS:
        body = {**request, "as_of": request.get("as_of") or date_at(now).isoformat()}
        with freeze_time(now or body["as_of"]):
            full = client.post("/v1/checks", json=body)
            refs = client.post("/v1/checks?citations=refs", json=body)
        if full.status_code == 422:  # a fixture of a refused request (its step expects the 422)
            assert refs.status_code == 422, source
            continue
        assert full.status_code == 200 and refs.status_code == 200, (source, full.get_json())
        answer = full.get_json()
        problems = [e.message for e in validator.iter_errors(answer)]
        assert not problems, (source, problems[:3])
        assert _as_marshmallow_dumps(answer) == answer, source
        assert refs.headers["Preference-Applied"] == "citations=refs"
        assert _without_texts(refs.get_json()) == _without_texts(answer), source
        for finding in answer["findings"]:
            for cited in finding["citations"]:
                kept = texts[cited["ref"]]
                assert (kept["text"], kept["law"], kept["law_en"]) == (cited["text"], cited["law"], cited["law_en"])


def test_the_prefer_header_asks_for_references_and_the_query_wins(sqlite_app):
    client = sqlite_app.test_client()
    preferred = client.post("/v1/checks", json=check_body(), headers={"Prefer": "respond-async, citations=refs"})
    citation = preferred.get_json()["findings"][0]["citations"][0]
    assert "text" not in citation and "law" not in citation and citation["ref"]
    assert preferred.headers["Preference-Applied"] == "citations=refs"
    full = client.post("/v1/checks?citations=full", json=check_body(), headers={"Prefer": "citations=refs"})
    assert "text" in full.get_json()["findings"][0]["citations"][0]
    assert "Preference-Applied" not in full.headers
    assert client.post("/v1/checks", json=check_body()).headers["Vary"] == "Prefer"


def test_batch_answers_cite_by_reference_too(sqlite_app):
    client = sqlite_app.test_client()
    answer = client.post("/v1/checks:batch?citations=refs", json={"checks": [check_body(), check_body()]}).get_json()
    assert all("text" not in c for r in answer["results"] for f in r["findings"] for c in f["citations"])


def test_an_unknown_form_is_a_422_naming_the_parameter(sqlite_app):
    response = sqlite_app.test_client().post("/v1/checks?citations=short", json=check_body())
    assert response.status_code == 422
    assert "citations" in json.dumps(response.get_json())


def test_citations_are_cached_by_version_and_an_unknown_version_is_404(sqlite_app):
    client = sqlite_app.test_client()
    version = sqlite_app.extensions["rulebook"].version
    first = client.get(f"/v1/citations?version={version}")
    assert first.status_code == 200
    assert first.headers["ETag"] == f'"{version}"' and "immutable" in first.headers["Cache-Control"]
    body = first.get_json()
    assert body["ruleset_version"] == version
    assert "女职工在孕期、产期、哺乳期" in body["citations"]["LCL-42-4"]["text"]
    assert client.get("/v1/citations", headers={"If-None-Match": f'"{version}"'}).status_code == 304
    assert client.get("/v1/citations?version=sha256:nothing").status_code == 404


def test_a_version_no_longer_serving_is_read_back_from_the_trail(tmp_path, rules_copy):
    from tests.conftest import make_app
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    path = rules_copy / "citations" / "labor_law.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("女职工在孕期、产期、哺乳期", "女职工在孕期、产期、哺乳期（旧）", 1), encoding="utf-8")
    earlier = make_app(url, RULES_DIR=str(rules_copy))
    old_version = earlier.extensions["rulebook"].version
    earlier.extensions["db_engine"].dispose()
    now = make_app(url)
    assert now.extensions["rulebook"].version != old_version
    answer = now.test_client().get(f"/v1/citations?version={old_version}").get_json()
    assert "（旧）" in answer["citations"]["LCL-42-4"]["text"]
    now.extensions["db_engine"].dispose()


def test_citations_need_a_key(sqlite_app):
    from flask.testing import FlaskClient
    assert FlaskClient(sqlite_app).get("/v1/citations").status_code == 401
