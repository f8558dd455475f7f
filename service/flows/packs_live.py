"""How each company's pack goes live, on its own (the statutes' rule set: rules_live.py).

A tenant with a folder rules/companies/<tenant>/ is served by its pack's rule book
(service/decide/packs.py), built on the serving statutes and gated by its own examples and
fixtures plus the shared fixtures (service/decide/pack_gate.py); every other tenant by the
serving rule book itself, the default pack. A pack reloads on its own (the watcher notices its
files changed; POST /v1/admin/rules/packs/<tenant>/reload), and a new statutes' version rebuilds
every pack on it. A refused pack leaves its tenant on its previous pack, and every other tenant
untouched; the refusal is written to that tenant's trail. A pack refused at start-up has no
previous pack: its tenant's requests are answered 503 (never decided on the default pack, which is
not its company's policy) until a reload puts a good one live; other tenants are served.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, jsonify

from service.clock import utcnow
from service.config import fixtures_dir
from service.decide.gate import RuleSetRefused, passed
from service.decide.pack_gate import gate_pack
from service.decide.packs import load_pack, pack_digest, pack_tenants
from service.decide.problem_lines import place_problems
from service.decide.rulebook import RuleBook, RuleLoadError
from service.record.rulesets import record_pack
from service.record.trail import append
from service.tenants import DEFAULT_TENANT

_LOCK = threading.Lock()


class PackUnavailable(Exception):
    """503: the tenant's pack was refused at start-up and no good one has gone live since."""

    def __init__(self, tenant: str):
        self.tenant = tenant
        super().__init__(f"the policy pack of tenant {tenant} was refused; nothing is decided for it until a "
                         f"good pack goes live (POST /v1/admin/rules/packs/{tenant}/reload)")


@dataclass(frozen=True)
class PackReload:
    ok: bool
    tenant: str
    version: str | None      # what serves the tenant after the attempt (None: nothing)
    previous: str | None
    problems: list[str] = field(default_factory=list)
    failing_cases: list[str] = field(default_factory=list)
    candidate: str | None = None


def rulebook_for(app: Flask, tenant: str | None) -> RuleBook:
    """The rule book that decides for the tenant: its pack's, else the default pack (rules/). A
    pack's version is in the trail before it decides anything (recorded on first use, once per
    version and process: a deployment whose tenants never use a pack writes nothing for it)."""
    packs = app.extensions.get("packs") or {}
    if tenant in packs:
        book = packs[tenant]
        if book is None:
            raise PackUnavailable(tenant)
        recorded = app.extensions["packs_recorded"]  # the versions this app has seen in its trail
        if book.version not in recorded and _database_ready(app):
            record_version(app, book, previous=app.extensions["packs_previous"].get(tenant),
                           reason=app.extensions["packs_reason"].get(tenant, "start-up"))
            recorded.add(book.version)
        return book
    return app.extensions["rulebook"]


def serving_version(app: Flask, version: str) -> RuleBook | None:
    """The serving rule book (statutes or a pack) of that version, if one serves."""
    books = [app.extensions.get("rulebook"), *(app.extensions.get("packs") or {}).values()]
    return next((b for b in books if b is not None and b.version == version), None)


def build_pack(app: Flask, base: RuleBook, tenant: str) -> RuleBook:
    """The tenant's pack on `base`, gated. Raises RuleLoadError or RuleSetRefused (its engine closed)."""
    candidate = load_pack(base, tenant)
    passed(candidate, lambda book: gate_pack(book, base, fixtures_dir(app.config)))
    return candidate


def _on_disk(app: Flask, base: RuleBook, tenant: str) -> tuple:
    """What a pack's gate depends on besides the shared fixtures: those are the ones the serving
    statutes passed (a new statutes' set, or the same one re-gated on new fixtures, rebuilds every
    pack: reload_all), so a shared fixture the statutes refuse never refuses a pack as well."""
    return pack_digest(base.root, tenant), base.version


def load_at_start(app: Flask) -> None:
    """Every pack on the serving statutes; a refused one is kept out (its tenant answered 503)."""
    base = app.extensions.get("rulebook")
    app.extensions.update(packs={}, packs_checked={}, packs_unrecorded=[], packs_previous={}, packs_reason={},
                          packs_recorded=set())
    if base is None:
        return
    for tenant in pack_tenants(base.root):
        _reload(app, base, tenant, "start-up")


def reload_pack(app: Flask, tenant: str, reason: str) -> PackReload:
    with _LOCK:
        return _reload(app, app.extensions["rulebook"], tenant, reason)


def reload_all(app: Flask, reason: str) -> list[PackReload]:
    """Every pack again on the serving statutes (after they changed), and packs added or removed."""
    with _LOCK:
        base = app.extensions["rulebook"]
        gone = [t for t in app.extensions["packs"] if t not in pack_tenants(base.root)]
        for tenant in gone:
            _retire(tenant, app.extensions["packs"].pop(tenant))
            app.extensions["packs_checked"].pop(tenant, None)
        return [_reload(app, base, tenant, reason) for tenant in pack_tenants(base.root)]


