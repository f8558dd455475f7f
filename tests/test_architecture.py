"""The layers as issue 20 draws them, held against the code: record/ stores and decides nothing
(binding the database migrates nothing: the upgrade on start is AUTO_MIGRATE's, after the gate),
create_app stays short, and an API operation is declared once (Blueprint.operation)."""
import ast
import inspect
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Flask
from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import create_engine, inspect as inspect_db, text

from service import PROJECT_ROOT, create_app
from service.http.api import Api, Blueprint
from service.record import db
from service.record.db import MIGRATIONS

# What runs the rules: only decide/ defines them and only flows/ (and decide/ itself) call them.
_DECIDING = {"evaluate", "review_case", "decide_next_step"}


def _imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names.update(alias.name for alias in node.names)
    return names


def test_record_imports_nothing_that_decides():
    found = {path.name: _imported_names(path) & _DECIDING
             for path in (PROJECT_ROOT / "service" / "record").glob("*.py")}
    assert {name: used for name, used in found.items() if used} == {}


def test_the_app_factory_is_at_most_60_lines():
    assert len(inspect.getsource(create_app).splitlines()) <= 60


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect_db(engine).get_table_names()
    finally:
        engine.dispose()


def test_binding_the_database_changes_no_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'bound.sqlite'}"
    app = Flask(__name__)
    app.config["DATABASE_URL"] = url
    db.init_app(app)  # record/ stores: it binds an engine and migrates nothing
    app.extensions["db_engine"].dispose()
    assert _tables(url) == []


def test_the_schema_is_upgraded_on_start_only_where_auto_migrate_asks(tmp_path):
    off = f"sqlite:///{tmp_path / 'off.sqlite'}"
    create_app({"TESTING": True, "DATABASE_URL": off, "AUTO_MIGRATE": False}).extensions["db_engine"].dispose()
    assert _tables(off) == []
    on = f"sqlite:///{tmp_path / 'on.sqlite'}"
    create_app({"TESTING": True, "DATABASE_URL": on}).extensions["db_engine"].dispose()  # on by default
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    engine = create_engine(on)
    with engine.connect() as connection:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert revision == head and "trail_entries" in _tables(on)


class _Body(Schema):
    name = fields.String(required=True)


class _Query(Schema):
    form = fields.String()


class _Answer(Schema):
    said = fields.String()


def test_an_operation_declared_once_validates_documents_and_passes_body_then_query():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="v1", OPENAPI_VERSION="3.0.3")
    blp = Blueprint("probe", __name__, url_prefix="/v1")

    @blp.route("/probes/<string:probe_id>")
    class Probe(MethodView):
        @blp.operation("createProbe", _Answer, status=201, body=_Body(), query=_Query(), query_as_kwargs=True)
        def post(self, body, probe_id, form=None):
            """Make a probe."""
            return {"said": f"{body['name']}/{form}/{probe_id}"}

    api = Api(app)
    api.register_blueprint(blp)
    client = app.test_client()
    made = client.post("/v1/probes/p1?form=short", json={"name": "n"})
    assert made.status_code == 201 and made.get_json() == {"said": "n/short/p1"}
    refused = client.post("/v1/probes/p1", json={})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["path"] == "name"
    operation = api.spec.to_dict()["paths"]["/v1/probes/{probe_id}"]["post"]
    assert operation["operationId"] == "createProbe" and operation["summary"] == "Make a probe."
    assert "201" in operation["responses"] and "requestBody" in operation
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["form"]
