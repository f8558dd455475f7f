"""Read-only pages for people: the rule catalog, one page per rule (both in catalog_pages.py), the
trail viewer and a case's timeline. Server-rendered (Jinja, service/templates/), Chinese with
English beside it, no JavaScript.

How the pages are protected:

- ``PAGES_ENABLED``: unset, the pages are on in development and off with ``ENV=production``
  (set ``SEPARATION_GUARD_PAGES_ENABLED=true`` to serve them there). Off, every page is a 404.
- With ``AUTH_REQUIRED`` (the default, in development too) a page needs an API key as the API
  does: service/http/auth.py maps each page to its scopes (``trail:read`` for the trail and cases,
  ``trail:read`` or ``rules:admin`` for the rule catalog) and records every refusal in the trail.
  A tool sends the key as ``Authorization: Bearer``. A browser signs in once at ``/login``: the
  form posts the key, which is checked and never kept; the cookie (HttpOnly, SameSite=Lax,
  Secure over HTTPS and in production) holds a random session token whose digest is stored
  (service/http/page_sessions.py). It expires after ``PAGES_SESSION_HOURS``; ``/logout`` revokes it;
  revoking the key ends it at once. Only the pages honour that cookie; the API reads headers
  only, so a page visit can never make an API call. The key is never put in a URL. A sign-in
  form posted from another origin is refused as such, and recorded.
- Every page is a GET that reads; responses are not cached and forbid scripts and framing.
"""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from markupsafe import Markup, escape
from sqlalchemy import select

from schemas.fields import ACTION_TYPES, CASE_KINDS, EVENT_TYPES
from service.tenants import DEFAULT_TENANT
from service.clock import CHINA, day_in_china
from service.http import catalog_pages, page_sessions
from service.http.keys import digest
from service.http.refusal_limit import refusal_bucket, retry_after_if_over_the_limit
from service.http.refusals import record_refusal
from service.record import db
from service.decide.evaluation import default_as_of
from service.record.case_trail import case_rows
from service.flows.case_replay import replayed
from service.decide.case_review import review_case
from service.record.ledger import event_dict, find_case
from service.record.models import ApiClient, TrailEntry
from service.decide.rulebook import versions_by_id
from service.http.decisions import summary
from service.http.trail_api import KINDS, MAX_SEQ, TrailQueryArgsSchema, asking_tenant, query_trail

from service.decide.rulebook import rule_counts
from service.http.rule_examples import fact_description, field_label

bp = Blueprint("pages", __name__)

# What a key needs to sign in: any scope that opens a page.
_PAGE_SCOPES = {"trail:read", "rules:admin"}
_TRAIL_FIELDS = ("employee", "case_id", "process_type", "kind", "action_type", "event_type", "verdict",
                 "rule_id", "actor", "since", "until", "at_since", "at_until", "after", "limit")
_PAGE_SIZES = (25, 50, 100, 200)

# The catalog and a rule's page: views of their own module, routed here.
bp.add_url_rule("/rules", view_func=catalog_pages.rules)
bp.add_url_rule("/rules/<rule_id>", view_func=catalog_pages.rule)

def _enabled() -> bool:
    value = current_app.config.get("PAGES_ENABLED")
    return current_app.config["ENV"] != "production" if value is None else bool(value)


@bp.before_request
def _only_when_enabled():
    if not _enabled():
        abort(404)


