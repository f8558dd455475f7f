"""The only door to durable-rules.

The engine is C with no thread safety: one check is several C calls (assert, start action,
complete action per matched rule, delete state) and another caller slipping in between can
crash the process. So every call into it, from any engine instance, holds one process-wide
lock: a gthread worker's threads take turns, and CPU scales with processes. See the
"The engine" in docs/rules.md for the other crash paths each line here avoids.
"""
from __future__ import annotations

import copy
import itertools
import json
import threading
import durable.engine
import durable_rules_engine

GUARD = {"kind": "check"}
CATCH_ALL = "zz_catch_all"
# Rules default to pri 0; a larger number fires later. The catch-all fires last, so seeing
# it proves no action was skipped (the wrapper silently skips actions once its own clock
# says more than 10 s passed).
_CATCH_ALL_PRI = 1000

# The engine fails (error 303, "max stack size") when one fact reaches more than about 64 rule
# nodes at once; rules are therefore routed by action type and split into rulesets of CHUNK.
CHUNK = 32
ANY_ACTION = "*"

# durable-rules refuses a rule whose condition nests too many $and / $or (error 113,
# ERR_EXPRESSION_LIMIT_EXCEEDED: 32 expressions in a sequence): measured, 14 gates pass and 15
# fail. A condition that has a smaller equivalent is checked against this, with a margin.
MAX_GATES = 12

_LOCK = threading.Lock()
_NAMES = itertools.count(1)


def gates(condition) -> int:
    """How many $and / $or a condition nests (the engine's limit is on these, not on tests)."""
    if isinstance(condition, list):
        return sum(gates(c) for c in condition)
    if not isinstance(condition, dict):
        return 0
    return sum((key in ("$and", "$or")) + gates(value) for key, value in condition.items())


def _never_run(c):
    # Matches are read off the engine's action queue (_Ruleset.fire), never dispatched to actions.
    raise EngineError("the rule engine dispatched an action through its wrapper")


class EngineError(RuntimeError):
    """The engine did not give a complete answer: the check must fail closed."""


class _QuietHost(durable.engine.Host):
    # Host._run starts Timer threads that call into the engine every 0.2 s, outside our
    # lock; synchronous assert_fact does not need them.
    def _run(self):
        pass


