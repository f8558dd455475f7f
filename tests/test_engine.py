"""The engine wrapper: every match collected, sessions dropped, and no crash under threads."""
import threading

import pytest

from service.decide.conditions import compile_condition
from service.decide.engine import EngineError, RuleEngine
from tests.conftest import check_body


def test_every_matching_rule_fires_not_just_the_first():
    engine = RuleEngine({"a": {"employee.gender": "female"},
                         "b": {"action.type": "terminate_with_notice"},
                         "c": {"action.type": "terminate_for_cause"}})
    fired = engine.fire({"employee": {"gender": "female"}, "action": {"type": "terminate_with_notice"}})
    assert sorted(fired) == ["a", "b"]


def test_a_fact_that_matches_no_rule_is_safe_and_returns_nothing():
    engine = RuleEngine({"a": {"action.type": "terminate_for_cause"}})
    for _ in range(50):  # the engine used to crash on delete_state after a fact matching nothing
        assert engine.fire({"action": {"type": "edit_employee_record"}}) == []


def test_sessions_are_dropped_so_more_than_1024_checks_work():
    engine = RuleEngine({"a": {"action.type": "terminate_for_cause"}})
    for _ in range(1500):  # the engine allows at most 1,024 live sessions per ruleset
        assert engine.fire({"action": {"type": "terminate_for_cause"}}) == ["a"]


def test_matches_cut_short_fail_closed(monkeypatch):
    """The catch-all fires last: a check whose matches stop before it (the engine's action queue
    cut short) is refused, never answered with the matches seen so far; the session is dropped
    and the engine still answers the next check."""
    import durable_rules_engine

    engine = RuleEngine({"a": {"action.type": "terminate_for_cause"},
                         "b": {"action.type": "terminate_for_cause"}})
    monkeypatch.setattr(durable_rules_engine, "complete_and_start_action", lambda handle, state: None)
    with pytest.raises(EngineError, match="skipped"):
        engine.fire({"action": {"type": "terminate_for_cause"}})
    monkeypatch.undo()
    assert sorted(engine.fire({"action": {"type": "terminate_for_cause"}})) == ["a", "b"]


def test_a_match_naming_no_rule_of_the_ruleset_fails_closed(monkeypatch):
    """Matches are read off the engine's action queue by their action's name: a name that is not
    one of the ruleset's own is an engine error, not a rule skipped or a rule guessed."""
    import durable_rules_engine

    engine = RuleEngine({"a": {"action.type": "terminate_for_cause"}})
    real = durable_rules_engine.complete_and_start_action
    monkeypatch.setattr(durable_rules_engine, "complete_and_start_action",
                        lambda handle, state: real(handle, state) and '{"r7": {"m": {}}}')
    with pytest.raises(EngineError, match="named no rule"):
        engine.fire({"action": {"type": "terminate_for_cause"}})
    monkeypatch.undo()
    assert engine.fire({"action": {"type": "terminate_for_cause"}}) == ["a"]


def test_an_absent_fact_makes_a_condition_unknown_never_false(rulebook):
    """The definite match needs the fact; the possible match also holds while it is absent."""
    compiled = compile_condition({"employee.gender": "female", "any": [
        {"employee.pregnancy.status": "pregnant"}, {"derived.nursing_period.active": True}]}, rulebook.vocabulary)
    engine = RuleEngine({"definite": compiled.definite,
                         **{f"maybe{i}": c for i, c in enumerate(compiled.possible)}})
    female = {"gender": "female"}
    assert sorted(engine.fire({"employee": {**female, "pregnancy": {"status": "pregnant"}}})) == ["definite", "maybe0",
                                                                                                  "maybe1"]
    assert sorted(engine.fire({"employee": female})) == ["maybe0", "maybe1"]       # unknown: both may hold
    assert engine.fire({"employee": {**female, "pregnancy": {"status": "not_pregnant"}},
                        "derived": {"nursing_period": {"active": False}}}) == []   # false: ruled out
    assert engine.fire({"employee": {"gender": "male"}}) == []                      # false whatever is missing
    assert engine.fire({"employee": {"pregnancy": {"status": "not_pregnant"}}}) == ["maybe1"]


def test_a_possible_match_fires_only_where_its_alternative_is_unknown(rulebook):
    """Issue 23: an alternative whose facts are all given is true or false, and the definite match
    says which; the engine's possible match fires only while one of its facts is absent."""
    compiled = compile_condition({"employee.gender": "female", "any": [
        {"employee.pregnancy.status": "pregnant"}, {"derived.nursing_period.active": True}]}, rulebook.vocabulary)
    engine = RuleEngine({"definite": compiled.definite, **{f"maybe{i}": c for i, c in enumerate(compiled.unknown)}})
    female = {"gender": "female"}
    pregnant = {**female, "pregnancy": {"status": "pregnant"}}
    assert sorted(engine.fire({"employee": pregnant})) == ["definite", "maybe1"]  # nursing still unknown
    assert engine.fire({"employee": pregnant, "derived": {"nursing_period": {"active": True}}}) == ["definite"]
    assert engine.fire({"employee": pregnant, "derived": {"nursing_period": {"active": False}}}) == ["definite"]
    assert sorted(engine.fire({"employee": female})) == ["maybe0", "maybe1"]       # unknown: both may hold
    assert engine.fire({"employee": {"pregnancy": {"status": "not_pregnant"}}}) == ["maybe1"]
    assert engine.fire({"employee": {**female, "pregnancy": {"status": "not_pregnant"}},
                        "derived": {"nursing_period": {"active": False}}}) == []   # false: ruled out


