"""The legal classification tables (rules/classification/) and their interpreter: the case state
machine in arrival order, the separation basis, written form; and that a broken table stops the
rule book with every problem named."""
from __future__ import annotations

import datetime as dt
import shutil

import pytest

from service import PROJECT_ROOT
from service.decide.classification import Classification
from service.decide.rulebook import RuleLoadError, load_rulebook
from service.tools.lint import lint

CHINA = dt.timezone(dt.timedelta(hours=8))
TABLES = Classification.load(PROJECT_ROOT / "rules" / "classification")
MACHINE = TABLES.machine


def _at(hhmm: str, day: int = 2) -> dt.datetime:
    return dt.datetime(2026, 3, day, int(hhmm[:2]), int(hhmm[3:]), tzinfo=CHINA)


def _event(kind: str, at: str, received: str | None = None, day: int = 2) -> dict:
    event = {"type": kind, "at": _at(at, day), "actor": {"id": "E1", "role": "employee"}}
    if received:
        event["received_at"] = _at(received)
    return event


def _state(*events):
    state = MACHINE.run(list(events))
    return state.resignation, state.withdrawal, MACHINE.status(state)


@pytest.mark.parametrize("events, expected", [
    # The letter posted the day before reaches HR at 09:00; the e-mail at 08:30: void from the start.
    ([_event("resignation_submitted", "17:00", received="09:00", day=1),
      _event("withdrawal_requested", "08:30")], ("void", "in_time", "void")),
    # The same, recorded the other way round: arrival decides, not the order of recording.
    ([_event("withdrawal_requested", "08:30"),
      _event("resignation_submitted", "17:00", received="09:00", day=1)], ("void", "in_time", "void")),
    # Together with it (the same moment): the withdrawal still works (CC-141 "同时到达").
    ([_event("resignation_submitted", "09:00"), _event("withdrawal_requested", "09:00")], ("void", "in_time", "void")),
    # After the letter arrived: a request the employer may refuse.
    ([_event("resignation_submitted", "09:00"), _event("withdrawal_requested", "09:30")],
     ("submitted", "requested", "withdrawal_pending")),
    ([_event("resignation_submitted", "09:00"), _event("withdrawal_requested", "09:30"),
      _event("withdrawal_accepted", "10:00")], ("submitted", "accepted", "withdrawn")),
    # A new resignation after a refused withdrawal starts a new story.
    ([_event("resignation_submitted", "09:00"), _event("withdrawal_requested", "09:30"),
      _event("withdrawal_rejected", "10:00"), _event("resignation_submitted", "11:00")],
     ("submitted", "none", "submitted")),
    # Nothing decided on a void resignation revives it.
    ([_event("withdrawal_requested", "08:30"), _event("resignation_submitted", "09:00"),
      _event("resignation_approved", "10:00")], ("void", "in_time", "void")),
    ([], ("none", "none", "open")),
])
def test_the_case_state_machine_reads_events_in_arrival_order(events, expected):
    assert _state(*events) == expected


def test_the_legal_effect_gives_the_basis_of_carrying_out_a_resignation_case():
    void = MACHINE.run([_event("withdrawal_requested", "08:30"), _event("resignation_submitted", "09:00")])
    effect = MACHINE.legal_effect(void)
    assert (effect.basis, effect.awaits_decision, effect.cite) == ("void_resignation", False, ("CC-141", "CC-137"))
    assert MACHINE.withdrawal_timing(void) == "before_or_with_arrival"
    late = MACHINE.run([_event("resignation_submitted", "09:00"), _event("withdrawal_requested", "09:30")])
    assert MACHINE.legal_effect(late).basis == "employee_resignation"
    assert MACHINE.withdrawal_timing(late) == "after_arrival"
    assert MACHINE.legal_effect(MACHINE.run([])).basis is None  # unknown: the rules ask
    case = {"kind": "resignation", "events": [_event("withdrawal_requested", "08:30"),
                                              _event("resignation_submitted", "09:00")]}
    assert TABLES.basis.basis("execute_offboarding", case, None, MACHINE) == "void_resignation"


def test_every_event_is_an_action_for_the_rules_and_writing_follows_civil_code_469():
    assert MACHINE.action_of("withdrawal_accepted") == "approve_withdrawal"
    assert MACHINE.action_of("archived") == "review_case"
    assert [TABLES.forms.legal_form(f) for f in ("written", "email", "system", "verbal", None)] == [
        "written", "written", "written", "verbal", "not_recorded"]
    assert TABLES.basis.process_of("terminate_with_notice") == "employer_termination"
    assert TABLES.basis.process_of("execute_offboarding") is None  # its case says


@pytest.fixture
def rules_copy(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", root)
    return root


def _edit(root, name, old, new):
    path = root / "classification" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_broken_table_stops_the_rule_book_naming_every_problem(rules_copy):
    _edit(rules_copy, "case_states.yaml", "    set: {resignation: void}", "    set: {resignation: voided}")
    _edit(rules_copy, "separation_basis.yaml", "cite: [LCL-39]}", "cite: [LCL-399]}")
    _edit(rules_copy, "written_form.yaml", "  verbal:  {legal_form: verbal, cite: [CC-469]}", "")
    with pytest.raises(RuleLoadError) as exc:
        load_rulebook(rules_copy)
    found = {(p.file, p.field, p.reason) for p in exc.value.problems}
    assert found == {
        ("classification/case_states.yaml", "transitions.0.set.resignation",
         "'voided' is not a resignation state (known: none, submitted, approved, rejected, void)"),
        ("classification/separation_basis.yaml", "actions.terminate_for_cause.cite",
         "unknown ref 'LCL-399' (not in rules/citations/) — did you mean LCL-39?"),
        ("classification/written_form.yaml", "forms", "no line for the form 'verbal'"),
    }
    assert {(i.file, i.field) for i in lint(rules_copy).errors} >= {
        ("classification/case_states.yaml", "transitions.0.set.resignation"),
        ("classification/written_form.yaml", "forms")}


def test_a_table_of_the_wrong_shape_is_named_by_its_field(rules_copy):
    _edit(rules_copy, "case_states.yaml", "  - {status: open, when: {}}", "  - {status: open, when: {withdrawal: none}}")
    with pytest.raises(RuleLoadError) as exc:
        load_rulebook(rules_copy)
    assert [(p.file, p.field) for p in exc.value.problems] == [("classification/case_states.yaml", "status.9.when")]


def test_the_rule_book_version_covers_the_tables(rules_copy):
    from service.decide.rulebook import content_version
    before = content_version(rules_copy)
    _edit(rules_copy, "written_form.yaml", "  system:  {legal_form: written", "  system:  {legal_form: verbal")
    assert content_version(rules_copy) != before
    assert load_rulebook(rules_copy).context.classification.forms.legal_form("system") == "verbal"
