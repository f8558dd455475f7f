"""Tests for service.decide.parameters and the parameter files under rules/labor_law/parameters."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from schemas.check import CheckRequestSchema
from service import PROJECT_ROOT
from service.decide.facts import FactContext, derive_facts
from service.decide.periods import (Entitlement, Retirement, medical_treatment_entitlement, regional_values,
                                    retirement_candidates)
from freezegun import freeze_time

from service.decide.citations import load_citations
from service.decide.parameters import (
    DEFAULT_ROOT,
    Citation,
    ParameterFileError,
    ParameterNotInForce,
    ParameterSet,
    UnknownParameter,
)

CATALOG = Path("/work/shared/reference/labor_rules_catalog.json")
SERVICE = Path(__file__).resolve().parents[1] / "service" / "decide"


@pytest.fixture(scope="module")
def params() -> ParameterSet:
    return ParameterSet.load(DEFAULT_ROOT)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
description: test
metadata: {unit: day, reference: FEM-7}
values:
  2012-04-28:
    value: 98
    metadata: {reference: FEM-7, note: first}
  2030-01-01:
    value: 120
    metadata: {reference: [FEM-7, REG-SH-ML], note: amendment}
"""


# ---- the real tree --------------------------------------------------------------------------
EXPECTED = {
    "maternity.base_days",
    "maternity.dystocia_extra_days",
    "maternity.extra_days_per_additional_baby",
    "maternity.regional_extension_days.CN-SH",
    "maternity.regional_extension_days.CN-ZJ",
    "maternity.regional_extension_days.CN-BJ",
    "maternity.regional_extension_days.CN-GD",
    "nursing.child_age_months",
    "medical_treatment.entitlement_table",
    "medical_treatment.counting_window_months",
    "medical_treatment.regional_formula.CN-SH",
    "retirement.original_age",
    "retirement.delay_schedule",
    "miscarriage.early_leave_days",
    "miscarriage.late_leave_days",
    "miscarriage.months_threshold",
    "work_injury.paid_suspension_months",
    "work_injury.paid_suspension_extension_months",
    "long_service_protection.years_to_retirement",
}


def test_tree_loads_with_expected_names(params):
    assert EXPECTED <= set(params)


@pytest.mark.parametrize(
    "name, on, value",
    [
        ("maternity.base_days", date(2012, 4, 28), 98),
        ("maternity.dystocia_extra_days", date(2025, 1, 1), 15),
        ("maternity.extra_days_per_additional_baby", date(2025, 1, 1), 15),
        ("nursing.child_age_months", date(2025, 1, 1), 12),
        ("retirement.original_age", date(2024, 12, 31), {"male": 60, "female_cadre": 55, "female_worker": 50}),
        ("medical_treatment.counting_window_months", date(1995, 1, 1), {3: 6, 6: 12, 9: 15, 12: 18, 18: 24, 24: 30}),
        ("miscarriage.early_leave_days", date(2012, 4, 28), 15),
        ("miscarriage.late_leave_days", date(2026, 1, 1), 42),
        ("miscarriage.months_threshold", date(2026, 1, 1), 4),
        ("work_injury.paid_suspension_months", date(2011, 1, 1), 12),
        ("work_injury.paid_suspension_extension_months", date(2026, 1, 1), 12),
        ("long_service_protection.years_to_retirement", date(2008, 1, 1), 5),
    ],
)
def test_values(params, name, on, value):
    assert params.get(name, on=on) == value


def test_regional_extensions_by_effective_date(params):
    # One file per region, OpenFisca style: each region's amendments are dated on its own.
    name = "maternity.regional_extension_days"
    assert regional_values(params, name, date(2021, 11, 24)) == {}
    assert set(regional_values(params, name, date(2021, 11, 25))) == {"CN-SH", "CN-ZJ"}
    assert set(regional_values(params, name, date(2021, 11, 26))) == {"CN-SH", "CN-ZJ", "CN-BJ"}
    latest = regional_values(params, name, date(2021, 12, 1))
    assert latest["CN-SH"] == 60 and latest["CN-BJ"] == 60 and latest["CN-GD"] == 80
    assert dict(latest["CN-ZJ"]["by_child_order"]) == {1: 60, 2: 90, 3: 90}
    with pytest.raises(ParameterNotInForce):
        params.get(f"{name}.CN-GD", on=date(2021, 11, 30))


