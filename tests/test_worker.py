"""The background worker: overdue reminders leave by themselves as signed Standard Webhooks,
escalation a working day later, a daily re-check of every open case, one active worker per
database, and its heartbeat in /readyz."""
import datetime as dt
import threading

import pytest
from freezegun import freeze_time
from standardwebhooks.webhooks import Webhook

from conftest import KNOWN_EMPLOYEE_FACTS, make_app
from service.tools import worker
from service.record.models import CaseRecheck
from test_ledger import _event
from test_notifications import SECRET, Receiver

CASE_ID = "SEP-2026-001"


def _notes(client, kind=None, case_id=CASE_ID):
    notes = client.get(f"/v1/notifications?case_id={case_id}").get_json()["notifications"]
    return [n for n in notes if kind is None or n["kind"] == kind]


def _submit(client):
    # Submitted Mon 5 Jan 2026: two working days, due Wed 7 Jan, overdue from Thu 8 Jan.
    answer = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                    form="written")
    assert answer.status_code == 201


def test_worker_once_on_a_frozen_date_sends_the_overdue_reminder_signed_to_the_webhook(app, client):
    _submit(client)
    with Receiver(failures=0) as receiver:
        app.config.update(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=SECRET)
        with freeze_time("2026-01-07T10:00:00+08:00"):  # the due day: nothing to say yet
            quiet = app.test_cli_runner().invoke(args=["worker", "--once"])
        assert quiet.exit_code == 0, quiet.output
        assert "sla_sweep: cases_checked=1 overdue_steps=0" in quiet.output
        assert not [h for h, body in receiver.received if b"step_overdue" in body]
        with freeze_time("2026-01-08T09:00:00+08:00"):  # the first day late, as of today in China
            result = app.test_cli_runner().invoke(args=["worker", "--once"])
            assert result.exit_code == 0, result.output
            assert "overdue_steps=1" in result.output and "delivered=" in result.output
            deliveries = [Webhook(SECRET).verify(body, headers) for headers, body in receiver.received]
    reminders = [d for d in deliveries if d["type"] == "separation.step_overdue"]
    assert len(reminders) == 1
    reminder = reminders[0]["data"]
    assert reminder["recipient"] == {"role": "manager", "id": "M3"}
    assert reminder["payload"]["due_on"] == "2026-01-07" and reminder["payload"]["working_days_late"] == 1
    message = reminder["payload"]["message"]
    assert "辞职申请审批" in message["zh"] and message["en"].startswith("The approval of the resignation is overdue")
    assert {n["status"] for n in _notes(client, kind="step_overdue")} == {"delivered"}


def test_the_escalation_target_hears_one_working_day_after_the_approver(app, client):
    _submit(client)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-08"]).exit_code == 0
    assert [(n["kind"], n["recipient_role"]) for n in _notes(client) if n["kind"].startswith("step_")] == \
        [("step_overdue", "manager")]
    # Fri 9 Jan: two working days late; sla.yaml names HR as the resignation approval's escalation.
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-09"]).exit_code == 0
    steps = [n for n in _notes(client) if n["kind"].startswith("step_")]
    assert [(n["kind"], n["recipient_role"], n["recipient_id"]) for n in steps] == \
        [("step_overdue", "manager", "M3"), ("step_escalated", "hr", "HR7")]
    assert steps[1]["payload"]["working_days_late"] == 2
    assert steps[1]["payload"]["message"]["en"].startswith("Escalation: the approval of the resignation of "
                                                            "separation case SEP-2026-001 is 2 working days late")
    assert "上报" in steps[1]["payload"]["message"]["zh"] and "直属经理" in steps[1]["payload"]["message"]["zh"]
    assert "was reminded on 2026-01-08 and has not acted" in steps[1]["payload"]["message"]["en"]
    assert "已于2026-01-08提醒待审批人" in steps[1]["payload"]["message"]["zh"]
    # The re-check adds nothing: the step is late, which the approver and HR have each been told once.
    assert _notes(client, kind="recheck_changed") == []
    # Once per step and deadline: the next days add nothing.
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-12"]).exit_code == 0
    assert len([n for n in _notes(client) if n["kind"].startswith("step_")]) == 2


