"""Fixture files (fixtures/**/*_test.yaml): their cases, the shared parties they name, and what
a case asserts.

A case says what it tests, as a Cerbos test suite does: its verdict, and the rules whose outcome
it asserts: `fired` (the rule gave its verdict), `unknown` (it warns for want of facts) or
`cleared` (it was checked and the facts given rule it out). Rules it does not name are not
compared, so adding a rule touches only the cases about it. A case whose point is the complete
set says so with `exactly:` (every deny and warn rule of the answer, fired or unknown; the older
spelling `rule_ids:` reads the same); `obligations:` is the complete set of obligations.

Employees and actors that several files share are named in fixtures/testdata/*.yaml
(`employees:`, `actors:`) and referred to from a request as `employee: {testdata: NAME, ...}`
or `actor: {testdata: NAME}`: the named mapping, with the keys given beside `testdata`
replacing its own, as YAML's `<<:` merge does.
"""
from __future__ import annotations

import copy
from pathlib import Path

from marshmallow import ValidationError

from service.config import PROJECT_ROOT
from service.decide.yamlfile import load_yaml

SETTLED = ("fired", "dates_differ")   # outcomes of a rule that gave its verdict (dates_differ: on one of two days)
# The testdata section a `testdata:` reference reads, by the key it stands under.
_TESTDATA_OF = {"employee": "employees", "actor": "actors"}


def default_fixture_paths() -> list[Path]:
    return sorted((PROJECT_ROOT / "fixtures").rglob("*_test.yaml"))


def load_fixture_cases(path: Path) -> list[tuple[str, dict, str]]:
    """(case id, case, suite now) for each case of a fixture file, its `testdata:` references resolved."""
    from service.decide.fixture_file import FixtureFileSchema  # the file's schema, also its JSON Schema

    suite = load_yaml(path)
    errors = FixtureFileSchema().validate(suite) if isinstance(suite, dict) else {"_schema": ["not a mapping"]}
    if errors:
        raise ValidationError(errors)
    rel = _rel(path)
    testdata = load_testdata(testdata_dir(Path(path)))
    now = suite.get("now")
    return [(f"{rel}::{case['name']}", resolve_testdata(case, testdata), case.get("now", now))
            for case in suite["cases"]]


def testdata_dir(path: Path) -> Path:
    """fixtures/testdata of the fixture tree a file is in (a `rules diff` side is a copy elsewhere)."""
    for parent in Path(path).resolve().parents:
        if (parent / "testdata").is_dir() and parent.name == "fixtures":
            return parent / "testdata"
    return PROJECT_ROOT / "fixtures" / "testdata"


def load_testdata(directory: Path) -> dict[str, dict]:
    """{section: {name: mapping}} from every file of the testdata folder; a name given twice is an error."""
    out: dict[str, dict] = {section: {} for section in _TESTDATA_OF.values()}
    for file in sorted(directory.glob("*.yaml")) if directory.is_dir() else ():
        data = load_yaml(file) or {}
        for section in out:
            for name, value in (data.get(section) or {}).items():
                if name in out[section]:
                    raise ValueError(f"{file.name}: {section} {name!r} is named twice in fixtures/testdata")
                out[section][name] = value
    return out


def resolve_testdata(value, testdata: dict[str, dict], key: str | None = None):
    """`value` with every `{testdata: NAME, ...}` mapping replaced by the named one, overridden."""
    if isinstance(value, list):
        return [resolve_testdata(v, testdata, key) for v in value]
    if not isinstance(value, dict):
        return value
    if "testdata" in value and key in _TESTDATA_OF:
        section = _TESTDATA_OF[key]
        name = value["testdata"]
        if name not in testdata[section]:
            known = ", ".join(sorted(testdata[section])) or "none"
            raise ValueError(f"{key}: no {section} {name!r} in fixtures/testdata (known: {known})")
        merged = {**copy.deepcopy(testdata[section][name]), **{k: v for k, v in value.items() if k != "testdata"}}
        return resolve_testdata(merged, testdata, None)
    return {k: resolve_testdata(v, testdata, k) for k, v in value.items()}