class _Ruleset:
    """One durable-rules ruleset of at most CHUNK rules, with its catch-all.

    Registered through the wrapper's Host (which compiles the definition into the C engine), and
    fired by calling the C engine's own functions: assert the fact, then take each matched rule
    off its action queue until none is left. The wrapper's per-action loop (a Python closure,
    the session's state serialized, written back and the whole fact parsed again from JSON for
    every matched rule) cost ~17 us a match, and 60% of the engine's time on the benchmark mix
    (issue 23: 390 -> 150 us a fact). The actions change no state, so none is written back; a
    matched rule is named by its action's name, the first key of the message the engine hands
    out, which is checked against this ruleset's own names."""

    def __init__(self, conditions: dict[str, dict]):
        self.name = f"checks_{next(_NAMES)}"
        self._keys = list(conditions)
        definition = {}
        for index, condition in enumerate(conditions.values()):
            definition[f"r{index}"] = {
                "all": [{"m": {"$and": [dict(GUARD), copy.deepcopy(condition)]}}],
                "run": _never_run,
            }
        definition[CATCH_ALL] = {
            "all": [{"m": dict(GUARD)}],
            "run": _never_run,
            "pri": _CATCH_ALL_PRI,
        }
        # The action name each position fires as: r0, r1, ... and the catch-all as -1.
        self._positions = {f"r{index}": index for index in range(len(self._keys))}
        self._positions[CATCH_ALL] = -1
        self._sessions = itertools.count(1)
        with _LOCK:
            self._host = _QuietHost()
            self._host.register_rulesets({self.name: definition})
            self._handle = self._host._ruleset_directory[self.name]._handle

    def fire(self, fact: dict) -> list[str]:
        """Assert one check fact in a fresh session; return the keys of every rule that matched."""
        with _LOCK:
            sid = str(next(self._sessions))
            try:
                fired = self._matched(json.dumps({**fact, **GUARD, "sid": sid}, ensure_ascii=False))
            except EngineError:
                raise
            except Exception as exc:  # the C engine reports its errors as plain exceptions
                raise EngineError(f"rule engine failed: {exc}") from exc
            finally:
                try:
                    durable_rules_engine.delete_state(self._handle, sid)
                except Exception as exc:
                    raise EngineError(f"rule engine could not drop session {sid}: {exc}") from exc
        self._check_complete(fired)
        # A rule whose condition has `any:` alternatives fires once per alternative that holds.
        return list(dict.fromkeys(self._keys[i] for i in fired[:-1]))

    def _matched(self, fact_json: str) -> list[int]:
        """The positions of the rules the engine matched, in the order it fired them."""
        code, state = durable_rules_engine.assert_fact(self._handle, fact_json)
        if code not in (0, 3):  # as the wrapper reads it: 1 not handled, 2 already observed
            raise EngineError(f"rule engine refused the fact (code {code})")
        if code == 3:  # the wrapper's reading too: no state handle, 0
            state = 0
        started = durable_rules_engine.start_action_for_state(self._handle, state)
        message = started[1] if started else None
        fired = []
        while message:
            fired.append(self._position(message))
            message = durable_rules_engine.complete_and_start_action(self._handle, state)
        return fired

    def _position(self, message: str) -> int:
        # The engine writes each message as {"<action name>": {...}}: the name is its first key.
        name = message[2:message.find('"', 2)] if message.startswith('{"') else None
        if name not in self._positions:
            raise EngineError(f"rule engine named no rule of this ruleset: {message[:60]!r}")
        return self._positions[name]

    @staticmethod
    def _check_complete(fired: list[int]) -> None:
        if not fired or fired[-1] != -1 or fired.count(-1) != 1:
            raise EngineError("rule engine skipped actions: the catch-all rule did not fire last")

    def close(self) -> None:
        """Free the C ruleset (after a reload swapped in a new one)."""
        with _LOCK:
            ruleset = self._host._ruleset_directory.pop(self.name, None)
            if ruleset is not None:
                self._host._ruleset_list.remove(ruleset)
                durable_rules_engine.delete_ruleset(ruleset._handle)



class RuleEngine:
    """The compiled rule set: durable-rules rulesets routed by the fact's action type.

    Built once per rule-set version, never per request. Routing only picks which rulesets see a
    fact; each rule's own condition (its action scope included) is still decided by the engine.
    """

    def __init__(self, conditions: dict[str, dict], actions: dict[str, list[str]] | None = None):
        """`conditions`: rule key -> durable-rules condition; `actions`: rule key -> action types
        it applies to (None: every rule sees every fact)."""
        groups: dict[str, list[str]] = {}
        for key in conditions:
            for action in (actions[key] if actions is not None else [ANY_ACTION]):
                groups.setdefault(action, []).append(key)
        self._routes = {action: [_Ruleset({k: conditions[k] for k in keys[i:i + CHUNK]})
                                 for i in range(0, len(keys), CHUNK)]
                        for action, keys in groups.items()}
        self._routed = actions is not None
        self._empty = _Ruleset({})  # a fact whose action no rule names still goes through the engine

    def fire(self, fact: dict) -> list[str]:
        """Every rule that matched the fact, each once."""
        route = fact.get("action", {}).get("type") if self._routed else ANY_ACTION
        parts = self._routes.get(route) or [self._empty]
        return list(dict.fromkeys(key for part in parts for key in part.fire(fact)))

    def close(self) -> None:
        """Free the C rulesets (after a reload swapped in a new version)."""
        for parts in self._routes.values():
            for part in parts:
                part.close()
        self._empty.close()
