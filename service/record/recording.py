"""A decision's trail entry: what is kept, and what is only digested. The body is encoded here
(decision_body) and decoded here (render_body, for GET /v1/decisions/<id> and the pages): the
answer is rendered again from what the engine matched, through verdicts.assemble."""
from __future__ import annotations

import datetime as dt
import threading

from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.decide.evaluation import Outcome
from service.decide.facts import Facts, Unknown
from service.decide.rulebook import Match, RuleBook
from service.decide.verdicts import Judged, assemble
from service.record import trail
from service.record.ids import new_id
from service.record.privacy import WITHHELD, redact_assumed, redact_findings, redacted_facts
from service.tenants import DEFAULT_TENANT

def process_type(rulebook: RuleBook, action_type: str, case_kind: str | None) -> str | None:
    """The case kind, or the process the action belongs to (classification/separation_basis.yaml)."""
    return case_kind or rulebook.context.classification.basis.process_of(action_type)


@dataclass(frozen=True)
class Keeping:
    """How the trail keeps a decision (the configuration's, passed by the flow): `keep`, what of
    the facts (TRAIL_FACT_VALUES); `digest_key`, the key of the request's digest
    (TRAIL_DIGEST_KEY); `client_id`, the API client that asked; `tenant_id`, whose log the
    decision goes into (the asking key's tenant)."""
    keep: str
    digest_key: bytes
    client_id: str | None = None
    tenant_id: str = DEFAULT_TENANT


def record_decision(session: Session, *, rulebook: RuleBook, outcome: Outcome, request: dict,
                    received_at: dt.datetime, keeping: Keeping, key, kind: str = "check", event: dict | None = None,
                    case_kind: str | None = None, body_extra: dict | None = None) -> trail.Appended:
    """Append the decision to its tenant's log inside the caller's transaction; `key`, the trail's
    keyring, signs its receipt."""
    return trail.append_all(session, [decision_entry(
        rulebook=rulebook, outcome=outcome, request=request, received_at=received_at, keeping=keeping, kind=kind,
        event=event, case_kind=case_kind, body_extra=body_extra)], key)[0]


def decision_entry(*, rulebook: RuleBook, outcome: Outcome, request: dict, received_at: dt.datetime,
                   keeping: Keeping, kind: str = "check", event: dict | None = None, case_kind: str | None = None,
                   body_extra: dict | None = None) -> dict:
    """A decision's trail entry. `rulebook` is the one that decided: its vocabulary says which
    facts are sensitive, and its version entry holds the text the findings are rendered from."""
    action = request["action"]
    actor = action.get("actor") or {}
    case = request.get("case") or {}
    body = {**decision_body(rulebook, outcome, keeping.keep), **(body_extra or {})}
    if outcome.assumed is not None:
        # By field and declarer only: the value is the rule set's (records/), found again from its version.
        body["assumed"] = [[a["field"], a["declared_by"]] for a in outcome.assumed]
    return trail.entry_values(
        kind=kind, entry_id=new_id(), recorded_at=received_at, as_of=outcome.as_of,
        employee_id=request["employee"]["id"], case_id=case.get("id"),
        process_type=process_type(rulebook, action["type"], case_kind or case.get("kind")),
        action_type=action["type"], event_type=(event or {}).get("type"),
        actor_id=actor.get("id"), actor_role=actor.get("role"), client_id=keeping.client_id,
        verdict=outcome.verdict, rule_ids=[f["rule_id"] for f in outcome.findings],
        ruleset_version=outcome.ruleset_version, body=body, tenant_id=keeping.tenant_id,
        request_digest=trail.request_digest(keeping.digest_key, request))


