"""JSON Schemas for every file the legal team edits (rules/ and fixtures/), generated from the marshmallow schemas the
service loads them with (apispec's converter), into rules/_schemas/.

Editors read them through each file's first line (`# yaml-language-server: $schema=...`); CI
validates the whole tree with check-jsonschema (tests/test_json_schemas.py).

    python -m service.tools.json_schemas           # write rules/_schemas/*.schema.json
    python -m service.tools.json_schemas --check   # exit 1 when a committed schema is out of date
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from schemas.classification import CaseStatesFileSchema, SeparationBasisFileSchema, WrittenFormFileSchema
from schemas.data_files import (CalendarFileSchema, CompleteRecordFileSchema, FactFileSchema, NamesFileSchema,
                                ParameterFileSchema)
from schemas.rule_file import CitationFileSchema, RuleFileSchema
from service.config import PROJECT_ROOT
from service.decide.process_config import ChainsFileSchema, SlaFileSchema
from service.decide.fixture_file import FixtureFileSchema, TestdataFileSchema
from service.decide.pack_file import PackFileSchema

SCHEMA_DIR = PROJECT_ROOT / "rules" / "_schemas"
# schema name -> (marshmallow schema, title, the files under rules/ it describes)
SCHEMAS: dict[str, tuple[type[Schema], str, tuple[str, ...]]] = {
    "rule_file": (RuleFileSchema, "A rule file", ("labor_law/*.yaml", "process/*.yaml", "companies/*/rules/*.yaml")),
    "citations": (CitationFileSchema, "A citation file", ("citations/*.yaml", "companies/*/citations.yaml")),
    "facts": (FactFileSchema, "A fact vocabulary file", ("facts/*.yaml",)),
    "parameter": (ParameterFileSchema, "A legal parameter", ("labor_law/parameters/**/*.yaml",)),
    "calendar": (CalendarFileSchema, "The working-day calendar", ("calendar/*.yaml",)),
    "approval_chains": (ChainsFileSchema, "The approval chains", ("process/config/approval_chains.yaml",
                                                                  "companies/*/config/approval_chains.yaml")),
    "sla": (SlaFileSchema, "The approval SLAs", ("process/config/sla.yaml", "companies/*/config/sla.yaml")),
    "pack": (PackFileSchema, "A company's policy pack", ("companies/*/pack.yaml",)),
    "separation_basis": (SeparationBasisFileSchema, "The separation basis table",
                         ("classification/separation_basis.yaml",)),
    "case_states": (CaseStatesFileSchema, "The case state machine", ("classification/case_states.yaml",)),
    "written_form": (WrittenFormFileSchema, "What counts as writing", ("classification/written_form.yaml",)),
    "names": (NamesFileSchema, "The names of the codes", ("names/*.yaml",)),
    "complete_record": (CompleteRecordFileSchema, "What an absent field means in a record declared complete",
                        ("records/*.yaml",)),
    # The fixtures are beside rules/, not in it (paths from rules/).
    "fixture": (FixtureFileSchema, "A fixture file: cases and what each asserts",
                ("../fixtures/**/*_test.yaml", "companies/*/fixtures/*_test.yaml")),
    "testdata": (TestdataFileSchema, "Employees and actors the fixtures name", ("../fixtures/testdata/*.yaml",)),
}


def _dict_keys(self, field, ret, **kwargs) -> dict:
    """A Dict's key validators as propertyNames, and its length as a count of properties."""
    if not isinstance(field, fields.Dict):
        return {}
    out = {}
    for bound in ("minLength", "maxLength"):
        if bound in ret:
            out[bound.replace("Length", "Properties")] = ret.pop(bound)
    if field.key_field is not None:
        keys = {k: v for k, v in self.field2property(field.key_field).items() if k in ("pattern", "enum")}
        if keys:
            out["propertyNames"] = keys
    return out


def generate() -> dict[str, str]:
    """schema file name -> its JSON text."""
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)  # nested schemas inline
    APISpec("rule files", "1", "3.1.0", plugins=[plugin])
    plugin.converter.add_attribute_function(_dict_keys)
    out = {}
    for name, (schema, title, globs) in SCHEMAS.items():
        body = plugin.converter.schema2jsonschema(schema())
        doc = {"$schema": "https://json-schema.org/draft/2020-12/schema",
               "$id": f"{name}.schema.json", "title": title,
               "description": f"Generated from {schema.__module__}.{schema.__name__} by "
                              f"`python -m service.tools.json_schemas`; do not edit. Files: {', '.join(globs)}",
               **body}
        out[f"{name}.schema.json"] = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return out


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """The schema files that differ from what the marshmallow schemas generate (or are missing)."""
    wanted = generate()
    have = {p.name for p in directory.glob("*.schema.json")} if directory.is_dir() else set()
    return sorted({n for n, text in wanted.items() if not (directory / n).is_file()
                   or (directory / n).read_text(encoding="utf-8") != text} | (have - set(wanted)))


def write(directory: Path = SCHEMA_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        (directory / name).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        out_of_date = stale()
        for name in out_of_date:
            print(f"rules/_schemas/{name} is out of date: run python -m service.tools.json_schemas")
        return 1 if out_of_date else 0
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