def story_requests(case: dict, now: str | None) -> list[tuple[int, dict, dict, str | None]]:
    """(step number, request, expected, now) for each step of a story; the case grows by `record:`."""
    story_case = copy.deepcopy(case.get("case", {}))
    story_case.setdefault("events", [])
    out = []
    for index, step in enumerate(case["steps"], start=1):
        request = copy.deepcopy(step["request"])
        if story_case.get("id"):
            request["case"] = copy.deepcopy(story_case)
        out.append((index, request, step["expected"], step.get("now", now)))
        if "record" in step:
            story_case["events"].append(step["record"])
    return out


def fixture_checks(case: dict, now: str | None, source: str) -> list[tuple[str, dict, dict, str | None]]:
    """(source, request, expected, now) for each check a fixture case makes (one, or one per step)."""
    if "steps" in case:
        return [(f"{source} step {index}", request, expected, step_now)
                for index, request, expected, step_now in story_requests(case, now)]
    return [(source, case["request"], case["expected"], case.get("now", now))]


def exact_rule_ids(expected: dict) -> list[str] | None:
    """The complete set of deny and warn rules a case pins (`exactly:`, or its older spelling `rule_ids:`)."""
    return expected.get("exactly", expected.get("rule_ids"))


def asserted(expected: dict) -> set[str]:
    """The rules a case asserts give their verdict: the ones the mutation check must find necessary."""
    return {*expected.get("fired", []), *(exact_rule_ids(expected) or []), *expected.get("obligations", [])}


def _outcome_words(rule_id: str, actual: dict) -> str:
    found = next((f for f in actual.get("findings", []) if f["rule_id"] == rule_id), None)
    if found is not None:
        missing = f" (missing {', '.join(found['missing_facts'])})" if found["missing_facts"] else ""
        return f"{found['outcome']}{missing}"
    if rule_id in actual.get("cleared", ()):
        return "cleared: the facts given rule it out"
    return "not checked: not in force on as_of, or not for this action"


def outcome_problems(expected: dict, actual: dict) -> list[str]:
    """A rule under `fired:` that did not give its verdict, and one under `cleared:` that was not cleared.
    (A rule under `fired:` that is only unknown is named by `unknown_problems`.)"""
    settled = {f["rule_id"] for f in actual.get("findings", []) if f["outcome"] in SETTLED}
    unknown = set(actual.get("unknown", []))
    problems = [f"fired: {rule_id} expected to fire, but {_outcome_words(rule_id, actual)}"
                for rule_id in sorted(set(expected.get("fired", [])) - settled - unknown)]
    problems += [f"cleared: {rule_id} expected cleared, but {_outcome_words(rule_id, actual)}"
                 for rule_id in sorted(set(expected.get("cleared", [])) - set(actual.get("cleared", [])))]
    return problems


def compare(expected: dict, actual: dict) -> list[str]:
    """The verdict; the rules the case names, each by its outcome; `exactly` and `obligations` exact;
    citations and missing facts must be present (`missing_facts: []`: none at all)."""
    problems = []
    if expected.get("verdict") != actual["verdict"]:
        problems.append(f"verdict: expected {expected.get('verdict')}, got {actual['verdict']}")
    for key, want in (("exactly", exact_rule_ids(expected)), ("obligations", expected.get("obligations"))):
        got = actual["rule_ids" if key == "exactly" else key]
        if want is not None and sorted(want) != got:
            problems.append(f"{key}: missing {sorted(set(want) - set(got))}, unexpected {sorted(set(got) - set(want))}")
    problems += outcome_problems(expected, actual)
    for key in ("citations", "missing_facts"):
        absent = sorted(set(expected.get(key, [])) - set(actual[key]))
        if absent:
            problems.append(f"{key}: expected {absent} among {actual[key]}")
    if expected.get("missing_facts") == [] and actual["missing_facts"]:
        problems.append(f"missing_facts: expected none (missing_facts: []), got {actual['missing_facts']}")
    problems += unknown_problems(expected, actual)
    if "as_of" in expected and expected["as_of"] != actual["as_of"]:
        problems.append(f"as_of: expected {expected['as_of']}, got {actual['as_of']}")
    return problems