def test_retirement_schedule_switches_on_2025_01_01(params):
    assert params.get("retirement.delay_schedule", on=date(2024, 12, 31)) == {}
    schedule = params.get("retirement.delay_schedule", on=date(2025, 1, 1))
    assert set(schedule) == {"male", "female_cadre", "female_worker"}


def test_retirement_schedule_matches_state_council_measures(params):
    """RET-SC-1: delays start with original retirement dates in 2025-01; targets 63 / 58 / 55 (RET-NPC-2024)."""
    ages = params.get("retirement.original_age", on=date(2025, 1, 1))
    schedule = params.get("retirement.delay_schedule", on=date(2025, 1, 1))
    steps = {"male": (4, 63), "female_cadre": (4, 58), "female_worker": (2, 55)}
    for category, s in schedule.items():
        y, m = map(int, s["first_delayed_birth_month"].split("-"))
        assert (y + ages[category], m) == (2025, 1), category
        assert (s["birth_months_per_step"], s["max_age_years"]) == steps[category]
        assert s["months_added_per_step"] == 1


def test_medical_table_partitions_the_plane(params):
    table = params.get("medical_treatment.entitlement_table", on=date(2025, 1, 1))

    def inside(x, r):
        return r["min"] <= x and (r["below"] is None or x < r["below"])

    for total in [x / 2 for x in range(0, 100)]:
        for at_employer in [x / 2 for x in range(0, int(total * 2) + 1)]:
            hits = [b for b in table if inside(total, b["total_work_years"]) and inside(at_employer, b["years_with_employer"])]
            assert len(hits) == 1, (total, at_employer)
    windows = params.get("medical_treatment.counting_window_months", on=date(2025, 1, 1))
    assert {b["months"] for b in table} == set(windows)


def test_every_value_cites_a_catalog_id(params):
    """The shared catalog, or the project's own additions to it (rules/citations/, e.g. WIR-33)."""
    if not CATALOG.exists():
        pytest.skip("reference catalog not present")
    ids = {e["id"] for e in json.loads(CATALOG.read_text(encoding="utf-8"))}
    project, problems = load_citations(DEFAULT_ROOT.parents[1])
    assert not problems
    ids |= set(project)
    for name in params:
        for start, _ in params.history(name):
            refs = params.reference(name, on=start).references
            assert refs and set(refs) <= ids, (name, start, refs)


def test_reference(params):
    c = params.reference("maternity.base_days", on=date(2025, 6, 1))
    assert isinstance(c, Citation)
    assert c.references == ("FEM-7",)
    assert c.in_force_from == date(2012, 4, 28)
    assert c.unit == "day"
    assert "第七条" in c.note
    assert params.reference("retirement.delay_schedule", on=date(2025, 1, 1)).references[0] == "RET-SC-1"


def test_values_are_read_only(params):
    ages = params.get("retirement.original_age", on=date(2025, 1, 1))
    with pytest.raises(TypeError):
        ages["male"] = 65  # type: ignore[index]
    assert isinstance(params.get("medical_treatment.entitlement_table", on=date(2025, 1, 1)), tuple)


# ---- lookup semantics -----------------------------------------------------------------------
def test_latest_key_on_or_before(tmp_path):
    write(tmp_path, "maternity/base_days.yaml", GOOD)
    p = ParameterSet.load(tmp_path)
    assert p.get("maternity.base_days", on=date(2012, 4, 28)) == 98
    assert p.get("maternity.base_days", on=date(2029, 12, 31)) == 98
    assert p.get("maternity.base_days", on=date(2030, 1, 1)) == 120
    assert p.reference("maternity.base_days", on=date(2030, 1, 1)).references == ("FEM-7", "REG-SH-ML")
    assert p.history("maternity.base_days") == ((date(2012, 4, 28), 98), (date(2030, 1, 1), 120))