def test_the_daily_recheck_tells_hr_when_an_employee_in_offboarding_is_now_recorded_pregnant(app, client):
    employee = {**KNOWN_EMPLOYEE_FACTS, "id": "E2002", "gender": "female", "pregnancy": {"status": "not_pregnant"},
                "children": [],
                "contract": {"type": "fixed_term", "end_date": "2026-01-20", "in_probation": False,
                             "consecutive_fixed_terms": 1}}
    started = client.post("/v1/cases/NR-1/events", json={
        "client_key": "nr-1", "case": {"kind": "non_renewal", "hr_owner_id": "HR7"}, "employee": employee,
        "event": {"type": "offboarding_started", "at": "2026-01-20T09:00:00+08:00", "actor": {"id": "HR7", "role": "hr"}}})
    assert started.status_code == 201 and started.get_json()["case"]["status"] == "offboarding"
    runner = app.test_cli_runner()
    assert "verdicts_changed=0" in runner.invoke(args=["worker", "--once", "--as-of", "2026-01-21"]).output
    # The EHR records the pregnancy with a check naming the case; nobody thinks of the offboarding.
    told = client.post("/v1/checks", json={"as_of": "2026-01-22", "case_id": "NR-1",
                                           "employee": {**employee, "pregnancy": {"status": "pregnant"}},
                                           "action": {"type": "edit_employee_record", "actor": {"id": "HR9", "role": "hr"}}})
    assert told.status_code == 200
    output = runner.invoke(args=["worker", "--once", "--as-of", "2026-01-22"]).output
    assert "verdicts_changed=1" in output, output
    [note] = _notes(client, "recheck_changed", case_id="NR-1")
    assert note["recipient_role"] == "hr" and note["recipient_id"] == "HR7"
    payload = note["payload"]
    assert payload["next_step"] == "execute_offboarding" and payload["to_verdict"] == "deny"
    assert "lcl-42-4.protected-period" in payload["rule_ids"]
    assert "离职办理中" in payload["message"]["zh"] and "“Deny”" in payload["message"]["en"]
    assert "offboarding" not in payload["message"]["en"].split("(")[1].split(")")[0].split()  # a status in words
    # Unchanged the day after: no second notification.
    assert "verdicts_changed=0" in runner.invoke(args=["worker", "--once", "--as-of", "2026-01-23"]).output


def test_a_withdrawal_left_pending_is_the_sweeps_to_tell_and_a_closed_cases_facts_are_forgotten(app, client):
    _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee", form="written")
    _event(client, "k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager")
    _event(client, "k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee", form="verbal")
    runner = app.test_cli_runner()
    assert "verdicts_changed=0" in runner.invoke(args=["worker", "--once", "--as-of", "2026-01-09"]).output
    # Due Mon 12 Jan; on Tue 13 Jan the manager's decision on the withdrawal is overdue: the
    # re-check's verdict is now a warn, for that alone, and the sweep has reminded the manager.
    output = runner.invoke(args=["worker", "--once", "--as-of", "2026-01-13"]).output
    assert "notifications_created=1" in output.split("sla_sweep:")[1].splitlines()[0], output
    assert "verdicts_changed=0" in output, output
    assert [(n["kind"], n["recipient_role"]) for n in _notes(client) if n["kind"] != "status_changed"] == \
        [("step_overdue", "manager")]
    with app.extensions["db_sessions"]() as session:
        row = session.get(CaseRecheck, ("default", CASE_ID))
        assert (row.next_step, row.verdict) == ("approve_withdrawal", "warn")  # known, so not told again
        kept = app.extensions["recheck_keys"].open(CASE_ID, row.key_id, row.employee_sealed)
        assert kept["pregnancy"] == {"status": "not_pregnant"}
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-14"]).exit_code == 0
    assert [(n["kind"], n["recipient_role"]) for n in _notes(client) if n["kind"] != "status_changed"] == \
        [("step_overdue", "manager"), ("step_escalated", "hr")]
    _event(client, "k4", "withdrawal_rejected", "2026-01-14T10:00:00+08:00", "M3", "manager")
    _event(client, "k5", "offboarding_started", "2026-01-14T11:00:00+08:00", "HR7", "hr")
    _event(client, "k6", "offboarding_completed", "2026-01-15T10:00:00+08:00", "HR7", "hr")
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-16"]).exit_code == 0
    with app.extensions["db_sessions"]() as session:
        assert session.get(CaseRecheck, ("default", CASE_ID)) is None  # closed: the row and its health facts are gone


