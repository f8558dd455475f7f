"""How a rule set goes live: at start-up, by hot reload (watcher or endpoint), never broken.

A candidate rule book is loaded, validated and compiled completely, then gated (every rule
example and every fixture case, FIXTURES_DIR, default: `fixtures/` beside the rules folder:
service/decide/gate.py). Only a candidate that loads and passes all of them goes live, by
replacing one reference. A check holds the rule book it started with, so in-flight checks finish
on their version. A refused candidate never replaces the good set: the problems or failing cases
are returned, logged and written to the trail, and the old version keeps serving. At start-up
there is no old set: the service refuses to start (a command-line app starts without one).

Each gunicorn worker holds its own rule book: the endpoint (service/http/admin_api.py) reloads
the worker that answers it, and every worker also notices a change of the rule files or the
fixtures within RULES_WATCH_SECONDS (content hashes, checked between requests) and reloads by
itself; the background worker too (service/tools/worker.py).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from service.clock import utcnow
from service.config import fixtures_dir
from service.decide.gate import RuleSetRefused, fixtures_version, gate, passed
from service.decide.rulebook import RuleBook, RuleLoadError, content_version, load_rulebook
from service.record.rulesets import record_ruleset
from service.record.trail import append
from service.decide.problem_lines import place_problems
from service.flows import packs_live

# Old engines are freed one reload later: by then no check can still be using them.
_RETIRED: list[RuleBook] = []
_RELOAD_LOCK = threading.Lock()


def serving(app: Flask) -> RuleBook | None:
    """The rule book serving now, for a read that decides nothing (the pages, statute texts, what an
    action needs, a decision rendered again; a check or an event takes it in its own flow). Take it
    once per request: a reload replaces it for the next. None: a command-line app started without
    one (create_app for_commands)."""
    return app.extensions["rulebook"]


def build_rule_set(app: Flask) -> RuleBook:
    """The rule book for RULES_DIR, gated. Raises RuleLoadError or RuleSetRefused (engine closed)."""
    candidate = load_rulebook(Path(app.config["RULES_DIR"]))
    started = time.perf_counter()
    result = passed(candidate, lambda book: gate(book, fixtures_dir(app.config), app.logger))
    app.logger.debug("rule set %s passed its gate: %d example(s) and fixture case(s) in %.2f s",
                    candidate.version, result.cases_run, time.perf_counter() - started)
    return candidate


# ---- reload ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    """The last candidate this process refused, while the previous set serves (/readyz says so)."""
    candidate: str
    why: str                 # "does not load" or "fails its examples or fixtures"
    count: int               # problems (does not load) or failing cases
    at: dt.datetime

    def summary(self, serving: str) -> str:
        what = "problem(s)" if self.why == "does not load" else "failing case(s)"
        return f"serving {_short(serving)}; candidate {_short(self.candidate)} refused ({self.count} {what})"

    def as_dict(self, serving: str) -> dict:
        return {"candidate": self.candidate, "why": self.why, "count": self.count,
                "refused_at": self.at.isoformat(), "summary": self.summary(serving)}


def _short(version: str) -> str:
    """sha256: and the first 12 hex digits: enough to tell versions apart in a sentence."""
    scheme, _, digest = version.partition(":")
    return f"{scheme}:{digest[:12]}" if digest else version


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str            # the version serving after the attempt
    previous: str
    problems: list[str]
    failing_cases: list[str] = field(default_factory=list)   # set when the gate refused the candidate
    candidate: str | None = None                              # the refused candidate's version
    errors: list[dict] = field(default_factory=list)          # the problems as the error shape's errors


def reload_rules(app: Flask, reason: str) -> ReloadResult:
    with _RELOAD_LOCK:
        current: RuleBook = app.extensions["rulebook"]
        on_disk = _watched_versions(app)
        try:
            new = build_rule_set(app)
        except RuleLoadError as exc:
            placed = place_problems(Path(app.config["RULES_DIR"]), exc.problems)
            problems = [str(p) for p in placed]
            app.logger.error("rule reload refused (%s): candidate %s does not load, %d problem(s): %s; "
                             "still serving %s", reason, on_disk[0], len(problems), "; ".join(problems),
                             current.version)
            _record(app, current.version, {"rejected": True, "reason": reason, "candidate_version": on_disk[0],
                                           "problems": problems, "still_serving": current.version})
            app.extensions["rules_checked_version"] = on_disk
            app.extensions["candidate_refused"] = Refusal(on_disk[0], "does not load", len(problems), utcnow())
            return ReloadResult(False, current.version, current.version, problems,
                                errors=[{"path": p.where, "reason": p.what} for p in placed])
        except RuleSetRefused as exc:
            failing = exc.result.failing
            app.logger.error("rule reload refused (%s): candidate %s fails %d of %d example(s) and fixture "
                             "case(s): %s; still serving %s", reason, exc.version, len(failing),
                             exc.result.cases_run, ", ".join(f.case for f in failing), current.version)
            app.extensions["candidate_refused"] = Refusal(exc.version, "fails its examples or fixtures", len(failing),
                                                      utcnow())
            _record(app, current.version, {
                "rejected": True, "reason": reason, "candidate_version": exc.version,
                "failing_cases": [{"case": f.case, "problems": list(f.problems)} for f in failing],
                "cases_run": exc.result.cases_run, "fixtures_run": exc.result.fixtures is not None,
                "problems": [str(f) for f in failing], "still_serving": current.version})
            app.extensions["rules_checked_version"] = on_disk
            return ReloadResult(False, current.version, current.version, [str(f) for f in failing],
                                [f.case for f in failing], exc.version,
                                [{"path": f.case, "reason": "; ".join(f.problems)} for f in failing])
        app.extensions["rulebook"] = new
        app.extensions["rules_checked_version"] = (new.version, on_disk[1])
        app.extensions["candidate_refused"] = None
        packs_live.reload_all(app, reason)  # every pack on the new statutes; a refused one keeps its old
        in_use = packs_live.engines_in_use(app)  # the statutes' engine under a pack still serving
        for old in _RETIRED:
            if id(old.engine) not in in_use:
                old.engine.close()
        _RETIRED[:] = [current] + [old for old in _RETIRED if id(old.engine) in in_use]
        if new.version != current.version:
            record_version(app, new, previous=current.version, reason=reason)  # once, whichever worker is first
        if new.version == current.version:  # the fixtures changed: the same rules passed them again
            app.logger.info("rules re-checked (%s): %s passes its gate again", reason, new.version)
        else:
            app.logger.info("rules reloaded (%s): %s -> %s", reason, current.version, new.version)
        return ReloadResult(True, new.version, current.version, [])


def _watched_versions(app: Flask) -> tuple[str, str | None]:
    """What the gate's outcome depends on: the rule files and the fixtures."""
    return content_version(Path(app.config["RULES_DIR"])), fixtures_version(fixtures_dir(app.config))