def test_not_in_force(tmp_path):
    write(tmp_path, "maternity/base_days.yaml", GOOD)
    p = ParameterSet.load(tmp_path)
    with pytest.raises(ParameterNotInForce) as exc:
        p.get("maternity.base_days", on=date(2012, 4, 27))
    assert exc.value.earliest == date(2012, 4, 28)
    assert "2012-04-27" in str(exc.value)


def test_unknown_parameter_and_bad_date(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    p = ParameterSet.load(tmp_path)
    with pytest.raises(UnknownParameter, match="no parameter named 'b'"):
        p.get("b", on=date(2020, 1, 1))
    with pytest.raises(TypeError):
        p.get("a", on="2020-01-01")  # type: ignore[arg-type]


def test_file_reference_is_the_fallback(tmp_path):
    write(tmp_path, "x.yaml", "description: d\nmetadata: {reference: MED-4}\nvalues:\n  '1995-01-01': {value: 1}\n")
    c = ParameterSet.load(tmp_path).reference("x", on=date(2000, 1, 1))
    assert c.references == ("MED-4",) and c.note is None


# ---- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, reason",
    [
        ("values:\n  2012-04-28: {value: 1, metadata: {reference: X}}\n", "description"),
        ("description: d\n", "values: Missing data for required field"),
        ("description: d\nvalues: {}\n", "values: Shorter than minimum length 1"),
        ("description: d\nvalues:\n  2012-13-01: {value: 1, metadata: {reference: X}}\n", "not an ISO date"),
        ("description: d\nvalues:\n  2012-04-28T10:00:00: {value: 1, metadata: {reference: X}}\n", "not an ISO date"),
        ("description: d\nvalues:\n  April 2012: {value: 1, metadata: {reference: X}}\n", "not an ISO date"),
        ("description: d\nvalues:\n  2012-04-28: {metadata: {reference: X}}\n", "value: Missing data for required field"),
        ("description: d\nvalues:\n  2012-04-28: 98\n", "2012-04-28.value._schema: Invalid input type"),
        ("description: d\nvalues:\n  2012-04-28: {value: 1}\n", "no reference"),
        ("description: d\nvalues:\n  2012-04-28: {value: 1, metadata: {reference: X}, extra: 2}\n", "extra: Unknown field"),
        ("description: d\nunits: day\nvalues:\n  2012-04-28: {value: 1, metadata: {reference: X}}\n", "units: Unknown field"),
        (
            "description: d\nvalues:\n  2012-04-28: {value: 1, metadata: {reference: X}}\n"
            "  2012-04-28: {value: 2, metadata: {reference: X}}\n",
            "duplicate key",
        ),
        (
            "description: d\nvalues:\n  2012-04-28: {value: 1, metadata: {reference: X}}\n"
            "  '2012-04-28': {value: 2, metadata: {reference: X}}\n",
            "duplicate key",
        ),
        ("description: d\nmetadata: {reference: 7}\nvalues:\n  2012-04-28: {value: 1}\n", "reference must be"),
        ("- a list\n", "top level must be a mapping"),
        ("description: [unclosed\n", "cannot read YAML"),
    ],
)
def test_invalid_files(tmp_path, text, reason):
    path = write(tmp_path, "maternity/base_days.yaml", text)
    with pytest.raises(ParameterFileError) as exc:
        ParameterSet.load(tmp_path)
    assert exc.value.file == str(path)
    assert reason in exc.value.reason


def test_empty_or_missing_root(tmp_path):
    with pytest.raises(ParameterFileError, match="no parameter files"):
        ParameterSet.load(tmp_path)
    with pytest.raises(ParameterFileError, match="not a directory"):
        ParameterSet.load(tmp_path / "missing")