def test_the_recheck_message_names_the_status_and_step_in_words(app):
    from service.record.notifications import recheck_message
    message = recheck_message(app.extensions["rulebook"].names, "C1", "approve_withdrawal", "allow", "warn",
                              "withdrawal_pending")
    assert "撤回待决" in message["zh"] and "“允许”" in message["zh"] and "“警示”" in message["zh"]
    assert "Withdrawal pending" in message["en"] and "withdrawal_pending" not in message["en"]
    assert "approve_withdrawal" not in message["en"] + message["zh"]


def test_a_daily_task_runs_once_a_day_and_the_minute_tasks_by_their_interval(app, client):
    _submit(client)
    ran = []
    tasks = [worker.Task("every_minute", lambda ctx: ran.append("minute") or {}, every=dt.timedelta(minutes=1)),
             worker.Task("daily", lambda ctx: ran.append(("daily", ctx.as_of.isoformat())) or {}, daily=True)]
    for moment in ("2026-01-08T09:00:00+08:00", "2026-01-08T09:00:30+08:00", "2026-01-08T09:01:00+08:00",
                   "2026-01-09T00:00:01+08:00"):
        with freeze_time(moment):
            worker.run_pass(app, "test", tasks=tasks)
    assert ran == ["minute", ("daily", "2026-01-08"), "minute", "minute", ("daily", "2026-01-09")]


def test_a_failing_task_is_recorded_and_the_others_still_run(app, client):
    def broken(ctx):
        raise RuntimeError("boom")
    results = worker.run_pass(app, "test", force=True, tasks=[
        worker.Task("broken", broken, every=dt.timedelta(seconds=1)),
        worker.Task("fine", lambda ctx: {"ok": 1}, every=dt.timedelta(seconds=1))])
    assert results == {"broken": {"error": "RuntimeError"}, "fine": {"ok": 1}}
    status = client.get("/readyz").get_json()["worker"]
    assert status["tasks"]["broken"]["error"].startswith("RuntimeError")


def test_one_worker_is_active_per_database_and_another_takes_over_when_it_stops(app):
    first, second = worker.WorkerLock(app, "host-a:1"), worker.WorkerLock(app, "host-b:2")
    assert first.hold() and first.hold()       # taken, then kept
    assert not second.hold()                   # the other waits
    assert worker.run_once(app, holder="host-c:3") is None  # a one-off pass defers too
    first.release()
    assert second.hold() and not first.hold()
    second.release()


def test_on_sqlite_a_dead_workers_lease_runs_out(tmp_path):
    from conftest import make_app
    app = make_app(f"sqlite:///{tmp_path / 'lease.sqlite'}")
    try:
        with freeze_time("2026-01-08T09:00:00Z") as clock:
            dead, alive = worker.WorkerLock(app, "host-a:1"), worker.WorkerLock(app, "host-b:2")
            assert dead.hold() and not alive.hold()
            clock.tick(worker.LEASE.total_seconds() - 1)
            assert not alive.hold()
            clock.tick(2)                          # host-a never renewed: gone
            assert alive.hold()
    finally:
        app.extensions["db_engine"].dispose()


