"""Clients generated from the served OpenAPI document, as an integrator would generate them:
a Python client (openapi-python-client) makes the README's check and reads the verdict as an
enum member; TypeScript types (openapi-typescript) type-check a sample call with tsc.
Generation must be clean: a warning about the document is a failure (fix the document)."""
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.http.examples import listed
from tests.conftest import TEST_KEY, make_app

ROOT = Path(__file__).resolve().parent.parent
TYPESCRIPT = ROOT / "clients" / "typescript"
# CI sets REQUIRE_NODE=1: there a missing node/npm (or an `npm ci` that did not run) fails.
REQUIRE_NODE = os.environ.get("REQUIRE_NODE") == "1"
PACKAGE = "separation_guard_client"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('clients') / 'c.sqlite'}", RULES_WATCH_SECONDS=0)
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="module")
def document(app, tmp_path_factory):
    """The served document, written to a file as `curl .../openapi.json -o openapi.json` would."""
    path = tmp_path_factory.mktemp("document") / "openapi.json"
    path.write_text(json.dumps(app.test_client().get("/openapi.json").get_json()), encoding="utf-8")
    return path


@pytest.fixture()
def python_client(document, tmp_path, monkeypatch):
    """The package openapi-python-client generates, importable as `separation_guard_client`."""
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no ruff formatting: nothing reads the code but Python
    done = subprocess.run(
        [str(Path(sys.executable).with_name("openapi-python-client")), "generate", "--path", str(document),
         "--output-path", str(tmp_path / PACKAGE), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, timeout=120)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "Warning" not in said and "Error" not in said, said  # e.g. a schema it had to skip
    monkeypatch.syspath_prepend(str(tmp_path))
    yield PACKAGE
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _module(name):
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_generated_python_client_makes_a_check_and_reads_the_verdict_as_an_enum(app, python_client):
    client_module = _module("client")
    create_check = _module("api.checks.create_check")
    get_decision = _module("api.decisions.get_decision")
    models = _module("models")
    readme_check = listed("createCheck")[0]["value"]

    # The WSGI app itself behind httpx: the same requests a live server would get.
    client = client_module.AuthenticatedClient(
        base_url="http://separation-guard.test", token=TEST_KEY,
        httpx_args={"transport": httpx.WSGITransport(app=app)}, raise_on_unexpected_status=True)
    with client:
        answer = create_check.sync_detailed(client=client, body=models.CheckRequest.from_dict(readme_check))
        assert answer.status_code == 200, answer.content
        result = answer.parsed
        assert isinstance(result, models.CheckResult)
        assert result.verdict is models.CheckResultVerdict.DENY
        denial = next(f for f in result.findings if f.rule_id == "lcl-42-4.protected-period")
        assert denial.verdict is models.FindingVerdict.DENY and denial.outcome is models.FindingOutcome.FIRED
        assert denial.citations and all(isinstance(c.kind, models.CitationKind) for c in denial.citations)

        # The decision read back by its id, typed the same way.
        decision = get_decision.sync(client=client, decision_id=result.decision_id)
        assert isinstance(decision, models.Decision) and decision.verdict.value == "deny"

        # A refused body is an Error, parsed from the one error shape.
        refused = create_check.sync_detailed(
            client=client, body=models.CheckRequest.from_dict({**readme_check, "as_of": "2026-02-31"}))
        assert refused.status_code == 422 and isinstance(refused.parsed, models.Error)
        assert refused.parsed.code == 422 and [e.path for e in refused.parsed.errors] == ["as_of"]


def _node_tools():
    """The TypeScript tools `npm ci` installed in clients/typescript (make test runs it)."""
    bin_dir = TYPESCRIPT / "node_modules" / ".bin"
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    missing += [f"{bin_dir.name}/{tool}" for tool in ("openapi-typescript", "tsc") if not (bin_dir / tool).exists()]
    if missing:
        message = f"missing {', '.join(missing)} (install node and npm, then `make test` runs `npm ci`)"
        if REQUIRE_NODE:
            pytest.fail(f"REQUIRE_NODE=1: {message}")
        pytest.skip(message)
    return bin_dir


def test_the_generated_typescript_types_type_check_a_sample_call(document, tmp_path):
    bin_dir = _node_tools()
    work = tmp_path / "typescript"
    work.mkdir()
    for name in ("sample.ts", "tsconfig.json"):
        shutil.copy(TYPESCRIPT / name, work / name)
    (work / "node_modules").symlink_to(TYPESCRIPT / "node_modules")
    generated = work / "generated" / "api.d.ts"
    done = subprocess.run([str(bin_dir / "openapi-typescript"), str(document), "-o", str(generated)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr  # no warning
    types = generated.read_text(encoding="utf-8")
    assert 'verdict: "deny" | "warn" | "allow";' in types and 'post: operations["createCheck"];' in types

    checked = subprocess.run([str(bin_dir / "tsc"), "--noEmit", "-p", str(work)],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The check has teeth: a verdict the document does not list is a type error.
    sample = (work / "sample.ts").read_text(encoding="utf-8")
    (work / "sample.ts").write_text(sample.replace('case "deny":', 'case "denied":'), encoding="utf-8")
    wrong = subprocess.run([str(bin_dir / "tsc"), "--noEmit", "-p", str(work)],
                           capture_output=True, text=True, timeout=300)
    assert wrong.returncode != 0 and '"denied"' in wrong.stdout, wrong.stdout + wrong.stderr