def test_same_name_twice(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "a.yml", GOOD)
    with pytest.raises(ParameterFileError, match="defined twice"):
        ParameterSet.load(tmp_path)


# ---- no wall clock --------------------------------------------------------------------------
def test_no_clock_reads_in_source():
    for name in ("parameters.py", "periods.py", "civil_dates.py", "retirement.py"):
        src = (SERVICE / name).read_text(encoding="utf-8")
        assert not re.search(r"\b(now|today|utcnow|time)\s*\(", src), name


def test_answers_do_not_depend_on_the_clock():
    with freeze_time("2000-01-01"):
        a = ParameterSet.load(DEFAULT_ROOT).get("retirement.delay_schedule", on=date(2025, 1, 1))
    with freeze_time("2040-01-01"):
        b = ParameterSet.load(DEFAULT_ROOT).get("retirement.delay_schedule", on=date(2025, 1, 1))
    assert a == b


def test_miscarriage_and_paid_suspension_values_start_with_their_texts(params):
    """FEM-7 para 2 from 2012-04-28, WIR-33 from 2011-01-01: nothing is guessed for earlier dates."""
    with pytest.raises(ParameterNotInForce):
        params.get("miscarriage.early_leave_days", on=date(2012, 4, 27))
    with pytest.raises(ParameterNotInForce):
        params.get("work_injury.paid_suspension_months", on=date(2010, 12, 31))
    assert params.reference("miscarriage.late_leave_days", on=date(2026, 1, 1)).references == ("FEM-7",)
    assert params.reference("work_injury.paid_suspension_months", on=date(2026, 1, 1)).references == ("WIR-33",)


# ---- an amendment is a new date key, and the derivations read it from that date ---------------
AMENDED_ON = date(2030, 1, 1)


def amended(tmp_path: Path, rel: str, value: str, reference: str) -> ParameterSet:
    """The real tree with one more dated value appended to ``rel`` (its ``values:`` come last)."""
    root = tmp_path / "parameters"
    shutil.copytree(DEFAULT_ROOT, root)
    path = root / rel
    path.write_text(path.read_text(encoding="utf-8") + f"  {AMENDED_ON.isoformat()}:  # a test amendment\n"
                    f"    value: {value}\n    metadata: {{reference: {reference}}}\n", encoding="utf-8")
    return ParameterSet.load(root)


@pytest.fixture(scope="module")
def context() -> FactContext:
    return FactContext.load(PROJECT_ROOT / "rules")


def window_start(context: FactContext, as_of: str) -> str | None:
    request = CheckRequestSchema().load({"as_of": as_of, "action": {"type": "terminate_with_notice"},
                                         "employee": {"id": "E1", "gender": "male", "birth_date": "1970-06-15"}})
    return derive_facts(request, request["as_of"], context).values.get("derived.retirement.window_start")


def test_the_lcl_42_5_window_is_read_from_the_tree(tmp_path, context):
    # A man born 1970-06-15 retires on 2031-11-15 (61y5m, RET-SC-1): five years before, then three.
    assert window_start(context, "2029-12-31") == window_start(context, "2030-01-01") == "2026-11-15"
    three = dataclasses.replace(context, parameters=amended(
        tmp_path, "long_service_protection/years_to_retirement.yaml", "3", "LCL-42-5"))
    assert window_start(three, "2029-12-31") == "2026-11-15"
    assert window_start(three, "2030-01-01") == "2028-11-15"


def test_no_lcl_42_5_window_before_the_labor_contract_law(context):
    assert window_start(context, "2007-12-31") is None
    assert window_start(context, "2008-01-01") == "2025-06-15"   # at 60, before the reform


