"""Process facts (service/decide/facts/process.py) and their configuration (rules/process/config/):
working-day deadlines, approval chains, who acts; and that SLAs and the calendar are data."""
from __future__ import annotations

import pytest
from freezegun import freeze_time

from schemas.check import CheckRequestSchema
from service import PROJECT_ROOT, create_app
from service.decide.evaluation import evaluate
from service.decide.facts.process import derive
from service.decide.facts.unknown import Unknown
from service.decide.facts.separation import separation_basis
from service.decide.process_config import ProcessConfig, ProcessConfigError
from service.decide.rulebook import RuleBook, RuleLoadError, load_rulebook

_BOOK = load_rulebook(PROJECT_ROOT / "rules")


def _event(kind: str, at: str, actor: str, role: str) -> dict:
    return {"type": kind, "at": at, "actor": {"id": actor, "role": role}}


def _body(as_of: str, events: list[dict] | None, action: str = "review_case",
          actor: dict | None = None, employee: dict | None = None, kind: str = "resignation") -> dict:
    body = {"as_of": as_of,
            "employee": employee or {"id": "E1", "gender": "male", "medical_treatment": {"status": "none"}},
            "action": {"type": action, "actor": actor or {"id": "HR7", "role": "hr"}}}
    if events is not None:
        body["case"] = {"id": "SEP-T", "kind": kind, "events": events}
    return body


def _facts(body: dict, book: RuleBook = _BOOK) -> dict:
    """The facts derived; one left unknown is absent, as the rules see it (its reasons: _unknown)."""
    return {k: v for k, v in _derived(body, book).items() if not isinstance(v, Unknown)}


def _unknown(body: dict, name: str, book: RuleBook = _BOOK) -> tuple[str, ...]:
    """The request fields that decide a fact derivation left unknown."""
    value = _derived(body, book)[name]
    assert isinstance(value, Unknown), (name, value)
    return value.fields


def _derived(body: dict, book: RuleBook = _BOOK) -> dict:
    request = CheckRequestSchema().load(body)
    return derive(request, request["as_of"], book.context)


def _check(body: dict, book: RuleBook = _BOOK):
    return evaluate(book, CheckRequestSchema().load(body))


def _submitted(day: str) -> list[dict]:
    return [_event("resignation_submitted", f"{day}T10:00:00+08:00", "E1", "employee")]


# ---- deadlines in working days --------------------------------------------------------------------
@pytest.mark.parametrize("requested, due", [
    ("2026-02-13", "2026-02-24"),   # Fri before the Spring Festival -> first day back
    ("2026-02-14", "2026-02-25"),   # the make-up Saturday, last working day before the holiday
    ("2026-02-12", "2026-02-14"),   # due on the make-up Saturday
    ("2026-02-18", "2026-02-25"),   # requested on a holiday
    ("2026-02-26", "2026-02-28"),   # due on the make-up Saturday after the holiday
    ("2026-09-17", "2026-09-20"),   # due on the make-up Sunday before National Day
    ("2026-09-30", "2026-10-09"),   # across National Day
])
def test_due_date_is_the_nth_working_day_after_the_request_day(requested, due):
    facts = _facts(_body(requested, _submitted(requested)))
    assert facts["derived.case.pending.step"] == "resignation_approval"
    assert facts["derived.case.pending.requested_on"] == requested
    assert facts["derived.case.pending.sla_working_days"] == 2
    assert facts["derived.case.pending.due_on"] == due
    assert facts["derived.case.pending.overdue"] is False
    assert facts["derived.case.pending.working_days_late"] == 0


@pytest.mark.parametrize("as_of, overdue, late", [
    ("2026-02-24", False, 0),   # the deadline itself
    ("2026-02-25", True, 1),
    ("2026-02-28", True, 4),    # Wed, Thu, Fri and the make-up Saturday
    ("2026-03-01", True, 4),    # Sunday adds nothing
])
def test_overdue_from_the_day_after_and_late_in_working_days(as_of, overdue, late):
    facts = _facts(_body(as_of, _submitted("2026-02-13")))
    assert facts["derived.case.pending.overdue"] is overdue
    assert facts["derived.case.pending.working_days_late"] == late


