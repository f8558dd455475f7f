"""`rules diff`: two rule sets (folders or git revisions) compared rule by rule, and the fixtures
and examples whose outcome changes between them; with a database, the open cases whose next
step's verdict changes too (service/tools/case_impact.py)."""
from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from service.config import PROJECT_ROOT
from service.decide.citations import load_citations
from service.decide.rulebook import Problem, Rule, RuleBook, load_rulebook, rule_files, validate_rules


@dataclass
class Side:
    label: str            # what the user named: a folder or a git revision
    rules: Path
    fixtures: Path | None


@dataclass
class RuleChange:
    id: str
    key: str              # the NEW version's key
    file: str
    fields: list[str]     # condition, verdict, citations, dates, messages, title, actions, examples, notify, file
    details: list[str] = field(default_factory=list)


@dataclass
class OutcomeChange:
    source: str
    old: dict | None      # summary (verdict, rule_ids, obligations), None when it could not be decided
    new: dict | None
    old_error: str | None = None
    new_error: str | None = None

    @property
    def verdict_changed(self) -> bool:
        return (self.old or {}).get("verdict") != (self.new or {}).get("verdict")


@dataclass
class Diff:
    old: Side
    new: Side
    added: list[Rule]
    removed: list[Rule]
    changed: list[RuleChange]
    citations_changed: list[str]          # "+ REF", "- REF", "~ REF (text)"
    files_changed: list[str]              # other rule-set files whose content differs
    outcomes: list[OutcomeChange]
    cases_run: int
    old_problems: list[Problem]
    new_problems: list[Problem]
    # NEW's rules that OLD has but cannot load, and OLD's that NEW cannot: neither added nor removed.
    old_unloaded: list[Rule] = field(default_factory=list)
    new_unloaded: list[Rule] = field(default_factory=list)
    old_loads_nothing: bool = False   # its facts do not load: none of its rules is compared
    new_loads_nothing: bool = False
    cases: object | None = None       # CaseImpact: the open cases, when a database was given
    cases_not_compared: str | None = None   # why there is none

    @property
    def ok(self) -> bool:
        return not self.old_problems and not self.new_problems


_RULE_FIELDS = {
    "condition": lambda r: r.when,
    "verdict": lambda r: r.verdict,
    "citations": lambda r: r.cited,
    "dates": lambda r: (r.effective_from, r.effective_to),
    "messages": lambda r: r.message,
    "title": lambda r: r.title,
    "actions": lambda r: sorted(r.actions),
    "examples": lambda r: r.examples,
    "notify": lambda r: r.notify,
    "file": lambda r: r.file,
}


def _describe(name: str, old: Rule, new: Rule) -> str:
    if name == "verdict":
        return f"verdict: {old.verdict} -> {new.verdict}"
    if name == "dates":
        return (f"dates: {old.effective_from}..{old.effective_to or ''} -> "
                f"{new.effective_from}..{new.effective_to or ''}")
    if name == "actions":
        plus, minus = sorted(set(new.actions) - set(old.actions)), sorted(set(old.actions) - set(new.actions))
        return f"actions: +{plus} -{minus}"
    if name == "citations":
        fmt = lambda r: [f"{c['ref']}({c.get('role', 'basis')})" for c in r.cited]  # noqa: E731
        return f"citations: {fmt(old)} -> {fmt(new)}"
    if name == "condition":
        keys = [k for k in dict.fromkeys([*old.when, *new.when]) if old.when.get(k) != new.when.get(k)]
        parts = [f"{k}: {_flow(old.when[k]) if k in old.when else '(absent)'} -> "
                 f"{_flow(new.when[k]) if k in new.when else '(absent)'}" for k in keys]
        return "condition: " + "; ".join(parts)
    if name == "messages":
        langs = [lang for lang in sorted(set(old.message) | set(new.message))
                 if old.message.get(lang) != new.message.get(lang)]
        return f"messages: {', '.join(langs)} changed"
    if name == "examples":
        return f"examples: {len(old.examples)} -> {len(new.examples)}"
    if name == "file":
        return f"file: {old.file} -> {new.file}"
    return f"{name} changed"


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6).strip()
    return text.removesuffix("...").strip()  # a plain scalar ends its document with "..."