def test_readyz_reports_the_workers_heartbeat_from_the_database(app, client):
    anonymous = app.test_client()
    anonymous.environ_base.pop("HTTP_AUTHORIZATION")
    assert anonymous.get("/readyz").get_json()["worker"]["status"] == "never seen"
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(app,),
                              kwargs={"stop": stop, "holder": "host-a:1", "tick": 0.05})
    thread.start()
    try:
        for _ in range(200):
            status = anonymous.get("/readyz").get_json()["worker"]
            if status["status"] == "ok":
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert status["status"] == "ok" and status["holder"] == "host-a:1"
    assert status["seconds_since_heartbeat"] < 60 and "sla_sweep" in status["tasks"]
    # Stopped, its lock is free at once for the next worker.
    assert worker.WorkerLock(app, "host-b:2").hold()
    with freeze_time(dt.datetime.now(dt.timezone.utc) + worker.STALE_AFTER + dt.timedelta(seconds=5)):
        assert anonymous.get("/readyz").get_json()["worker"]["status"] == "stale"


def test_worker_as_of_needs_once_and_a_valid_date(app):
    runner = app.test_cli_runner()
    assert "--as-of needs --once" in runner.invoke(args=["worker", "--as-of", "2026-01-08"]).output
    bad = runner.invoke(args=["worker", "--once", "--as-of", "2026-13-01"])
    assert bad.exit_code != 0 and "--as-of" in bad.output


@pytest.mark.postgres
def test_on_postgresql_two_worker_processes_never_both_hold_the_lock(postgres_url):
    """The advisory lock is the server's: a second process (not a thread) is refused."""
    import subprocess
    import sys

    from conftest import make_app, reset_postgres_schema
    reset_postgres_schema(postgres_url)
    app = make_app(postgres_url)
    try:
        lock = worker.WorkerLock(app, "host-a:1")
        assert lock.hold()
        probe = ("import sys; sys.path[:0] = ['tests', '.']\n"
                 "from conftest import make_app\nfrom service.tools.worker import WorkerLock\n"
                 f"app = make_app({postgres_url!r})\n"
                 "print(WorkerLock(app, 'host-b:2').hold())\n")
        held = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert held.stdout.strip().splitlines()[-1] == "False", held.stderr
        lock.release()
        free = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert free.stdout.strip().splitlines()[-1] == "True", free.stderr
    finally:
        app.extensions["db_engine"].dispose()


def test_answers_give_every_date_time_in_utc_whatever_offset_was_sent(client):
    posted = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                    form="written").get_json()
    assert posted["event"]["at"] == "2026-01-05T01:00:00+00:00"
    case = client.get(f"/v1/cases/{CASE_ID}").get_json()
    assert case["events"][0]["at"] == posted["event"]["at"]
    assert case["events"][0]["recorded_at"] == posted["event"]["recorded_at"]
    assert posted["event"]["recorded_at"].endswith("+00:00")
    replay = _event(client, "k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee",
                    form="written").get_json()
    assert replay["event"]["at"] == posted["event"]["at"]
    [entry] = client.get("/v1/trail?kind=case_event").get_json()["entries"]
    assert entry["body"]["event"]["at"] == "2026-01-05T01:00:00+00:00" and entry["recorded_at"].endswith("+00:00")
    [note] = client.get(f"/v1/notifications?case_id={CASE_ID}&kind=status_changed").get_json()["notifications"]
    assert note["created_at"].endswith("+00:00")


def test_the_worker_rebuilds_the_rules_only_when_their_files_change(rules_copy, tmp_path):
    # The gate runs every example and fixture (about half a second of CPU): a watcher that
    # mistook unchanged files for a change rebuilt the rule set every 5 seconds.
    from conftest import make_app
    app = make_app(f"sqlite:///{tmp_path / 'watch.sqlite'}", RULES_DIR=str(rules_copy), RULES_WATCH_SECONDS=5)
    serving = app.extensions["rulebook"]
    watch = [t for t in worker.TASKS if t.name == "rules_watch"]
    for _ in range(2):
        assert worker.run_pass(app, "test", force=True, tasks=watch) == {"rules_watch": {"reloaded": False}}
    assert app.extensions["rulebook"] is serving
    path = rules_copy / "labor_law" / "lcl_42_4_pregnancy_maternity_nursing.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "Going ahead is an unlawful termination", "Going ahead would be an unlawful termination"), encoding="utf-8")
    assert worker.run_pass(app, "test", force=True, tasks=watch) == {"rules_watch": {"reloaded": True}}
    assert app.extensions["rulebook"].version != serving.version
    assert worker.run_pass(app, "test", force=True, tasks=watch) == {"rules_watch": {"reloaded": False}}
    app.extensions["db_engine"].dispose()


