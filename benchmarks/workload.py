"""Shared by the benchmarks: a snapshot of the rule files and a realistic mix of check requests.

The mix is every rule example (rules/**) and every check of every fixture (fixtures/**), that is
every situation the legal team wrote down, plus the README's reversal-crisis check. Fixtures
that give no `as_of` get their frozen `now` as `as_of`; checks that name a ledger case
(`case_id`) are left out (they need recorded events). Not a test: benchmark-only code.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from marshmallow import ValidationError  # noqa: E402

from schemas.check import CheckRequestSchema  # noqa: E402
from service.decide.rulebook import RuleLoadError, load_rulebook  # noqa: E402
from service.tools.scenarios import default_fixture_paths, fixture_checks, load_fixture_cases  # noqa: E402
from service.decide.yamlfile import load_yaml  # noqa: E402

# The decision the peer benchmark (bench_cerbos.py) also encodes: pregnant, Art. 40 notice.
PREGNANT_ART40 = {
    "as_of": "2026-02-10",
    "employee": {"id": "E1001", "gender": "female", "pregnancy": {"status": "pregnant"},
                 "children": [], "medical_treatment": {"status": "none"}},
    "action": {"type": "terminate_with_notice", "actor": {"id": "HR7", "role": "hr"}},
}


def readme_check() -> dict:
    """The README's first check (a complete record: deny + obligations), as the OpenAPI example has it."""
    examples = json.loads((ROOT / "service" / "http" / "examples.json").read_text(encoding="utf-8"))
    return next(e["value"] for e in examples["createCheck"] if e["name"] == "readme_first_check")


def snapshot_rules(target: Path, attempts: int = 5) -> Path:
    """Copy rules/ to `target` and check it loads: others may be editing the working tree, and the
    service reloads a changed rule set every RULES_WATCH_SECONDS, which would disturb a run."""
    last: Exception | None = None
    for _ in range(attempts):
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / "rules", target)
        try:
            load_rulebook(target).engine.close()
            return target
        except RuleLoadError as exc:  # caught someone mid-edit: try again
            last = exc
    raise SystemExit(f"rules/ does not load, cannot benchmark:\n{last}")


def _jsonable(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def request_bodies(rules_dir: Path) -> list[dict]:
    """JSON-ready request bodies (as an EHR would send them) that the schema accepts."""
    bodies = [copy.deepcopy(PREGNANT_ART40)]
    for path in sorted(rules_dir.rglob("*.yaml")):
        if set(path.relative_to(rules_dir).parts) & {"facts", "citations", "calendar", "parameters", "config"}:
            continue
        doc = load_yaml(path)
        for rule in (doc or {}).get("rules", []) if isinstance(doc, dict) else []:
            for example in rule.get("examples", []):
                bodies.append(_jsonable(example["request"]))
    for path in default_fixture_paths():
        try:
            cases = load_fixture_cases(path)
        except Exception:  # a fixture someone is editing: the mix does without it
            continue
        for source, case, now in cases:
            for _, request, _, step_now in fixture_checks(case, now, source):
                body = _jsonable(request)
                if "as_of" not in body and step_now is not None:
                    body["as_of"] = _jsonable(step_now)
                bodies.append(body)
    schema = CheckRequestSchema()
    kept = []
    for body in bodies:
        if "case_id" in body or "as_of" not in body:
            continue
        try:
            schema.load(json.loads(json.dumps(body)))
        except ValidationError:
            continue
        kept.append(json.loads(json.dumps(body)))
    return kept


def loaded_requests(bodies: list[dict]) -> list[dict]:
    schema = CheckRequestSchema()
    return [schema.load(copy.deepcopy(b)) for b in bodies]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def vm_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1