def test_overdue_on_a_day_off_after_the_deadline_is_zero_working_days_late():
    facts = _facts(_body("2026-02-15", _submitted("2026-02-12")))   # due Sat 02-14, 02-15 a holiday
    assert facts["derived.case.pending.overdue"] is True
    assert facts["derived.case.pending.working_days_late"] == 0


def test_the_request_day_is_taken_in_china_time():
    events = [_event("resignation_submitted", "2026-02-13T16:30:00Z", "E1", "employee")]  # 00:30 on 02-14 in Beijing
    facts = _facts(_body("2026-02-25", events))
    assert facts["derived.case.pending.requested_on"] == "2026-02-14"
    assert facts["derived.case.pending.due_on"] == "2026-02-25"


@pytest.mark.parametrize("requested, as_of", [("2026-12-30", "2026-12-31"),   # the deadline needs 2027
                                              ("2027-03-01", "2027-03-02")])
def test_a_year_without_calendar_data_is_named_never_guessed(requested, as_of):
    facts = _facts(_body(as_of, _submitted(requested)))
    assert facts["derived.case.pending.calendar_missing_year"] == 2027
    assert "derived.case.pending.working_days_late" not in facts
    outcome = _check(_body(as_of, _submitted(requested)))
    [finding] = outcome.findings
    # Whether the step is overdue is unknown, so the overdue rule warns, naming the year; nothing
    # the request could add decides it, so it names no field.
    assert finding["rule_id"] == "process.sla.step-overdue" and finding["verdict"] == "warn"
    assert finding["outcome"] == "unknown" and finding["missing_facts"] == []
    assert "2027" in finding["message"]["zh"] and "2027" in finding["message"]["en"]
    assert [c["ref"] for c in finding["citations"]] == ["POL-SLA-6.1", "POL-SLA-6.2"]


def test_a_deadline_passed_is_overdue_even_when_the_days_late_need_a_missing_year():
    facts = _facts(_body("2027-01-04", _submitted("2026-12-28")))     # due 2026-12-30
    assert facts["derived.case.pending.overdue"] is True
    assert facts["derived.case.pending.calendar_missing_year"] == 2027
    assert "derived.case.pending.working_days_late" not in facts      # never guessed
    [finding] = _check(_body("2027-01-04", _submitted("2026-12-28"))).findings
    assert finding["rule_id"] == "process.sla.step-overdue" and finding["outcome"] == "fired"


def test_facts_depend_on_as_of_not_on_the_clock():
    body = _body("2026-02-25", _submitted("2026-02-13"))
    with freeze_time("2026-01-01T00:00:00+08:00"):
        early = _facts(body)
    with freeze_time("2030-06-30T12:00:00+08:00"):
        late = _facts(body)
    assert early == late


# ---- the overdue finding ----------------------------------------------------------------------------
def test_overdue_finding_names_step_deadline_lateness_and_whom_to_remind_and_escalate_to():
    outcome = _check(_body("2026-02-26", _submitted("2026-02-13")))
    [finding] = outcome.findings
    assert finding["rule_id"] == "process.sla.step-overdue" and outcome.verdict == "warn"
    en, zh = finding["message"]["en"], finding["message"]["zh"]
    assert "approval of the resignation" in en and "辞职申请审批" in zh
    assert "2026-02-24" in en and "2026-02-24" in zh
    assert "2 working day(s) late" in en and "逾期2个工作日" in zh
    assert "the line manager" in en and "直属经理" in zh          # remind: the pending approver
    assert "escalate to HR" in en and "上报人力资源部" in zh        # escalate: sla.yaml
    assert "?" not in en + zh
    assert [c["ref"] for c in finding["citations"]] == ["POL-SLA-6.1", "POL-SLA-6.2"]


# ---- approval chains -------------------------------------------------------------------------------
_WITHDRAWN = [
    _event("resignation_submitted", "2026-01-05T09:00:00+08:00", "E1", "employee"),
    _event("resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager"),
    _event("withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1", "employee"),
    _event("withdrawal_accepted", "2026-01-08T15:00:00+08:00", "M3", "manager"),
]


