"""How a rule set goes live: at start-up, by hot reload (watcher or endpoint), never broken.

A candidate rule book is loaded, validated and compiled completely, then gated: every rule
example and every fixture case (FIXTURES_DIR, default: `fixtures/` beside the rules folder) is
run against it with the runner of `rules test` and `scenarios run` (service/tools/scenarios.py, no
database: a story's `record:` events build its case in memory). Only a candidate that loads and
passes all of them goes live, by replacing one reference. A check holds the rule book it started
with, so in-flight checks finish on their version. A refused candidate never replaces the good
set: the problems or failing cases are returned, logged and written to the trail, and the old
version keeps serving. At start-up there is no old set: the service refuses to start.

Each gunicorn worker holds its own rule book: the endpoint reloads the worker that answers
it, and every worker also notices a change of the rule files or the fixtures within
RULES_WATCH_SECONDS (content hashes, checked between requests) and reloads by itself.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from http import HTTPStatus
import time
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import LRUCache
from flask import Flask, current_app, jsonify
from flask.views import MethodView
from marshmallow import Schema, fields

from schemas.errors import FieldErrorSchema
from service.http.api import Blueprint
from service.clock import utcnow
from service.decide.rulebook import RuleBook, RuleLoadError, content_version, load_rulebook
from service.record.rulesets import record_ruleset
from service.tools.lint import place_problems
from service.tools.scenarios import run_scenarios
from service.record.trail import append

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Administration")

# Old engines are freed one reload later: by then no check can still be using them.
_RETIRED: list[RuleBook] = []
_RELOAD_LOCK = threading.Lock()


# ---- the gate -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FailingCase:
    case: str                # file::rule::example, or fixture file::case (step n)
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.case}: {'; '.join(self.problems)}"


@dataclass(frozen=True)
class GateResult:
    cases_run: int
    failing: tuple[FailingCase, ...]
    fixtures: str | None     # the fixtures folder that was run, None: the examples alone

    @property
    def ok(self) -> bool:
        return not self.failing


class RuleSetRefused(Exception):
    """The candidate loads but fails some of its own examples or of the fixtures."""

    def __init__(self, version: str, result: GateResult):
        self.version, self.result = version, result
        shown = "\n".join(f"  - {f}" for f in result.failing)
        super().__init__(f"rule set {version} refused: {len(result.failing)} of {result.cases_run} rule "
                         f"example(s) and fixture case(s) fail against it "
                         f"({'fixtures: ' + result.fixtures if result.fixtures else 'examples only'}):\n{shown}\n"
                         f"`separation-guard rules test --rules-dir RULES --fixtures FIXTURES` shows each failure's diff.")


# The same content gives the same outcomes: the result of a (rules, fixtures) pair is kept per
# process, so every app the test suite creates on the same files gates once. Content hashes, never
# paths or times, so an edited rule or fixture file is always gated again.
_GATED: LRUCache = LRUCache(maxsize=32)
_GATED_LOCK = threading.Lock()


def fixtures_dir(app: Flask) -> Path:
    """FIXTURES_DIR, else `fixtures/` beside the rules folder (the repository root's)."""
    configured = app.config.get("FIXTURES_DIR")
    return Path(configured) if configured else Path(app.config["RULES_DIR"]).resolve().parent / "fixtures"


def fixtures_version(folder: Path) -> str | None:
    return content_version(folder) if folder.is_dir() else None


def gate(rulebook: RuleBook, folder: Path, log: logging.Logger | None = None) -> GateResult:
    """Every example of the candidate's rules and every fixture case under `folder`, run against it."""
    present = folder.is_dir()
    if not present and log is not None:
        log.warning("fixtures folder %s does not exist: the rule examples alone gate the rule set", folder)
    key = (rulebook.version, str(folder) if present else None, fixtures_version(folder))
    with _GATED_LOCK:
        if key in _GATED:
            return _GATED[key]
    result = run_gate(rulebook, folder)
    with _GATED_LOCK:
        _GATED[key] = result
    return result


def run_gate(rulebook: RuleBook, folder: Path) -> GateResult:
    """The gate itself, never cached (benchmarks/bench_gate.py times it).

    A fixture file that cannot be read or run fails as a whole, named by its path: it must refuse
    the candidate, not crash the request that noticed the edit.
    """
    present = folder.is_dir()
    runs = [("rule examples", lambda: run_scenarios(rulebook, []))]
    for path in sorted(folder.rglob("*_test.yaml")) if present else []:
        runs.append((str(path), lambda path=path: run_scenarios(rulebook, [path], examples=False)))
    cases, failing = 0, []
    for name, run in runs:
        try:
            results = run()
        except Exception as exc:  # noqa: BLE001 (any failure to run refuses the candidate)
            cases += 1
            failing.append(FailingCase(name, (f"could not be run: {type(exc).__name__}: {exc}",)))
            continue
        cases += len(results)
        failing += [FailingCase(r.source, tuple(r.problems)) for r in results if not r.passed]
    return GateResult(cases, tuple(failing), str(folder) if present else None)


def build_rule_set(app: Flask) -> RuleBook:
    """The rule book for RULES_DIR, gated. Raises RuleLoadError or RuleSetRefused (engine closed)."""
    candidate = load_rulebook(Path(app.config["RULES_DIR"]))
    started = time.perf_counter()
    try:
        result = gate(candidate, fixtures_dir(app), app.logger)
    except BaseException:
        candidate.engine.close()
        raise
    if not result.ok:
        candidate.engine.close()
        raise RuleSetRefused(candidate.version, result)
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
        for old in _RETIRED:
            old.engine.close()
        _RETIRED[:] = [current]
        if new.version != current.version:
            record_ruleset(app, new, previous=current.version, reason=reason)  # once, whichever worker is first
        if new.version == current.version:  # the fixtures changed: the same rules passed them again
            app.logger.info("rules re-checked (%s): %s passes its gate again", reason, new.version)
        else:
            app.logger.info("rules reloaded (%s): %s -> %s", reason, current.version, new.version)
        return ReloadResult(True, new.version, current.version, [])


def _watched_versions(app: Flask) -> tuple[str, str | None]:
    """What the gate's outcome depends on: the rule files and the fixtures."""
    return content_version(Path(app.config["RULES_DIR"])), fixtures_version(fixtures_dir(app))


def changed_on_disk(app: Flask) -> bool:
    """Whether the rule files or fixtures differ from what was last built (served or refused)."""
    return _watched_versions(app) != app.extensions["rules_checked_version"]


def _record(app: Flask, version: str, body: dict) -> None:
    with app.extensions["db_sessions"]() as session, session.begin():
        append(session, kind="ruleset_change", recorded_at=utcnow(), ruleset_version=version, body=body,
               key=app.extensions["trail_key"])


def init_app(app: Flask) -> None:
    if app.extensions["rulebook"] is None:
        return  # a command-line app without a rule set (create_app for_commands) watches nothing
    app.extensions["rules_checked_version"] = (app.extensions["rulebook"].version,
                                               fixtures_version(fixtures_dir(app)))
    app.extensions["candidate_refused"] = None
    app.extensions["rules_checked_at"] = time.monotonic()
    interval = float(app.config["RULES_WATCH_SECONDS"])
    if interval <= 0:
        return

    @app.before_request
    def _watch_rules():
        now = time.monotonic()
        if now - app.extensions["rules_checked_at"] < interval:
            return
        app.extensions["rules_checked_at"] = now
        if changed_on_disk(app):
            reload_rules(app, "rule files or fixtures changed on disk")


# ---- the endpoint ---------------------------------------------------------------------------
class ReloadResultSchema(Schema):
    ok = fields.Boolean(required=True)
    version = fields.String(required=True, metadata={"description": "The rule-set version serving now"})
    previous = fields.String(required=True)
    problems = fields.List(fields.String(), required=True, metadata={"description": "Why a reload was refused"})


class ReloadRefusedSchema(ReloadResultSchema):
    """The project's error shape (code, status, message, errors), plus what is serving (not in a
    422 the request itself earns, which has the error shape alone)."""
    ok = fields.Boolean()
    version = fields.String(metadata={"description": "The rule-set version serving now"})
    previous = fields.String()
    problems = fields.List(fields.String(), metadata={"description": "Why the reload was refused"})
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), required=True,
                         metadata={"description": "One per problem (path: the file) or failing case "
                                                  "(path: the example or fixture case)"})
    candidate = fields.String(metadata={"description": "The refused candidate's version (409 only)"})
    failing_cases = fields.List(fields.String(), metadata={"description": "The examples and fixture cases "
                                                                          "the candidate fails (409 only)"})