def compare_rules(old: list[Rule], new: list[Rule]) -> tuple[list[Rule], list[Rule], list[RuleChange]]:
    """Added, removed and changed rules: by version key, then by id when one version moved its dates."""
    old_by_key = {r.key: r for r in old}
    new_by_key = {r.key: r for r in new}
    pairs = [(old_by_key[k], new_by_key[k]) for k in new_by_key if k in old_by_key]
    only_old = [r for k, r in old_by_key.items() if k not in new_by_key]
    only_new = [r for k, r in new_by_key.items() if k not in old_by_key]
    for rule_id in sorted({r.id for r in only_old} & {r.id for r in only_new}):
        olds = [r for r in only_old if r.id == rule_id]
        news = [r for r in only_new if r.id == rule_id]
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
            only_old.remove(olds[0])
            only_new.remove(news[0])
    changed = []
    for o, n in sorted(pairs, key=lambda p: (p[1].file, p[1].key)):
        names = [name for name, get in _RULE_FIELDS.items() if get(o) != get(n)]
        if names:
            changed.append(RuleChange(n.id, n.key, n.file, names, [_describe(x, o, n) for x in names]))
    return (sorted(only_new, key=lambda r: (r.file, r.key)), sorted(only_old, key=lambda r: (r.file, r.key)),
            changed)


def unloaded(missing: list[Rule], checked) -> tuple[list[Rule], list[Rule]]:
    """Of the rules a side lacks (`missing`), those it has but cannot load, and the rest.

    A side whose facts do not load loads no rule at all. Otherwise a rule is one it cannot load
    when a problem names its id in its file, or when the side has problems in that file and loads
    no rule of it (a file that does not parse, or fails its schema, loads none)."""
    if checked.vocabulary is None:
        return list(missing), []
    named = {(p.file, p.rule_id) for p in checked.problems if p.rule_id}
    files_with_problems = {p.file for p in checked.problems}
    files_loaded = {r.file for r in checked.rules}
    broken_files = files_with_problems - files_loaded
    cannot, gone = [], []
    for rule in missing:
        (cannot if (rule.file, rule.id) in named or rule.file in broken_files else gone).append(rule)
    return cannot, gone


def _citation_changes(old_root: Path, new_root: Path) -> list[str]:
    old, _ = load_citations(old_root)
    new, _ = load_citations(new_root)
    out = [f"+ {ref}" for ref in sorted(set(new) - set(old))]
    out += [f"- {ref}" for ref in sorted(set(old) - set(new))]
    for ref in sorted(set(old) & set(new)):
        a, b = old[ref], new[ref]
        what = [name for name in ("text", "law", "law_en", "article", "item", "effective_from", "effective_to")
                if getattr(a, name) != getattr(b, name)]
        if what:
            out.append(f"~ {ref} ({', '.join(what)})")
    return out


def _other_files(old_root: Path, new_root: Path) -> list[str]:
    """Facts, parameters, calendar and config files whose content differs (rule and citation files are diffed above)."""
    def files(root: Path) -> dict[str, bytes]:
        rules = {p for _, p in rule_files(root)}
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and p.suffix in (".yaml", ".yml") and p not in rules
                and p.relative_to(root).parts[0] != "citations"}
    a, b = files(old_root), files(new_root)
    return ([f"+ {f}" for f in sorted(set(b) - set(a))] + [f"- {f}" for f in sorted(set(a) - set(b))]
            + [f"~ {f}" for f in sorted(set(a) & set(b)) if a[f] != b[f]])


def _outcome_key(summary: dict | None) -> tuple | None:
    if summary is None:
        return None
    return summary["verdict"], tuple(summary["rule_ids"]), tuple(summary["obligations"])