def test_a_withdrawal_accepted_by_the_manager_awaits_hr_but_already_voids_the_resignation():
    facts = _facts(_body("2026-01-09", _WITHDRAWN))
    assert facts["derived.case.withdrawal"] == "accepted"              # the law: the employer accepted
    assert facts["derived.case.approvals.withdrawal_complete"] is False  # the policy: HR still to acknowledge
    assert facts["derived.case.pending.step"] == "withdrawal_hr_acknowledgement"
    assert facts["derived.case.pending.approver"] == "hr"
    assert facts["derived.case.pending.requested_on"] == "2026-01-08"  # reached HR with the manager's acceptance
    assert facts["derived.case.pending.escalate_to"] == "hr_admin"
    case = {"kind": "resignation", "events": CheckRequestSchema().load(_body("2026-01-09", _WITHDRAWN))["case"]["events"]}
    assert separation_basis(_BOOK.context.classification, "execute_offboarding", case) == "void_resignation"


def test_manager_then_hr_completes_the_withdrawal_chain():
    events = _WITHDRAWN + [_event("withdrawal_accepted", "2026-01-09T10:00:00+08:00", "HR7", "hr")]
    facts = _facts(_body("2026-02-10", events))
    assert facts["derived.case.approvals.withdrawal_complete"] is True
    assert facts["derived.case.pending.step"] == "none"
    assert "derived.case.pending.due_on" not in facts


def test_an_approval_out_of_turn_does_not_count():
    events = _WITHDRAWN[:3] + [_event("withdrawal_accepted", "2026-01-08T15:00:00+08:00", "HR7", "hr")]
    facts = _facts(_body("2026-01-09", events))
    assert facts["derived.case.withdrawal"] == "accepted"
    assert facts["derived.case.pending.step"] == "withdrawal_decision"
    assert facts["derived.case.pending.approver"] == "manager"


def test_resignation_chain_and_rejections():
    submitted = _submitted("2026-03-02")
    approved = submitted + [_event("resignation_approved", "2026-03-03T10:00:00+08:00", "M3", "manager")]
    rejected = submitted + [_event("resignation_rejected", "2026-03-03T10:00:00+08:00", "M3", "manager")]
    assert _facts(_body("2026-03-04", submitted))["derived.case.approvals.resignation_complete"] is False
    assert _facts(_body("2026-03-04", approved))["derived.case.approvals.resignation_complete"] is True
    assert _facts(_body("2026-03-04", rejected))["derived.case.approvals.resignation_complete"] is False
    assert _facts(_body("2026-03-04", rejected))["derived.case.pending.step"] == "none"
    assert _facts(_body("2026-03-04", []))["derived.case.approvals.resignation_complete"] is False
    # Other case kinds have no resignation chain: unknown, not false.
    other = _facts(_body("2026-03-04", [], kind="mutual_agreement"))
    assert "derived.case.approvals.resignation_complete" not in other
    assert _unknown(_body("2026-03-04", [], kind="mutual_agreement"),
                    "derived.case.approvals.resignation_complete") == ()
    assert "derived.case.approvals.resignation_complete" not in _facts(_body("2026-03-04", None))
    assert _unknown(_body("2026-03-04", None), "derived.case.approvals.resignation_complete") == ("case.events",)


def test_a_rejected_withdrawal_hands_back_to_the_resignation_chain():
    events = _submitted("2026-03-02") + [
        _event("withdrawal_requested", "2026-03-03T09:00:00+08:00", "E1", "employee"),
        _event("withdrawal_rejected", "2026-03-03T10:00:00+08:00", "M3", "manager")]
    facts = _facts(_body("2026-03-04", events))
    assert facts["derived.case.pending.step"] == "resignation_approval"
    assert facts["derived.case.pending.requested_on"] == "2026-03-02"