def decision_body(rulebook: RuleBook, outcome: Outcome, keep: str) -> dict:
    """What varies per check, by reference to the rule set's version entry (service.record.rulesets).

    For the effective date (at the top) and, when the check was judged on two days, for the
    day notice is served (`earlier`, with `as` and `on`): `matched`, for each rule the check
    considered (rulebook.applicable, by position) that did not clear, [position, alternatives]
    ([] when its condition held, else the alternatives that may hold); `facts`, every fact the
    answer shows (redacted: service.record.privacy), by fact_codes; `fill`, the other values message
    placeholders read; `given`, the request fields an unknown rule's missing facts depend on, by
    field_codes (since issue 23; a name when the version's facts list no such input);
    `rested`, the regional provisions a fact the rules read rested on (Facts.rested_on), by fact_codes.
    `why`, for each derived fact of those left unknown, the request fields that decide it
    (Facts.decided_by: field names by field_codes, never values).
    render_body renders the answer again from these with verdicts.assemble."""
    applicable = outcome.applicable
    *earlier, later = outcome.judged
    body = _encode_day(rulebook, applicable, later.facts, later.matches, [*outcome.findings, *outcome.checked], keep)
    if earlier:
        day = earlier[0]
        shown = [{"facts": read} for read in outcome.first_day_read]
        first = _encode_day(rulebook, applicable, day.facts, day.matches, shown, keep)
        # Only what differs from the effective date's: most facts are the same on both days.
        same = {k for k, v in first["facts"].items() if body["facts"].get(k, _ABSENT) == v}
        first["absent"] = sorted(set(body["facts"]) - set(first["facts"]), key=int_or_name)
        first["facts"] = {k: v for k, v in first["facts"].items() if k not in same}
        first.setdefault("given", [])
        first.setdefault("rested", {})
        first.setdefault("why", {})
        for key, none in (("matched", []), ("given", []), ("rested", {}), ("why", {})):  # left out: as the effective date's
            if first[key] == body.get(key, none):
                del first[key]
        if not first["absent"]:
            del first["absent"]
        body["earlier"] = {"as": day.label, "on": day.on.isoformat(), **first}
        body["later"] = [later.label, later.on.isoformat()]
    if keep != "non_sensitive":
        body["keep"] = keep
    return body


def _encode_day(rulebook: RuleBook, applicable: list, day_facts, matches: dict, shown: list[dict], keep: str) -> dict:
    vocabulary = rulebook.vocabulary
    # A finding's `dates` facts are each day's read_facts, kept per day.
    facts = redacted_facts(shown, vocabulary.sensitive, keep=keep)
    position = {rule.key: n for n, rule in enumerate(applicable)}
    matched, given, ranges, why = [], set(), set(), {}
    for key, match in matches.items():
        if key not in position or not (match.definite or match.alternatives):
            continue
        matched.append([position[key], [] if match.definite else list(match.alternatives)])
        for index in ([] if match.definite else match.alternatives):
            for name in match.rule.compiled.alternatives[index].facts:
                given.update(i for i in vocabulary[name].inputs if i in day_facts.given)
                if name in day_facts.decided_by:
                    why[name] = list(day_facts.decided_by[name].fields)
                if vocabulary[name].bounds:
                    ranges.add(name)
    matched.sort()
    values = day_facts.values
    fill = {}
    for rule in (applicable[n] for n, _ in matched):
        for name in rule.placeholders:
            if name in values and facts.get(name, _ABSENT) != values[name]:
                fill[name] = values[name]  # placeholders are never sensitive (checked at load)
    code, field = fact_codes(rulebook), field_codes(rulebook)
    body: dict = {"matched": matched, "facts": {code.get(n, n): v for n, v in facts.items()}}
    if fill:
        body["fill"] = {code.get(n, n): v for n, v in fill.items()}
    if given:
        body["given"] = [field.get(n, n) for n in sorted(given)]
    read = {name for rule in applicable for name in rule.compiled.reads} if day_facts.rested_on else ()
    rested = {code.get(n, n): list(refs) for n, refs in sorted(day_facts.rested_on.items()) if n in read}
    if rested:
        body["rested"] = rested
    if why:
        body["why"] = {code.get(n, n): [field.get(f, f) for f in v] for n, v in sorted(why.items())}
    if keep != "non_sensitive":
        # Whether a range was narrowed to one value decides its missing facts; its bounds' values
        # are not kept, so keep that.
        undecided = [name for name in sorted(ranges)
                     if any(b in values for b in vocabulary[name].bounds)
                     and len({values.get(b) for b in vocabulary[name].bounds}) > 1]
        if undecided:
            body["undecided"] = undecided
    return body


# ---- decoding ---------------------------------------------------------------------------------
def render_assumed(body: dict, rulebook) -> list[dict]:
    """What a complete-record declaration filled in, its values from the rule set that decided."""
    records = rulebook.context.records
    assumed = [{"field": name, "value": records.value_of(name), "declared_by": by}
               for name, by in body["assumed"]]
    return redact_assumed(assumed, rulebook.vocabulary, keep=body.get("keep", "non_sensitive"))