def changed_on_disk(app: Flask) -> bool:
    """Whether the rule files or fixtures differ from what was last built (served or refused)."""
    return _watched_versions(app) != app.extensions["rules_checked_version"]


def _record(app: Flask, version: str, body: dict) -> None:
    with app.extensions["db_sessions"]() as session, session.begin():
        append(session, kind="ruleset_change", recorded_at=utcnow(), ruleset_version=version, body=body,
               key=app.extensions["trail_key"])


def load_at_start(app: Flask, *, for_commands: bool = False) -> None:
    """The rule set the app starts on. A bad rule file, or a rule set failing one of its examples
    or fixture cases, stops the start-up here: never serve a half-loaded or untested rule set. A
    command-line app (for_commands) starts without one, keeping why in rules_refused."""
    app.extensions["rules_refused"] = None
    try:
        app.extensions["rulebook"] = build_rule_set(app)
    except (RuleLoadError, RuleSetRefused) as exc:
        if not for_commands:
            app.logger.critical("%s", exc)
            raise
        app.extensions["rulebook"], app.extensions["rules_refused"] = None, exc


def init_app(app: Flask) -> None:
    """Watch the rule files between requests, and write the serving version's trail entry (once
    per version, whichever worker is first; not where the schema is migrated by hand)."""
    if app.extensions["rulebook"] is None:
        return  # a command-line app without a rule set (create_app for_commands) watches nothing
    app.extensions["rules_checked_version"] = (app.extensions["rulebook"].version,
                                               fixtures_version(fixtures_dir(app.config)))
    app.extensions["candidate_refused"] = None
    app.extensions["rules_checked_at"] = time.monotonic()
    interval = float(app.config["RULES_WATCH_SECONDS"])
    if interval > 0:
        @app.before_request
        def _watch_rules():
            now = time.monotonic()
            if now - app.extensions["rules_checked_at"] < interval:
                return
            app.extensions["rules_checked_at"] = now
            if changed_on_disk(app):
                reload_rules(app, "rule files or fixtures changed on disk")
            else:
                packs_live.reload_changed(app, "pack files changed on disk")
    if app.config.get("AUTO_MIGRATE", True):
        record_version(app)


def record_version(app: Flask, rulebook: RuleBook | None = None, *, previous: str | None = None,
                   reason: str = "start-up") -> bool:
    """The rule set's version entry in the trail (the serving one by default), written once per
    version by whichever worker is first; True when this call wrote it."""
    if app.extensions.get("trail_key") is None:  # production without its key: it will not start
        return False
    with app.extensions["db_sessions"]() as session, session.begin():
        return record_ruleset(session, app.extensions["trail_key"], rulebook or app.extensions["rulebook"],
                              utcnow(), previous=previous, reason=reason)