# ---- who acts ------------------------------------------------------------------------------------------
def test_actor_facts():
    employee = {"id": "E1", "gender": "male", "department": "ENG"}
    events = _submitted("2026-03-02") + [_event("withdrawal_requested", "2026-03-03T09:00:00+08:00", "HR7", "hr")]
    facts = _facts(_body("2026-03-04", events, "approve_withdrawal", {"id": "HR7", "role": "hr"}, employee))
    assert facts["derived.actor.is_subject"] is False
    assert facts["derived.actor.requested_step"] is True               # HR7 filed the withdrawal
    assert "derived.actor.same_department" not in facts                  # the actor's department not given
    assert _unknown(_body("2026-03-04", events, "approve_withdrawal", {"id": "HR7", "role": "hr"}, employee),
                    "derived.actor.same_department") == ("action.actor.department",)
    facts = _facts(_body("2026-03-04", events, "approve_resignation",
                         {"id": "M9", "role": "manager", "department": "SALES"}, employee))
    assert facts["derived.actor.requested_step"] is False                # E1 submitted the resignation
    assert facts["derived.actor.same_department"] is False
    facts = _facts(_body("2026-03-04", None, "approve_resignation", {"id": "E1", "role": "manager"}, employee))
    assert facts["derived.actor.is_subject"] is True
    assert "derived.actor.requested_step" not in facts                   # no case: unknown
    assert _unknown(_body("2026-03-04", None, "approve_resignation", {"id": "E1", "role": "manager"}, employee),
                    "derived.actor.requested_step") == ("case.events",)


# ---- configuration is data -----------------------------------------------------------------------------
def _edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"text not found in {path.name}: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_changing_the_sla_from_2_to_3_working_days_is_a_data_edit(rules_copy):
    body = _body("2026-02-25", _submitted("2026-02-13"))
    assert _check(body).verdict == "warn"                                # due 02-24: a day late
    _edit(rules_copy / "process" / "config" / "sla.yaml",
          "  resignation_approval:\n    working_days: 2", "  resignation_approval:\n    working_days: 3")
    edited = load_rulebook(rules_copy)
    assert _facts(body, edited)["derived.case.pending.due_on"] == "2026-02-25"
    assert _check(body, edited).verdict == "allow"
    assert edited.version != _BOOK.version


def test_adding_a_make_up_working_day_is_a_data_edit(rules_copy):
    body = _body("2026-02-24", _submitted("2026-02-13"))
    assert _check(body).verdict == "allow"                               # due 02-24
    # Sat 21 Feb 2026 is a Spring Festival day off; HR corrects it to a make-up working day.
    calendar = rules_copy / "calendar" / "working_days.yaml"
    text = calendar.read_text(encoding="utf-8")
    start = text.index("\ncorrections:")
    calendar.write_text(text[:start] + "\ncorrections:\n  - {date: 2026-02-21, workday: true, note: test}\n",
                        encoding="utf-8")
    edited = load_rulebook(rules_copy)
    assert _facts(body, edited)["derived.case.pending.due_on"] == "2026-02-21"
    outcome = _check(body, edited)
    assert outcome.verdict == "warn" and outcome.findings[0]["rule_id"] == "process.sla.step-overdue"


def test_entering_a_missing_year_turns_the_warning_into_an_answer(rules_copy):
    body = _body("2026-12-31", _submitted("2026-12-30"))
    [finding] = _check(body).findings
    assert finding["rule_id"] == "process.sla.step-overdue" and finding["outcome"] == "unknown"
    _edit(rules_copy / "calendar" / "working_days.yaml",
          "    source: 国务院办公厅关于2027年部分节假日安排的通知 (fill in when published)\n    complete: false",
          "    source: test notice\n    complete: true")
    _edit(rules_copy / "calendar" / "working_days.yaml", "    holidays: []", "    holidays: [2027-01-01]")
    facts = _facts(body, load_rulebook(rules_copy))
    assert facts["derived.case.pending.due_on"] == "2027-01-04"
    assert "derived.case.pending.calendar_missing_year" not in facts


def test_changing_the_chain_is_a_data_edit(rules_copy):
    # Drop HR's acknowledgement: the manager's acceptance then completes the withdrawal.
    _edit(rules_copy / "process" / "config" / "approval_chains.yaml",
          "      - step: withdrawal_hr_acknowledgement\n        approver: hr\n"
          "        title: {zh: 人力资源部确认撤回, en: HR acknowledgement of the accepted withdrawal}\n", "")
    _edit(rules_copy / "process" / "config" / "sla.yaml",
          "  withdrawal_hr_acknowledgement:\n    working_days: 2\n    escalate_to: hr_admin\n", "")
    facts = _facts(_body("2026-02-10", _WITHDRAWN), load_rulebook(rules_copy))
    assert facts["derived.case.approvals.withdrawal_complete"] is True
    assert facts["derived.case.pending.step"] == "none"