def reload_changed(app: Flask, reason: str) -> list[PackReload]:
    """The packs whose files (or the shared fixtures) changed since they were last built."""
    base = app.extensions["rulebook"]
    tenants = pack_tenants(base.root)
    if set(tenants) != set(app.extensions["packs"]):
        return reload_all(app, reason)
    with _LOCK:
        return [_reload(app, base, t, reason) for t in tenants
                if app.extensions["packs_checked"].get(t) != _on_disk(app, base, t)]


def _reload(app: Flask, base: RuleBook, tenant: str, reason: str) -> PackReload:
    packs = app.extensions["packs"]
    current = packs.get(tenant)
    serving = current.version if current is not None else None
    on_disk = _on_disk(app, base, tenant)
    app.extensions["packs_checked"][tenant] = on_disk
    try:
        new = build_pack(app, base, tenant)
    except RuleLoadError as exc:
        problems = [str(p) for p in place_problems(Path(base.root), exc.problems)]
        app.logger.error("pack %s refused (%s): it does not load, %d problem(s): %s; %s", tenant, reason,
                         len(problems), "; ".join(problems), f"still serving {serving}" if serving else "not served")
        packs.setdefault(tenant, None)
        _record(app, tenant, serving or base.version,
                {"rejected": True, "tenant": tenant, "reason": reason, "problems": problems,
                 "still_serving": serving})
        return PackReload(False, tenant, serving, serving, problems)
    except RuleSetRefused as exc:
        failing = [str(f) for f in exc.result.failing]
        app.logger.error("pack %s refused (%s): candidate %s fails %d of %d case(s): %s; %s", tenant, reason,
                         exc.version, len(failing), exc.result.cases_run, "; ".join(failing),
                         f"still serving {serving}" if serving else "not served")
        packs.setdefault(tenant, None)
        _record(app, tenant, serving or base.version,
                {"rejected": True, "tenant": tenant, "reason": reason, "candidate_version": exc.version,
                 "failing_cases": [{"case": f.case, "problems": list(f.problems)} for f in exc.result.failing],
                 "cases_run": exc.result.cases_run, "still_serving": serving})
        return PackReload(False, tenant, serving, serving, failing, [f.case for f in exc.result.failing], exc.version)
    packs[tenant] = new
    if current is not None:
        _retire(tenant, current)
    if serving != new.version:  # recorded in the trail when it first decides (rulebook_for)
        app.extensions["packs_previous"][tenant], app.extensions["packs_reason"][tenant] = serving, reason
    if serving != new.version:  # at start-up, quiet: a command prints its answer only
        app.logger.log(logging.DEBUG if reason == "start-up" else logging.INFO, "pack %s live (%s): %s -> %s",
                       tenant, reason, serving, new.version)
    return PackReload(True, tenant, new.version, serving)


_RETIRED: dict[str, RuleBook] = {}


def _retire(tenant: str, old: RuleBook | None) -> None:
    """A replaced pack's own engine is freed when that tenant's pack is replaced again: no check
    still holds it then (another tenant's reload never frees it)."""
    if old is None:
        return
    previous = _RETIRED.pop(tenant, None)
    if previous is not None:
        previous.engine.close()
    _RETIRED[tenant] = old


def engines_in_use(app: Flask) -> set[int]:
    """The statutes' engines a serving pack is built on (rules_live keeps them open)."""
    return {id(book.engine.statutes) for book in (app.extensions.get("packs") or {}).values() if book is not None}


def _database_ready(app: Flask) -> bool:
    return "db_sessions" in app.extensions and app.extensions.get("trail_key") is not None


def record_version(app: Flask, book: RuleBook, *, previous: str | None = None, reason: str = "start-up") -> bool:
    """The pack version's entry in its tenant's trail (once per version, whichever worker is first)."""
    with app.extensions["db_sessions"]() as session, session.begin():
        return record_pack(session, app.extensions["trail_key"], book, utcnow(), previous=previous, reason=reason)


def _record(app: Flask, tenant: str, version: str, body: dict) -> None:
    """The refusal in the tenant's trail; at start-up, before the database is ready, kept for init_app."""
    if not _database_ready(app):
        app.extensions["packs_unrecorded"].append((tenant, version, body))
        return
    with app.extensions["db_sessions"]() as session, session.begin():
        append(session, kind="ruleset_change", recorded_at=utcnow(), ruleset_version=version, body=body,
               key=app.extensions["trail_key"], tenant_id=tenant)


def init_app(app: Flask) -> None:
    """Record the refusals of start-up, and answer a tenant whose pack is refused with 503."""
    pending, app.extensions["packs_unrecorded"] = app.extensions.get("packs_unrecorded") or [], []
    if app.config.get("AUTO_MIGRATE", True) and _database_ready(app):  # else no schema yet: logged only
        for tenant, version, body in pending:
            _record(app, tenant, version, body)

    @app.errorhandler(PackUnavailable)
    def _unavailable(exc: PackUnavailable):
        return jsonify(code=503, status="Service Unavailable", message=str(exc)), 503


__all__ = ["DEFAULT_TENANT", "PackUnavailable", "build_pack", "reload_all", "reload_changed", "reload_pack",
           "rulebook_for", "serving_version"]