def outcome_changes(old_book: RuleBook, new_book: RuleBook, fixture_paths, progress=None
                    ) -> tuple[list[OutcomeChange], int]:
    """Every fixture check (each step of a story) and every example of NEW's rules, decided by both rule
    sets; the ones whose verdict, rule ids or obligations differ."""
    from service.tools.scenarios import fixture_checks, load_fixture_cases, observe, rule_example_cases

    checks = [(source, example["request"], None) for source, _, example in rule_example_cases(new_book)]
    for path in fixture_paths:
        for source, case, now in load_fixture_cases(Path(path)):
            checks += [(s, request, step_now) for s, request, _, step_now in fixture_checks(case, now, source)]
    changes = []
    for done, (source, request, now) in enumerate(checks, start=1):
        a, b = _observed(observe, old_book, request, now), _observed(observe, new_book, request, now)
        if _outcome_key(a.actual) != _outcome_key(b.actual) or a.error != b.error:
            keep = ("verdict", "rule_ids", "obligations")
            changes.append(OutcomeChange(source, a.actual and {k: a.actual[k] for k in keep},
                                         b.actual and {k: b.actual[k] for k in keep}, a.error, b.error))
        if progress is not None:
            progress(done, len(checks))
    return changes, len(checks)


def _observed(observe, book: RuleBook, request: dict, now):
    """One side's answer; a rule set this code cannot decide with (an older one lacking a parameter
    the fact derivation now reads) is reported as that side's error, not a crash of the diff."""
    from service.tools.scenarios import Observed
    try:
        return observe(book, request, now)
    except Exception as exc:  # noqa: BLE001 (any failure of the other side is that side's answer)
        return Observed(None, f"this code cannot decide it on that rule set: {type(exc).__name__}: {exc}")


def diff(old: Side, new: Side, fixture_paths=None, progress=None, open_cases=None) -> Diff:
    """Compare two rule sets. Fixtures: `fixture_paths`, else NEW's fixtures/, else the project's.
    `open_cases(old_book, new_book)`: the open cases' CaseImpact, or a str saying why there is none."""
    from service.tools.scenarios import default_fixture_paths

    old_checked, new_checked = validate_rules(old.rules), validate_rules(new.rules)
    added, removed, changed = compare_rules(old_checked.rules, new_checked.rules)
    old_unloaded, added = unloaded(added, old_checked)
    new_unloaded, removed = unloaded(removed, new_checked)
    if fixture_paths is None:
        fixture_paths = (sorted(new.fixtures.rglob("*_test.yaml")) if new.fixtures is not None
                         else default_fixture_paths())
    outcomes, run, cases = [], 0, "a rule set does not load"
    if not old_checked.problems and not new_checked.problems:
        old_book, new_book = load_rulebook(old.rules), load_rulebook(new.rules)
        try:
            outcomes, run = outcome_changes(old_book, new_book, fixture_paths, progress)
            cases = open_cases(old_book, new_book) if open_cases is not None else "no database given"
        finally:
            old_book.engine.close()
            new_book.engine.close()
    return Diff(old, new, added, removed, changed, _citation_changes(old.rules, new.rules),
                _other_files(old.rules, new.rules), outcomes, run, old_checked.problems, new_checked.problems,
                old_unloaded, new_unloaded, old_checked.vocabulary is None, new_checked.vocabulary is None,
                None if isinstance(cases, str) else cases, cases if isinstance(cases, str) else None)


def resolve_side(spec: str, workdir: Path, repo: Path = PROJECT_ROOT) -> Side:
    """A folder (a rules folder, or a checkout holding rules/ and fixtures/) or a git revision of repo,
    extracted under workdir with `git archive`."""
    path = Path(spec)
    if path.is_dir():
        if (path / "rules" / "facts").is_dir():
            fixtures = path / "fixtures"
            return Side(spec, path / "rules", fixtures if fixtures.is_dir() else None)
        if (path / "facts").is_dir():
            sibling = path.parent / "fixtures"
            return Side(spec, path, sibling if sibling.is_dir() and path.name == "rules" else None)
        raise ValueError(f"{spec}: not a rules folder (no facts/) nor a folder holding rules/")
    probe = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise ValueError(f"{spec}: neither a folder nor a git revision of {repo}")
    commit = probe.stdout.strip()
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "--name-only", commit],
                             capture_output=True, text=True, check=True).stdout.split()
    if "rules" not in listing:
        raise ValueError(f"{spec}: revision {commit[:12]} has no rules/")
    wanted = [p for p in ("rules", "fixtures") if p in listing]
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, "--", *wanted],
                             capture_output=True, check=True).stdout
    target = Path(workdir) / commit[:12]
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return Side(f"{spec} ({commit[:12]})", target / "rules",
                target / "fixtures" if "fixtures" in wanted else None)