@pytest.mark.parametrize("file, old, new, reason", [
    ("sla.yaml", "default:\n  working_days: 2", "default:\n  working_days: 0", "default.working_days"),
    ("sla.yaml", "default:\n  working_days: 2", "default:\n  working_days: '2'", "Not a valid integer"),
    ("sla.yaml", "    escalate_to: hr_admin", "    escalate_to: ceo", "'ceo' is not listed under escalation_targets"),
    ("sla.yaml", "  escalate_after_working_days: 1\n", "  escalate_after_working_days: 0\n",
     "default.escalate_after_working_days"),
    ("sla.yaml", "  escalate_after_working_days: 1\n", "",
     "default needs working_days, escalate_to and escalate_after_working_days"),
    ("sla.yaml", "  resignation_approval:\n", "  resignation_aproval:\n", "steps.resignation_aproval"),
    ("sla.yaml", "    working_days: 2\n    escalate_to: hr\n", "    working_days: 2\n    working_days: 3\n",
     "duplicate key 'working_days'"),
    ("approval_chains.yaml", "    roles: [hr, hr_admin]", "    roles: [hr, hradmin]", "approvers.hr.value.roles.1"),
    ("approval_chains.yaml", "        approver: hr\n", "        approver: legal\n", "'legal' is not listed under approvers"),
    ("approval_chains.yaml", "  withdrawal:\n    title", "  withdrawl:\n    title", "chains"),
    ("approval_chains.yaml", "      - step: withdrawal_decision", "      - step: resignation_approval",
     "used twice"),
])
def test_a_bad_process_config_refuses_to_load_naming_file_and_reason(rules_copy, file, old, new, reason):
    _edit(rules_copy / "process" / "config" / file, old, new)
    with pytest.raises(ProcessConfigError) as info:
        ProcessConfig.load(rules_copy / "process" / "config")
    assert info.value.path.endswith(file) and reason in info.value.reason, str(info.value)
    with pytest.raises(RuleLoadError) as info:
        load_rulebook(rules_copy)
    [problem] = info.value.problems
    assert problem.field == "ProcessConfigError" and file in problem.reason and reason in problem.reason


def test_the_sla_file_cites_known_policy_clauses(rules_copy):
    assert ProcessConfig.load(PROJECT_ROOT / "rules" / "process" / "config").references == ("POL-SLA-6.1", "POL-SLA-6.3")
    _edit(rules_copy / "process" / "config" / "sla.yaml", "references: [POL-SLA-6.1, POL-SLA-6.3]",
          "references: [POL-SLA-6.1, POL-SLA-6.9]")
    with pytest.raises(RuleLoadError) as info:
        load_rulebook(rules_copy)
    [problem] = info.value.problems
    assert problem.file == "process/config/sla.yaml" and "'POL-SLA-6.9'" in problem.reason


def test_the_escalation_days_default_and_per_step(rules_copy):
    config = rules_copy / "process" / "config"
    assert ProcessConfig.load(config).step("resignation_approval").sla.escalate_after_working_days == 1
    _edit(config / "sla.yaml", "  resignation_approval:\n", "  resignation_approval:\n    escalate_after_working_days: 3\n")
    edited = ProcessConfig.load(config)
    assert edited.step("resignation_approval").sla.escalate_after_working_days == 3
    assert edited.step("withdrawal_decision").sla.escalate_after_working_days == 1


def test_the_service_refuses_to_start_on_a_bad_process_config(rules_copy, tmp_path):
    (rules_copy / "process" / "config" / "sla.yaml").unlink()
    with pytest.raises(RuleLoadError, match="sla.yaml"):
        create_app({"TESTING": True, "RULES_DIR": str(rules_copy),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"})


def test_shipped_config():
    config = _BOOK.context.process
    assert [s.approver for s in config.chains["resignation"]] == ["manager"]
    assert [s.approver for s in config.chains["withdrawal"]] == ["manager", "hr"]
    assert all(s.sla.working_days == 2 for chain in config.chains.values() for s in chain)