def test_a_comparison_of_two_facts_is_unknown_while_either_is_absent(rulebook):
    """The restricted form with a test reading two facts: the other fact absent is unknown too."""
    compiled = compile_condition({"employee.gender": "female",
                                  "employee.contract.end_date": {"lt": {"fact": "employee.contract.probation_end"}}},
                                 rulebook.vocabulary)
    engine = RuleEngine({"definite": compiled.definite, "maybe0": compiled.unknown[0]})
    contract = {"end_date": "2026-03-01", "probation_end": "2026-04-01"}
    assert engine.fire({"employee": {"gender": "female", "contract": contract}}) == ["definite"]
    assert engine.fire({"employee": {"gender": "female", "contract": {**contract, "end_date": "2026-05-01"}}}) == []
    for absent in ("end_date", "probation_end"):
        given = {k: v for k, v in contract.items() if k != absent}
        assert engine.fire({"employee": {"gender": "female", "contract": given}}) == ["maybe0"], absent
        assert engine.fire({"employee": {"contract": given}}) == ["maybe0"], absent
    assert engine.fire({"employee": {"contract": contract}}) == ["maybe0"]           # gender unknown
    assert engine.fire({"employee": {"gender": "male"}}) == []                        # false whatever is missing


def test_an_alternative_reading_a_range_keeps_its_possible_match(rulebook):
    """A range may be unknown with both bounds given (3 to 12 years against 10): the possible match."""
    compiled = compile_condition({"derived.service.continuous_years": {"gte": 10}}, rulebook.vocabulary)
    assert compiled.unknown == compiled.possible
    engine = RuleEngine({"definite": compiled.definite, "maybe0": compiled.unknown[0]})
    service = {"continuous_years_min": 3, "continuous_years_max": 12}
    assert engine.fire({"derived": {"service": service}}) == ["maybe0"]


def test_the_engine_refuses_15_nested_gates_and_the_rule_book_stays_below_with_a_margin(rulebook):
    """durable-rules' limit (error 113) is on nested $and / $or: the restricted possible match is
    used only where it fits under MAX_GATES; elsewhere the possible match, as before."""
    from service.decide.engine import MAX_GATES, gates
    from service.decide.rulebook import POSSIBLE

    def nested(n):
        return {"$and": [{"$or": [{f"a{i}": i}, {f"b{i}": 1}]} for i in range(n)]}
    assert gates(nested(13)) == 14
    RuleEngine({"x": nested(13)}).close()
    with pytest.raises(Exception, match="113"):
        RuleEngine({"x": nested(14)})
    assert MAX_GATES < 14
    restricted = 0
    for rule in rulebook.rules.values():
        before = rule.engine_conditions(guarded=False)
        for key, condition in rule.engine_conditions().items():
            assert gates(condition) <= MAX_GATES or condition == before[key]
            restricted += POSSIBLE in key and condition != before[key]
    assert restricted > 0


def test_hammer_8_threads_x_200_checks_through_the_flask_app(sqlite_app):
    cases = [
        (check_body(), "deny"),
        (check_body(employee={"id": "E2", "gender": "male", "medical_treatment": {"status": "none"}}), "allow"),
        (check_body(employee={"id": "E3", "gender": "female", "children": [], "pregnancy": {"status": "unknown"},
                              "medical_treatment": {"status": "none"}}), "warn"),
        # Art. 42 does not bar an Art. 39 dismissal of a pregnant employee; it is a warning (FEM-5).
        (check_body(action={"type": "terminate_for_cause", "ground": "art39_2", "union_notified": True}), "warn"),
    ]
    errors: list[str] = []
    counts = [0] * 8

    def worker(index: int) -> None:
        client = sqlite_app.test_client()
        for n in range(200):
            body, expected = cases[(index + n) % len(cases)]
            response = client.post("/v1/checks", json=body)
            if response.status_code != 200 or response.get_json()["verdict"] != expected:
                errors.append(f"thread {index} check {n}: {response.status_code} {response.get_data(as_text=True)[:200]}")
            counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts == [200] * 8


def test_many_rules_on_one_action_do_not_overflow_the_engine():
    # One fact reaching ~64+ rule nodes at once failed with error 303 ("max stack size").
    conditions = {f"r{i}": {"$and": [{"action.type": "execute_offboarding"}, {"$gte": {"n": i}}]}
                  for i in range(150)}
    engine = RuleEngine(conditions, actions={k: ["execute_offboarding"] for k in conditions})
    fired = engine.fire({"action": {"type": "execute_offboarding"}, "n": 1000})
    assert sorted(fired) == sorted(conditions)
    assert engine.fire({"action": {"type": "edit_employee_record"}, "n": 1000}) == []


def test_a_rule_with_alternatives_is_reported_once():
    engine = RuleEngine({"either": {"$or": [{"a": 1}, {"b": 1}]}})
    assert engine.fire({"a": 1, "b": 1}) == ["either"]