def unknown_problems(expected: dict, actual: dict) -> list[str]:
    """A rule a case expects that warns only because facts are missing (its outcome is unknown)
    must be listed under `unknown:`: the case says it holds for want of facts, and fails when the
    facts given make the rule fire or clear. An id under `unknown:` must be unknown."""
    got = set(actual.get("unknown", []))
    want = set(expected.get("unknown", []))
    problems = []
    if want - got:
        problems.append(f"unknown: {', '.join(sorted(want - got))} expected unknown, but not (fired, cleared "
                        f"or not applicable) — remove it from `unknown:`")
    silent = sorted((asserted(expected) & got) - want)
    if silent:
        problems.append(f"unknown: {', '.join(silent)} only warn(s) because facts are missing "
                        f"({', '.join(actual.get('missing_facts', [])) or 'see missing_facts'}) — list "
                        f"{'it' if len(silent) == 1 else 'them'} under `unknown:` if the case means that, "
                        f"or give the facts")
    return problems


def diff_lines(expected: dict, actual: dict) -> list[str]:
    """A reader's diff of a fixture case: `-` expected but absent, `+` present but not expected."""
    if not actual or "verdict" not in actual:
        return []
    if expected.get("verdict") != actual["verdict"]:
        lines = [f"verdict: expected {expected.get('verdict')}, got {actual['verdict']}"]
    else:
        lines = [f"verdict: {actual['verdict']} (as expected)"]
    outcome = {f["rule_id"]: f for f in actual.get("findings", [])}

    def why_extra(name: str, extra: str) -> str:
        found = outcome.get(name)
        if found and found["outcome"] == "unknown":
            return f"unknown, not expected: missing {', '.join(found['missing_facts']) or 'facts'}"
        return extra if not found else extra.replace("fired", found["outcome"], 1)

    def why_absent(name: str, absent: str) -> str:
        if name in actual.get("cleared", ()):
            return f"{absent}: cleared, the facts given rule it out"
        return absent if "cleared" not in actual else f"{absent}: not checked, not in force on as_of or not for this action"

    exact = exact_rule_ids(expected)
    for key, want, label, absent, extra in (
            ("rule_ids", exact, "rule", "expected, did not fire", "fired, not expected"),
            ("obligations", expected.get("obligations"), "obligation", "expected, did not fire", "fired, not expected"),
            ("citations", expected.get("citations"), "citation", "expected, not cited", None),
            ("missing_facts", expected.get("missing_facts"), "missing fact", "expected, not reported missing", None)):
        want, got = set(want or []), set(actual.get(key, []))
        rows = [("-", name, why_absent(name, absent) if extra else absent) for name in sorted(want - got)]
        if extra and (exact if key == "rule_ids" else expected.get(key)) is not None:  # exact lists
            rows += [("+", name, why_extra(name, extra)) for name in sorted(got - want)]
        lines += [f"{sign} {label} {name}   ({why})" for sign, name, why in rows]
    lines += [f"- {p.split(': ', 1)[0]} rule {p.split(': ', 1)[1]}" for p in outcome_problems(expected, actual)]
    if "as_of" in expected and expected["as_of"] != actual["as_of"]:
        lines.append(f"as_of: expected {expected['as_of']}, got {actual['as_of']}")
    if expected.get("missing_facts") == [] and actual["missing_facts"]:
        lines.append(f"missing facts: expected none, got {', '.join(actual['missing_facts'])}")
    return lines + unknown_problems(expected, actual)


def _rel(path: Path) -> str:
    """A fixture's name as it reads in any checkout: relative to the project, or from its
    fixtures/ folder (a `rules diff` side is extracted to a temporary folder)."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        pass
    for parent in resolved.parents:
        if parent.name == "fixtures":
            return resolved.relative_to(parent.parent).as_posix()
    return str(path)