def _tests_on(condition, fact: str, op: str) -> list:
    """Every `fact: {op: value}` in a rule condition, however nested in all/any/not."""
    found = []
    if isinstance(condition, dict):
        for key, value in condition.items():
            if key == fact and isinstance(value, dict) and op in value:
                found.append(value[op])
            else:
                found += _tests_on(value, fact, op)
    elif isinstance(condition, list):
        for item in condition:
            found += _tests_on(item, fact, op)
    return found


@pytest.mark.parametrize("rule_file, rule_id, fact, op, parameter, per_unit", [
    # LCL-42(5) "距法定退休年龄不足五年": the rule counts the parameter's years in months.
    ("lcl_42_5_long_service_near_retirement.yaml", "lcl-42-5.long-service-near-retirement",
     "derived.retirement.months_left", "lt", "long_service_protection.years_to_retirement", 12),
    # LCL-40 "提前三十日": the obligation and the notice day judged without one (evaluation.py).
    ("lcl_40_notice_termination.yaml", "lcl-40.notice-or-pay-in-lieu",
     "derived.notice.days_served", "lt", "notice.period_days", 1),
])
def test_a_rule_states_the_value_of_the_parameter_python_derives_with(params, rule_file, rule_id, fact, op,
                                                                      parameter, per_unit):
    """A legal value both a rule's condition and a derivation use is in two places of the tree:
    every version of the rule must agree with every value of the parameter in force over its range,
    so an amendment changes both or this fails."""
    path = DEFAULT_ROOT.parents[0] / rule_file
    versions = [r for r in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"] if r["id"] == rule_id]
    history = params.history(parameter)
    assert versions
    for rule in versions:
        start = date.fromisoformat(str(rule["effective_from"]))
        end = rule.get("effective_to") and date.fromisoformat(str(rule["effective_to"]))
        in_force = [v for i, (d, v) in enumerate(history)
                    if (end is None or d <= end) and (i + 1 == len(history) or history[i + 1][0] > start)]
        stated = _tests_on(rule["when"], fact, op)
        assert in_force and stated and {per_unit * v for v in in_force} == set(stated), \
            (rule["effective_from"], in_force, stated)


def test_the_med_4_counting_windows_are_read_from_the_tree(tmp_path, params):
    on, before = AMENDED_ON, date(2029, 12, 31)
    assert medical_treatment_entitlement(1, 1, on, params) == Entitlement(3, 6)
    longer = amended(tmp_path, "medical_treatment/counting_window_months.yaml",
                     "{3: 9, 6: 12, 9: 15, 12: 18, 18: 24, 24: 30}", "MED-4")
    assert medical_treatment_entitlement(1, 1, before, longer) == Entitlement(3, 6)
    assert medical_treatment_entitlement(1, 1, on, longer) == Entitlement(3, 9)


def test_the_retirement_delay_steps_are_read_from_the_tree(tmp_path, params):
    # RET-SC-1: one month per four birth months for men, to 63. An amendment of two birth months
    # per step (cap unchanged) gives a man born 1970-06 33 months instead of 17.
    born = date(1970, 6, 10)
    assert retirement_candidates(born, "male", AMENDED_ON, params)[60] == Retirement(61, 5, date(2031, 11, 10))
    faster = amended(tmp_path, "retirement/delay_schedule.yaml",
                     "{male: {first_delayed_birth_month: '1965-01', birth_months_per_step: 2, "
                     "months_added_per_step: 1, max_age_years: 63}, female_cadre: {first_delayed_birth_month: '1970-01', "
                     "birth_months_per_step: 4, months_added_per_step: 1, max_age_years: 58}, female_worker: "
                     "{first_delayed_birth_month: '1975-01', birth_months_per_step: 2, months_added_per_step: 1, "
                     "max_age_years: 55}}", "RET-SC-1")
    assert retirement_candidates(born, "male", date(2029, 12, 31), faster)[60] == Retirement(61, 5, date(2031, 11, 10))
    assert retirement_candidates(born, "male", AMENDED_ON, faster)[60] == Retirement(62, 9, date(2033, 3, 10))