@bp.after_request
def _headers(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.app_template_filter("bi")
def _bilingual(value, table: str):
    """A code as 中文 English; an unknown code as itself."""
    if value is None or value == "":
        return Markup('<span class="muted">—</span>')
    names = catalog_pages.shown_rulebook().names.pair(table, value)
    if names is None:
        return escape(value)
    zh, en = names
    return Markup('<span lang="zh-CN">{}</span> <span class="en" lang="en">{}</span>').format(zh, en)


@bp.app_template_filter("china_time")
def _china_time(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("pretty_json")
def _pretty_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=_json_default)


def _json_default(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


@bp.context_processor
def _common():
    rulebook = catalog_pages.shown_rulebook()
    return {"ruleset_version": rulebook.version, "rule_counts": rule_counts(rulebook.rules.values()),
            "signed_in": bool(request.cookies.get(page_sessions.COOKIE)), "labels": rulebook.names.tables,
            "session_hours": current_app.config["PAGES_SESSION_HOURS"]}


# ---- errors: HTML on the pages (the API's handlers answer JSON) ---------------------------------

@bp.errorhandler(401)
def _unauthorized(error):
    if not _enabled():
        return _error(404)
    # Sign in here; the form comes back to this page.
    return render_template("login.html", next=_safe_next(request.full_path), error=None), 401


@bp.errorhandler(403)
def _forbidden(error):
    return _error(403)


@bp.errorhandler(404)
def _not_found(error):
    return _error(404)


_ERRORS = {403: ("此密钥无权查看本页（需要 trail:read 权限）。", "This key may not see this page (it needs the trail:read scope)."),
           404: ("未找到该页面。", "No such page.")}


def _error(code: int):
    zh, en = _ERRORS[code]
    return render_template("error.html", code=code, zh=zh, en=en), code


# ---- sign-in --------------------------------------------------------------------------------

@bp.route("/")
def index():
    return redirect(url_for("pages.rules"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    origin = request.headers.get("Origin")
    if origin and urlparse(origin).netloc != request.host:
        # Another site posting a sign-in form (login CSRF): refused for that reason, and recorded.
        record_refusal(None, 403, f"sign-in: form posted from another origin ({origin[:200]})")
        return render_template("error.html", code=403, zh=f"登录被拒绝：登录表单来自其他网站（{origin}）。",
                               en=f"Sign-in refused: the form was posted from another site ({origin}). "
                                  "Sign in from this site's own sign-in page."), 403
    if not current_app.config["AUTH_REQUIRED"]:
        return redirect(target, 303)
    key = (request.form.get("key") or "").strip()
    with db.session() as session:
        client = session.scalar(select(ApiClient).where(ApiClient.key_digest == digest(key),
                                                        ApiClient.revoked_at.is_(None))) if key else None
    if client is None or not _PAGE_SCOPES & set(client.scopes):
        bucket = refusal_bucket(key)
        wait = retry_after_if_over_the_limit(bucket)
        if wait is not None:
            record_refusal(client.name if client else None, 429, "sign-in: over the limit of refused requests",
                                 bucket)
            return render_template("error.html", code=429, zh=f"登录失败次数过多，请 {wait} 秒后再试。",
                                   en=f"Too many refused sign-ins; try again in {wait} seconds."), 429, \
                {"Retry-After": str(wait)}
        reason = "sign-in: unknown or revoked API key" if client is None else "sign-in: key has no page scope"
        record_refusal(client.name if client else None, 401, reason, bucket)
        error = (("密钥无效或已吊销。", "Unknown or revoked key.") if client is None else
                 ("此密钥没有查看页面的权限（trail:read 或 rules:admin）。",
                  "This key has no scope for the pages (trail:read or rules:admin)."))
        return render_template("login.html", next=target, error=error), 401
    lifetime = dt.timedelta(hours=float(current_app.config["PAGES_SESSION_HOURS"]))
    with db.session() as session, session.begin():
        token = page_sessions.start(session, client, lifetime)
    response = redirect(target, 303)
    response.set_cookie(page_sessions.COOKIE, token, max_age=int(lifetime.total_seconds()), httponly=True,
                        samesite="Lax", secure=request.is_secure or current_app.config["ENV"] == "production")
    return response


@bp.route("/logout", methods=["POST"])
def logout():
    token = request.cookies.get(page_sessions.COOKIE)
    if token:
        with db.session() as session, session.begin():
            page_sessions.end(session, token)  # the token is dead, even if a copy of the cookie survives
    response = redirect(url_for("pages.login"), 303)
    response.delete_cookie(page_sessions.COOKIE, httponly=True, samesite="Lax")
    return response


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value \
            or value.startswith(("/login", "/logout")):
        return url_for("pages.rules")
    return value.rstrip("?") or "/"


# ---- what an action needs (the catalog and a rule's page: service/http/catalog_pages.py) --------

@bp.route("/requirements")
def requirements():
    """What an action needs (GET /v1/requirements), for people."""
    from service.decide.requirements import UnknownAction, answer

    rulebook = catalog_pages.shown_rulebook()
    actions = rulebook.vocabulary["action.type"].values
    chosen = request.args.get("action", "").strip() or None
    as_of_text = request.args.get("as_of", "").strip()
    error = None
    try:
        as_of = dt.date.fromisoformat(as_of_text) if as_of_text else default_as_of()
    except ValueError:
        as_of, error = default_as_of(), (f"as_of：“{as_of_text}”不是日期（YYYY-MM-DD）。",
                                         f"as_of: {as_of_text!r} is not a date (YYYY-MM-DD)")
    needs = None
    if chosen is not None and error is None:
        try:
            needs = answer(rulebook, chosen, as_of)
        except UnknownAction:
            error = (f"action：“{chosen}”不是操作类型。", f"action: {chosen!r} is not an action type")
    # Each field's name and description in both languages (a fact's from the vocabulary, another
    # request field's name from rules/names/codes.yaml).
    described = {f["field"]: {"label": field_label(rulebook, f["field"]),
                              "zh": (fact_description(rulebook.vocabulary.facts[f["field"]])["zh"]
                                     if f["field"] in rulebook.vocabulary.facts else f["description"].get("zh", ""))}
                 for f in (needs or {}).get("fields", ())}
    return render_template("requirements.html", actions=actions, chosen=chosen, as_of=as_of, needs=needs,
                           error=error, described=described), 400 if error else 200


# ---- the trail and cases -------------------------------------------------------------------

def _trail_args(raw) -> tuple[dict, dict, list[str]]:
    """The form's fields (blank ones dropped, a time without an offset read as China time), loaded
    by the API's own schema. Returns (loaded args, the form as entered, errors)."""
    form = {name: raw.get(name, "").strip() for name in _TRAIL_FIELDS}
    given = {name: value for name, value in form.items() if value}
    for name in ("since", "until", "at_since", "at_until"):
        if name in given:
            given[name] = _with_china_offset(given[name])
    given.setdefault("limit", "50")
    try:
        return TrailQueryArgsSchema().load(given), form, []
    except ValidationError as exc:
        errors = [f"{name}: {' '.join(map(str, reasons)) if isinstance(reasons, list) else reasons}"
                  for name, reasons in exc.messages.items()]
        return {}, form, errors


def _with_china_offset(value: str) -> str:
    """2026-01-05T09:00 (a browser's datetime-local) is a time in China; a plain date is a day in
    China already (the schema reads it so)."""
    if len(value) == 10:
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # the schema names the problem
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA)
    return parsed.isoformat()


@bp.route("/trail")
def trail():
    args, form, errors = _trail_args(request.args)
    entries, next_after = [], None
    if not errors:
        with db.read_session(asking_tenant()) as session:
            entries, next_after = query_trail(session, args, asking_tenant())
    next_query = None
    if next_after is not None:
        next_query = {k: v for k, v in form.items() if v and k != "after"} | {"after": next_after}
    first_query = {k: v for k, v in form.items() if v and k != "after"} if form["after"] else None
    choices = {"process_type": (*CASE_KINDS, "check"), "kind": KINDS, "action_type": ACTION_TYPES,
               "event_type": EVENT_TYPES, "verdict": ("deny", "warn", "allow")}
    rule_ids = list(versions_by_id(catalog_pages.shown_rulebook().rules.values()))  # sorted ids
    searched = any(v for k, v in form.items() if k not in ("after", "limit"))
    return render_template("trail.html", entries=entries, form=form, errors=errors, choices=choices,
                           rule_ids=rule_ids, page_sizes=_PAGE_SIZES, next_query=next_query,
                           first_query=first_query, searched=searched), 400 if errors else 200


@bp.route("/trail/<int:seq>")
def trail_entry(seq: int):
    from service.record.trail import hash_of

    if seq > MAX_SEQ:  # past any seq a database keeps: no such entry, not an overflow
        abort(404)
    with db.read_session(asking_tenant()) as session:
        entry = session.get(TrailEntry, seq)
        if entry is not None and entry.tenant_id != asking_tenant():  # another company's: not found
            entry = None
        if entry is None:
            abort(404)
        decision = summary(session, entry, checked=True)
    entry_hash = hash_of(entry)
    event_at = ((entry.body or {}).get("event") or {}).get("at")
    return render_template("trail_entry.html", entry=entry, event_at=event_at, entry_hash=entry_hash,
                           decision=decision)


@bp.route("/trail/<int:seq>/stored")
def trail_entry_stored(seq: int):
    """The entry's body as stored and hashed (facts by their index among the version's fact
    names), for whoever checks the hash or reads the database."""
    from service.record.trail import hash_of

    if seq > MAX_SEQ:
        abort(404)
    with db.read_session(asking_tenant()) as session:
        entry = session.get(TrailEntry, seq)
        if entry is not None and entry.tenant_id != asking_tenant():  # another company's: not found
            entry = None
    if entry is None:
        abort(404)
    return render_template("trail_entry_stored.html", entry=entry, entry_hash=hash_of(entry))


@bp.route("/trail/chain")
def trail_chain():
    # The latest verification, as GET /v1/trail/verify reports it: never a scan in the request.
    from service.record.verification import latest

    with db.read_session(asking_tenant()) as session:
        result = latest(session.connection(), asking_tenant())
    return render_template("trail_chain.html", result=result, checked_at=result["verified_at"])


@bp.route("/cases/<case_id>")
def case(case_id: str):
    as_of_text = request.args.get("as_of", "").strip()
    try:
        as_of = dt.date.fromisoformat(as_of_text) if as_of_text else default_as_of()
    except ValueError:
        as_of, as_of_text = default_as_of(), ""
    tenant = g.get("tenant", DEFAULT_TENANT)  # the signed-in key's: another tenant's case is not found
    with db.read_session(tenant) as session:
        row = find_case(session, case_id, tenant_id=tenant)
        if row is None:
            abort(404)
        # LedgerDisagreement (503) when they are not the trail's
        events = case_rows(session, case_id, tenant_id=tenant)
        accepted = [event_dict(e) for e in events if e.accepted]
        # Why each refused event was refused: its answer as given, made again from the trail.
        refused = {e.seq: replayed(current_app._get_current_object(), session, events, e)[1].get("findings") or []
                   for e in events if not e.accepted}
        entries, more = query_trail(session, {"case_id": case_id, "after": 0, "limit": 500}, asking_tenant())
    review = review_case(catalog_pages.shown_rulebook(), row, accepted, as_of)
    # Today is the default; the day of the case's last event is one click away (a case read
    # months later is otherwise shown as hundreds of working days overdue).
    days = {"today": default_as_of(),
            "last_event": max((_china_day(e.at) for e in events), default=None)}
    return render_template("case.html", case=row, events=events, status=review.status, as_of=as_of,
                           pending=review.pending, findings=review.findings, entries=entries,
                           more_entries=more is not None, days=days, refused=refused)


def _china_day(value: dt.datetime) -> dt.date:
    return day_in_china(value)
