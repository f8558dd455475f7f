"""Every file under rules/ and fixtures/ names its JSON Schema on its first line and validates against it
(check-jsonschema, as an editor or CI would); the committed schemas are the ones the marshmallow
schemas generate."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service import PROJECT_ROOT
from service.tools.json_schemas import SCHEMA_DIR, generate, stale

RULES = PROJECT_ROOT / "rules"
FIXTURES = PROJECT_ROOT / "fixtures"
_HEADER = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def _schema_of(path: Path) -> Path:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    match = _HEADER.match(first)
    assert match, f"{path.relative_to(PROJECT_ROOT)}: the first line must name its schema"
    return (path.parent / match.group(1)).resolve()


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    if not Path(found).exists():
        pytest.fail("check-jsonschema is not installed (pip install -e '.[test]')")
    return found


def test_the_committed_schemas_are_up_to_date():
    assert stale() == [], "run: python -m service.tools.json_schemas"


def test_a_changed_marshmallow_schema_makes_the_committed_one_stale(tmp_path):
    for name, text in generate().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert stale(tmp_path) == []
    (tmp_path / "sla.schema.json").write_text("{}", encoding="utf-8")
    (tmp_path / "gone.schema.json").write_text("{}", encoding="utf-8")
    assert stale(tmp_path) == ["gone.schema.json", "sla.schema.json"]


def test_every_file_under_rules_and_fixtures_validates_against_the_schema_it_names():
    by_schema: dict[Path, list[str]] = {}
    for path in [*sorted(RULES.rglob("*.yaml")), *sorted(FIXTURES.rglob("*.yaml"))]:
        schema = _schema_of(path)
        assert schema.parent == SCHEMA_DIR.resolve() and schema.is_file(), f"{path}: no schema {schema}"
        by_schema.setdefault(schema, []).append(str(path))
    assert len(by_schema) == len(generate())  # every schema describes some file
    for schema, files in by_schema.items():
        run = subprocess.run([_check_jsonschema(), "--schemafile", str(schema), *files],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


def test_check_jsonschema_refuses_a_broken_file(tmp_path):
    broken = tmp_path / "base_days.yaml"
    broken.write_text("description: d\nvalues:\n  April 2012: {value: 1}\n", encoding="utf-8")
    run = subprocess.run([_check_jsonschema(), "--schemafile", str(SCHEMA_DIR / "parameter.schema.json"),
                          str(broken)], capture_output=True, text=True)
    assert run.returncode == 1 and "April 2012" in run.stdout + run.stderr
