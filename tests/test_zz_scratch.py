import json
from test_reload import reload_app  # noqa

def test_scratch(reload_app, rules_copy, caplog):
    client = reload_app.test_client()
    p = rules_copy / "labor_law/lcl_43_union_notice.yaml"
    p.write_text(p.read_text().replace("employer.union_exists: true\n      action.union_notified", "employer.union_exist: true\n      action.union_notified", 1).replace("ref: TUL-22", "ref: TUL-99"))
    answer = client.post("/v1/admin/rules/reload")
    print(json.dumps(answer.get_json(), ensure_ascii=False, indent=1))
    print(json.dumps(client.get("/readyz").get_json(), ensure_ascii=False, indent=1))
    for r in caplog.records: print(r.levelname, r.getMessage()[:1500])
    assert 0
