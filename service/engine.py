"""The only door to durable-rules.

The engine is C with no thread safety: one check is several C calls (assert, start action,
complete action per fired rule, delete state) and another caller slipping in between can
crash the process. So every call into it, from any engine instance, holds one process-wide
lock; we scale with processes, not threads. See the README's "The engine" section for the
other crash paths each line here avoids.
"""
from __future__ import annotations

import copy
import itertools
import threading
import durable.engine
import durable_rules_engine

GUARD = {"kind": "check"}
CATCH_ALL = "zz_catch_all"
# Rules default to pri 0; a larger number fires later. The catch-all fires last, so seeing
# it proves no action was skipped (the wrapper silently skips actions once its own clock
# says more than 10 s passed).
_CATCH_ALL_PRI = 1000

_LOCK = threading.Lock()
_NAMES = itertools.count(1)


class EngineError(RuntimeError):
    """The engine did not give a complete answer: the check must fail closed."""


class _QuietHost(durable.engine.Host):
    # Host._run starts Timer threads that call into the engine every 0.2 s, outside our
    # lock; synchronous assert_fact does not need them.
    def _run(self):
        pass


class RuleEngine:
    """One compiled durable-rules ruleset. Built once per rule-set version, never per request."""

    def __init__(self, conditions: dict[str, dict]):
        """`conditions` maps a rule key to its compiled durable-rules condition."""
        self.name = f"checks_{next(_NAMES)}"
        self._keys = list(conditions)
        self._fired: list[int] = []
        definition = {}
        for index, condition in enumerate(conditions.values()):
            definition[f"r{index}"] = {
                "all": [{"m": {"$and": [dict(GUARD), copy.deepcopy(condition)]}}],
                "run": self._collector(index),
            }
        definition[CATCH_ALL] = {
            "all": [{"m": dict(GUARD)}],
            "run": self._collector(-1),
            "pri": _CATCH_ALL_PRI,
        }
        self._sessions = itertools.count(1)
        with _LOCK:
            self._host = _QuietHost()
            self._host.register_rulesets({self.name: definition})

    def _collector(self, index: int):
        def run(c):
            self._fired.append(index)
        return run

    def fire(self, fact: dict) -> list[str]:
        """Assert one check fact in a fresh session; return the keys of every rule that matched."""
        with _LOCK:
            sid = str(next(self._sessions))
            self._fired = []
            try:
                self._host.assert_fact(self.name, {**fact, **GUARD, "sid": sid})
            except Exception as exc:  # the wrapper reports engine errors as plain exceptions
                raise EngineError(f"rule engine failed: {exc}") from exc
            finally:
                try:
                    self._host.delete_state(self.name, sid)
                except Exception as exc:
                    raise EngineError(f"rule engine could not drop session {sid}: {exc}") from exc
            fired = self._fired
        self._check_complete(fired)
        return [self._keys[i] for i in fired[:-1]]

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