def render_body(body: dict, as_of, action_type: str, rulebook) -> dict:
    """verdict, findings and checked, by verdicts.assemble: the function that made the live answer."""
    keep = body.get("keep", "non_sensitive")
    applicable = rulebook.applicable(action_type, as_of)
    facts, matches = _decode_day(body, as_of, applicable, rulebook)
    earlier = later = None
    if "earlier" in body:
        day = dict(body["earlier"])  # what differs from the effective date's part
        day["facts"] = {**{k: v for k, v in body["facts"].items() if k not in set(day.get("absent", ()))},
                        **day.get("facts", {})}
        day.setdefault("matched", body["matched"])
        day.setdefault("given", body.get("given", []))
        day.setdefault("rested", body.get("rested", {}))
        day.setdefault("why", body.get("why", {}))
        earlier_facts, earlier_matches = _decode_day(day, as_of, applicable, rulebook)
        earlier = Judged(day["as"], dt.date.fromisoformat(day["on"]), earlier_facts, earlier_matches)
        label, on = body["later"]
        later = Judged(label, dt.date.fromisoformat(on), facts, matches)
    verdict, findings, checked = assemble(matches, applicable, facts, rulebook.vocabulary, earlier=earlier,
                                          later=later, registry=rulebook.citations)
    sensitive = rulebook.vocabulary.sensitive
    # with keep "none" every value, the stand-ins below too, is shown as not kept
    return {"verdict": verdict, "findings": redact_findings(findings, sensitive, keep=keep),
            "checked": redact_findings(checked, sensitive, keep=keep)}


def _decode_day(part: dict, as_of, applicable: list, rulebook) -> tuple[Facts, dict]:
    names = sorted(rulebook.vocabulary.facts)
    values = {names[int(k)] if k.isdigit() else k: v for k, v in (*part["facts"].items(),
                                                                   *part.get("fill", {}).items())}
    for name in part.get("undecided", ()):  # bounds not kept: two different stand-ins
        low, high = rulebook.vocabulary[name].bounds
        values[low], values[high] = values.get(low, WITHHELD), f"{WITHHELD} "
    rested = {names[int(k)] if k.isdigit() else k: tuple(refs) for k, refs in part.get("rested", {}).items()}
    inputs = request_fields(rulebook.vocabulary)  # `given` and `why` by position since issue 23, names before

    def field(f):
        return inputs[f] if isinstance(f, int) else f
    facts = Facts(as_of=as_of, values=values, given=frozenset(map(field, part.get("given", ()))), rested_on=rested,
                  decided_by={names[int(k)] if k.isdigit() else k: Unknown(*map(field, v))
                              for k, v in part.get("why", {}).items()})
    matches = {}
    for position, alternatives in part["matched"]:
        rule = applicable[position]
        matches[rule.key] = Match(rule, not alternatives, tuple(alternatives))
    return facts, matches


_ABSENT = object()


def int_or_name(key: str):
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


_CODES: dict[str, dict[str, str]] = {}
_CODES_LOCK = threading.Lock()  # a gthread worker records from several threads


def fact_codes(rulebook: RuleBook) -> dict[str, str]:
    """A fact's name in `facts` and `fill`: its position among the version's fact names, sorted
    (the names are most of an entry's bytes, and the version's entry holds them)."""
    found = _CODES.get(rulebook.version)
    if found is None:
        found = {n: str(i) for i, n in enumerate(sorted(rulebook.vocabulary.facts))}
        with _CODES_LOCK:
            _CODES[rulebook.version] = found
            if len(_CODES) > 8:
                _CODES.pop(next(iter(_CODES)))
    return found


def request_fields(vocabulary) -> list[str]:
    """The request fields the version's facts are derived from (their `inputs`), sorted: an entry's
    `given` and `why` name a field by its position here, an int (issue 23: the names were 180 of
    an entry's 600 body bytes). service.http.decisions reads them back with the same list."""
    return sorted({name for spec in vocabulary.facts.values() for name in spec.inputs})


def field_codes(rulebook: RuleBook) -> dict[str, int]:
    found = _FIELDS.get(rulebook.version)
    if found is None:
        found = {name: i for i, name in enumerate(request_fields(rulebook.vocabulary))}
        with _CODES_LOCK:
            _FIELDS[rulebook.version] = found
            if len(_FIELDS) > 8:
                _FIELDS.pop(next(iter(_FIELDS)))
    return found


_FIELDS: dict[str, dict[str, int]] = {}