def test_the_working_days_before_escalation_are_read_from_sla_yaml(rules_copy, tmp_path):
    # POL-SLA-6.3: HR gives the approver two working days after the first late day instead of one.
    sla = rules_copy / "process" / "config" / "sla.yaml"
    text = sla.read_text(encoding="utf-8")
    assert "  escalate_after_working_days: 1\n" in text
    sla.write_text(text.replace("  escalate_after_working_days: 1\n", "  escalate_after_working_days: 2\n"),
                   encoding="utf-8")
    app = make_app(f"sqlite:///{tmp_path / 'sla.sqlite'}", RULES_DIR=str(rules_copy))
    try:
        client, runner = app.test_client(), app.test_cli_runner()
        _submit(client)
        for as_of in ("2026-01-08", "2026-01-09"):  # one and two working days late: the reminder only
            assert runner.invoke(args=["worker", "--once", "--as-of", as_of]).exit_code == 0
            assert [n["kind"] for n in _notes(client) if n["kind"].startswith("step_")] == ["step_overdue"]
        assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-12"]).exit_code == 0  # Mon: three
        steps = [n for n in _notes(client) if n["kind"].startswith("step_")]
        assert [(n["kind"], n["recipient_role"]) for n in steps] == [("step_overdue", "manager"), ("step_escalated", "hr")]
        assert steps[1]["payload"]["working_days_late"] == 3
    finally:
        app.extensions["db_engine"].dispose()


def test_a_step_first_found_two_working_days_late_reminds_first_and_escalates_a_working_day_later(app, client):
    # The worker was down on the first late day: the approver still gets a working day to act on
    # the reminder, and the escalation then names the day they were reminded.
    _submit(client)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-09"]).exit_code == 0
    assert [(n["kind"], n["recipient_role"]) for n in _notes(client) if n["kind"] != "status_changed"] == \
        [("step_overdue", "manager")]
    # Mon 12 Jan, the next working day (the weekend does not count).
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-11"]).exit_code == 0
    assert not _notes(client, kind="step_escalated")
    assert runner.invoke(args=["worker", "--once", "--as-of", "2026-01-12"]).exit_code == 0
    [escalation] = _notes(client, kind="step_escalated")
    assert escalation["recipient_role"] == "hr" and escalation["payload"]["working_days_late"] == 3
    message = escalation["payload"]["message"]
    assert "the pending approver (the line manager) was reminded on 2026-01-09 and has not acted" in message["en"]
    assert "已于2026-01-09提醒待审批人（直属经理）但仍未处理" in message["zh"]
    assert [n["kind"] for n in _notes(client) if n["kind"] != "status_changed"] == ["step_overdue", "step_escalated"]