@blp.route("/rules/reload")
class Reload(MethodView):
    @blp.response(200, ReloadResultSchema)
    @blp.doc(operationId="reloadRules")
    @blp.alt_response(422, schema=ReloadRefusedSchema,
                      description="Refused, the rule files do not load: the previous version keeps serving")
    @blp.alt_response(409, schema=ReloadRefusedSchema,
                      description="Refused, the candidate fails some of its rule examples or fixture cases: "
                                  "the previous version keeps serving")
    def post(self):
        """Reload the rule files now; a bad edit is refused and the running version keeps serving.

        The candidate must load (else 422) and pass every rule example and fixture case (else 409).
        """
        result = reload_rules(current_app._get_current_object(), "admin endpoint")
        body = {"ok": result.ok, "version": result.version, "previous": result.previous,
                "problems": result.problems}
        if result.ok:
            return body, 200
        if result.candidate is not None:
            status, what = 409, (f"the candidate rule set {result.candidate} fails "
                                 f"{len(result.failing_cases)} rule example(s) or fixture case(s)")
            body.update(candidate=result.candidate, failing_cases=result.failing_cases)
        else:
            status, what = 422, f"the rule files do not load ({len(result.problems)} problem(s))"
        body.update(code=status, status=HTTPStatus(status).phrase, errors=result.errors,
                    message=f"Reload refused: {what}; still serving {result.version}.")
        # A Response of its own: the 200 schema would drop the error shape's fields.
        return jsonify(ReloadRefusedSchema().dump(body)), status
