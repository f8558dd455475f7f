"""What makes the loader refuse a company's pack: anything that could lower a statutory verdict.

Statutes (rules/labor_law/) bind every tenant. A pack can only ADD findings: its own rules (deny,
warn or obligation), its own policy clauses, its own process configuration, which the process
rules of rules/process/ read. So a pack is refused, each problem on its file and line, when it:
- holds a file outside what a pack may hold (statutes, their parameters, the fact vocabulary, the
  calendar, the classification tables are the same for every tenant);
- writes a key that would remove or lower a finding (allow, suppress, override, downgrade, ...):
  no such mechanism exists, and a pack that reaches for one says what its author expects;
- gives a rule a verdict that is not deny, warn or obligation;
- reuses a rule id of the statutes or of the process rules, or names its rules outside its own
  namespace (`<tenant>.`), so no id of another rule set can ever be taken;
- defines a citation the catalog already has (a statute's text, or a shared policy clause), or
  cites the law as its own: statutory texts are the catalog's.
The verdict assembly itself (the most severe finding wins; an obligation never changes an allow)
means an added rule can only make a verdict more severe: tests/test_pack_property.py checks it on
every fixture and every shipped pack."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from service.decide.rule import Problem
from service.decide.yamlfile import StrictLoader

# What a pack may hold, relative to its folder.
ALLOWED = (re.compile(r"^pack\.yaml$"), re.compile(r"^citations\.yaml$"),
           re.compile(r"^config/(approval_chains|sla)\.yaml$"), re.compile(r"^rules/[^/]+\.yaml$"),
           re.compile(r"^fixtures/.+_test\.yaml$"), re.compile(r"^README\.md$"))
# Keys that would take a finding away or lower it: refused wherever they appear (outside requests).
WEAKENING = frozenset({
    "allow", "allows", "suppress", "suppresses", "override", "overrides", "downgrade", "downgrades",
    "replace", "replaces", "disable", "disables", "exempt", "exempts", "waive", "waives", "remove",
    "removes", "skip", "skips", "severity", "max_verdict", "instead_of"})
OWN_VERDICTS = ("deny", "warn", "obligation")
_WHY = "a pack can only add findings; statutes bind every tenant (docs/policy-packs.md)"


def stray_files(root: Path, pack_root: Path) -> list[Problem]:
    """Every file of the pack folder a pack may not hold."""
    out = []
    for path in sorted(p for p in pack_root.rglob("*") if p.is_file()):
        rel = path.relative_to(pack_root).as_posix()
        if not any(pattern.match(rel) for pattern in ALLOWED):
            out.append(Problem(path.relative_to(root).as_posix(), None, "",
                               f"a pack may hold only pack.yaml, citations.yaml, config/approval_chains.yaml, "
                               f"config/sla.yaml, rules/*.yaml and fixtures/*_test.yaml: statutes, their "
                               f"parameters, the facts, the calendar and the classification are the same for "
                               f"every tenant — {_WHY}"))
    return out


def weakening_keys(root: Path, path: Path) -> list[Problem]:
    """Keys that would lower a finding, and rule verdicts other than deny, warn or obligation."""
    rel = path.relative_to(root).as_posix()
    try:
        with open(path, encoding="utf-8") as fh:
            node = yaml.compose(fh, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []  # the file's own load reports it
    out: list[Problem] = []
    _walk(node, [], rel, out)
    return out


def _walk(node, where: list[str], rel: str, out: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
            if key in ("request", "requests"):
                continue  # a request's fields are the contract's, checked when it runs
            path = [*where, key]
            if key.lower() in WEAKENING:
                out.append(Problem(rel, None, ".".join(path),
                                   f"`{key}` would remove or lower a finding — {_WHY}"))
                continue
            if key == "verdict" and len(where) == 2 and where[0] == "rules" and isinstance(value, yaml.ScalarNode) \
                    and value.value not in OWN_VERDICTS:
                out.append(Problem(rel, None, ".".join(path),
                                   f"verdict `{value.value}`: a company rule gives deny, warn or obligation, "
                                   f"never a verdict that would lower another's — {_WHY}"))
            _walk(value, path, rel, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, [*where, str(index)], rel, out)


def rule_id_problems(tenant: str, rules, base_ids: dict[str, str]) -> list[Problem]:
    """A pack's rules: ids in the tenant's namespace, none an id of the statutes or process rules.
    `base_ids`: rule id -> the file that holds it."""
    out = []
    for rule in rules:
        if rule.id in base_ids:
            out.append(Problem(rule.file, rule.id, "id",
                               f"reuses the id of the rule in {base_ids[rule.id]}: a pack cannot replace or "
                               f"redefine a statute or process rule — give the company rule its own id, "
                               f"{tenant}.<name> — {_WHY}", rule.index))
        elif not rule.id.startswith(f"{tenant}."):
            out.append(Problem(rule.file, rule.id, "id",
                               f"a company rule's id starts with the tenant: {tenant}.<name>, so it can never "
                               f"take the id of a statute, a process rule or another company's rule", rule.index))
    return out


def citation_problems(pack_citations: dict, base_citations: dict) -> list[Problem]:
    """A pack's citations: the company's own policy clauses, never a text the catalog has."""
    out = []
    for ref, citation in sorted(pack_citations.items()):
        if ref in base_citations:
            out.append(Problem(citation.file, None, f"citations.{ref}",
                               f"{ref} is already in {base_citations[ref].file}: a pack cannot change the text "
                               f"or dates of a statutory citation or a shared policy clause — cite it as it "
                               f"is, or give the company's clause its own ref — {_WHY}"))
        elif citation.kind != "policy":
            out.append(Problem(citation.file, None, "kind",
                               f"a pack's citations are the company's own policy clauses (kind: policy); "
                               f"statutory texts are the catalog's, rules/citations/labor_law.yaml — {_WHY}"))
    return out