def test_worker_once_delivers_the_recheck_notifications_it_queued_in_the_same_pass(app, client):
    employee = {**KNOWN_EMPLOYEE_FACTS, "id": "E2002", "gender": "female", "pregnancy": {"status": "not_pregnant"},
                "children": [],
                "contract": {"type": "fixed_term", "end_date": "2026-01-20", "in_probation": False,
                             "consecutive_fixed_terms": 1}}
    with freeze_time("2026-01-20T10:00:00+08:00"):
        assert client.post("/v1/cases/NR-1/events", json={
            "client_key": "nr-1", "case": {"kind": "non_renewal", "hr_owner_id": "HR7"}, "employee": employee,
            "event": {"type": "offboarding_started", "at": "2026-01-20T09:00:00+08:00",
                      "actor": {"id": "HR7", "role": "hr"}}}).status_code == 201
        assert client.post("/v1/checks", json={
            "as_of": "2026-01-20", "case_id": "NR-1", "employee": {**employee, "pregnancy": {"status": "pregnant"}},
            "action": {"type": "edit_employee_record", "actor": {"id": "HR9", "role": "hr"}}}).status_code == 200
    with Receiver(failures=0) as receiver:
        app.config.update(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=SECRET)
        with freeze_time("2026-01-21T09:00:00+08:00"):
            result = app.test_cli_runner().invoke(args=["worker", "--once"])
            delivered = [Webhook(SECRET).verify(body, headers) for headers, body in receiver.received]
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "verdicts_changed=1" in result.output, result.output
    assert lines[-1].startswith("deliver_notifications:"), result.output  # the last step of the pass
    [note] = _notes(client, kind="recheck_changed", case_id="NR-1")
    assert note["status"] == "delivered" and note["payload"]["to_verdict"] == "deny"
    assert "separation.recheck_changed" in [d["type"] for d in delivered]
    # Everything due when the pass started left in it: the status change queued the day before too.
    assert [(n["kind"], n["status"]) for n in _notes(client, case_id="NR-1")] == \
        [("status_changed", "delivered"), ("recheck_changed", "delivered")]


class _OneRound(threading.Event):
    """A sealing loop's stop event that ends the loop at its first pause."""

    def wait(self, timeout=None):
        self.set()
        return True


def _queued(app) -> int:
    from sqlalchemy import func, select
    from service.record.models import TrailPending
    with app.extensions["db_read_sessions"]() as session:
        return session.scalar(select(func.count()).select_from(TrailPending))


def test_a_web_process_seals_only_while_no_worker_seals(app, client):
    """Issue 23: one sealer in the worker's process, not a thread in every web worker; without a
    worker (gunicorn alone) the web process still seals, and it takes over when the worker stops."""
    from service.flows import sealing
    from service.record.worker_state import WORKER_SEALS_WITHIN
    check = {"as_of": "2026-02-10", "employee": {"id": "E1001"},
             "action": {"type": "terminate_with_notice", "actor": {"id": "HR7", "role": "hr"}}}
    with freeze_time("2026-02-10T09:00:00Z") as clock:
        sealing.seal_pending(app)                       # the rule set's version entry
        assert client.post("/v1/checks", json=check).status_code == 200
        assert _queued(app) == 1
        worker.run_pass(app, "host-a:1", force=True, tasks=[t for t in worker.TASKS if t.name == "seal_trail"])
        assert _queued(app) == 0                        # the worker sealed, and beat
        assert client.post("/v1/checks", json=check).status_code == 200
        sealing.run(app, stop=_OneRound(), defer_to_worker=True)
        assert _queued(app) == 1                        # left to the worker
        sealing.run(app, stop=_OneRound())              # `trail seal --loop` never defers
        assert _queued(app) == 0
        assert client.post("/v1/checks", json=check).status_code == 200
        clock.tick(WORKER_SEALS_WITHIN.total_seconds() + 1)  # the worker stopped beating
        sealing.run(app, stop=_OneRound(), defer_to_worker=True)
        assert _queued(app) == 0


def test_a_worker_whose_sealing_fails_is_not_left_to_seal(app):
    from service.record.worker_state import sealing_worker

    def broken(ctx):
        raise RuntimeError("no checkpoint key")
    now = dt.datetime(2026, 2, 10, 9, tzinfo=dt.timezone.utc)
    with freeze_time(now):
        worker.run_pass(app, "host-a:1", force=True, tasks=[worker.Task("seal_trail", broken, every=dt.timedelta(1))])
        with app.extensions["db_read_sessions"]() as session:
            assert not sealing_worker(session, now)
        worker.run_pass(app, "host-a:1", force=True,
                        tasks=[worker.Task("seal_trail", lambda ctx: {"sealed": 0}, every=dt.timedelta(1))])
        with app.extensions["db_read_sessions"]() as session:
            assert sealing_worker(session, now)
            assert not sealing_worker(session, now + dt.timedelta(seconds=16))
