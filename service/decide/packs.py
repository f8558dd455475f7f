"""Company policy packs: rules/companies/<tenant>/, a company's process configuration and its own
rules on top of the statutes, which bind every tenant (what a pack may not do:
service/decide/pack_checks.py; how one goes live: service/flows/packs_live.py; docs/policy-packs.md).

A pack's rule book shares everything of the serving rule book but what the pack changes: the
statutes' and process rules' compiled engine (a pack's own rules get a small engine of their own,
fired after it), the vocabulary, parameters and calendar. Its context holds the pack's approval
chains and SLAs, which the process rules read through the derived case facts. A tenant without a
pack is served by the rule book of rules/ itself (the default pack), so 10,000 tenants cost one
rule set plus one small one per tenant that has a pack."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import ValidationError

from schemas.errors import flatten_messages
from service.decide.citations import load_citation_files
from service.decide.engine import RuleEngine
from service.decide.pack_checks import citation_problems, rule_id_problems, stray_files, weakening_keys
from service.decide.pack_file import PackFileSchema
from service.decide.process_config import ProcessConfig, ProcessConfigError
from service.decide.rule import Problem, Rule, check_rule_file
from service.decide.rulebook import COMPANIES, RuleBook, RuleLoadError, content_version, overlaps
from service.decide.tree_checks import policy_clause_clashes
from service.decide.yamlfile import YAMLError, load_yaml

COMPANY = "company"            # the family of a pack's own rules
PACK_FILE = "pack.yaml"


@dataclass(frozen=True)
class Pack:
    """What a pack rule book is built from, beside the statutes."""
    tenant: str
    owner: str
    regions: tuple[str, ...]
    webhook: dict | None       # endpoint, secret_env (the name of the variable, never the secret)
    digest: str                # sha256: of the pack's own files
    statutes: str              # the version of the rule set it was built on
    folder: Path = field(compare=False)


def pack_folder(root: Path, tenant: str) -> Path:
    return Path(root) / COMPANIES / tenant


def pack_tenants(root: Path) -> list[str]:
    """The tenants that have a pack, in order."""
    companies = Path(root) / COMPANIES
    return sorted(p.name for p in companies.iterdir() if p.is_dir()) if companies.is_dir() else []


def pack_digest(root: Path, tenant: str) -> str:
    return content_version(pack_folder(root, tenant))


def pack_version(statutes: str, tenant: str, digest: str) -> str:
    """`sha256:<16 hex of the statutes' version>+<tenant>@<12 hex of the pack's digest>`: both in an
    answer's ruleset_version, within the trail's 80 characters (a tenant with a pack is at most 43)."""
    return f"{statutes[:23]}+{tenant}@{digest.partition(':')[2][:12]}"


class PackEngine:
    """The serving rule set's engine, then the pack's own rules' (None: a pack of configuration only).
    Both go through the one process-wide engine lock (service/decide/engine.py)."""

    def __init__(self, statutes, own: RuleEngine | None):
        self.statutes, self.own = statutes, own

    def fire(self, fact: dict) -> list[str]:
        keys = self.statutes.fire(fact)
        return keys + [k for k in self.own.fire(fact) if k not in keys] if self.own is not None else keys

    def close(self) -> None:
        """Frees the pack's own rules only: the shared engine belongs to the rule book it came from."""
        if self.own is not None:
            self.own.close()


@dataclass
class ValidatedPack:
    tenant: str
    info: dict | None              # pack.yaml as loaded
    citations: dict                # the catalog and the pack's own clauses
    process: ProcessConfig | None  # None: the default configuration
    rules: list[Rule]
    problems: list[Problem]


def validate_pack(root: Path, tenant: str, vocabulary, context, citations: dict, base_rules) -> ValidatedPack:
    """Every check of one pack against the rule set it goes on (`rules lint --pack` and the loader)."""
    root = Path(root)
    folder = pack_folder(root, tenant)
    problems = stray_files(root, folder)
    for path in sorted(folder.rglob("*.yaml")):
        problems += weakening_keys(root, path)
    info = _pack_file(root, folder, tenant, problems)
    own_citations, citation_load = load_citation_files(root, [folder / "citations.yaml"]) \
        if (folder / "citations.yaml").is_file() else ({}, [])
    problems += [Problem(f, None, where, reason) for f, where, reason in citation_load]
    problems += citation_problems(own_citations, citations)
    merged = {**citations, **{ref: c for ref, c in own_citations.items() if ref not in citations}}
    problems += [Problem(f, None, where, reason) for f, where, reason in policy_clause_clashes(merged)
                 if f.startswith(f"{COMPANIES}/{tenant}/")]
    process = _process(root, folder, merged, problems)
    actions_known = set(vocabulary["action.type"].values)
    rules: list[Rule] = []
    for path in sorted((folder / "rules").glob("*.yaml")):
        file_problems, file_rules = check_rule_file(root, COMPANY, path, vocabulary, merged, actions_known)
        problems += file_problems
        rules += file_rules
    base_ids = {r.id: r.file for r in base_rules}
    problems += rule_id_problems(tenant, rules, base_ids)
    problems += overlaps(rules)
    return ValidatedPack(tenant, info, merged, process, rules, problems)


def _pack_file(root: Path, folder: Path, tenant: str, problems: list[Problem]) -> dict | None:
    path = folder / PACK_FILE
    rel = path.relative_to(root).as_posix()
    if not path.is_file():
        problems.append(Problem(rel, None, "", f"a pack needs its {PACK_FILE} (docs/policy-packs.md)"))
        return None
    try:
        info = PackFileSchema().load(load_yaml(path))
    except YAMLError as exc:
        problems.append(Problem(rel, None, "yaml", str(exc).replace("\n", " ")))
        return None
    except ValidationError as exc:
        problems += [Problem(rel, None, where, reason) for where, reason in flatten_messages(exc.messages)]
        return None
    if info["tenant"] != tenant:
        problems.append(Problem(rel, None, "tenant", f"the pack in companies/{tenant}/ is for tenant "
                                                     f"{tenant!r}, not {info['tenant']!r}"))
    return info


def _process(root: Path, folder: Path, citations: dict, problems: list[Problem]) -> ProcessConfig | None:
    config = folder / "config"
    present = [name for name in ("approval_chains.yaml", "sla.yaml") if (config / name).is_file()]
    if not present:
        return None
    if len(present) == 1:
        problems.append(Problem((config / present[0]).relative_to(root).as_posix(), None, "",
                                "a pack's configuration is both approval_chains.yaml and sla.yaml (the SLA is "
                                "set per step of the chains): add the other, or remove this one for the default"))
        return None
    try:
        process = ProcessConfig.load(config)
    except ProcessConfigError as exc:
        problems.append(Problem(Path(exc.path).resolve().relative_to(root.resolve()).as_posix(), None,
                                type(exc).__name__, str(exc)))
        return None
    sla = (config / "sla.yaml").relative_to(root).as_posix()
    problems += [Problem(sla, None, "references", f"unknown citation {ref!r}")
                 for ref in process.references if ref not in citations]
    return process


def load_pack(base: RuleBook, tenant: str) -> RuleBook:
    """The tenant's rule book on `base` (the serving statutes). Raises RuleLoadError, each problem on
    its file; the engine of the pack's own rules is compiled once, here."""
    checked = validate_pack(base.root, tenant, base.vocabulary, base.context, base.citations, base.rules.values())
    if checked.problems:
        raise RuleLoadError(checked.problems)
    own = {r.key: r for r in checked.rules}
    conditions, actions = {}, {}
    for rule in own.values():
        for key, condition in rule.engine_conditions().items():
            conditions[key], actions[key] = condition, rule.actions
    engine = PackEngine(base.engine, RuleEngine(conditions, actions=actions) if own else None)
    return pack_rulebook(base, checked, engine, pack_digest(base.root, tenant))


def pack_rulebook(base: RuleBook, checked: ValidatedPack, engine, digest: str) -> RuleBook:
    """The pack's rule book from its checked files (engine None: a recorded version, read back to
    render its decisions, service/record/rulesets.py)."""
    tenant, own, info = checked.tenant, {r.key: r for r in checked.rules}, checked.info
    pack = Pack(tenant=tenant, owner=info["owner"], regions=tuple(info["regions"]),
                webhook=dict(info["webhook"]) if info.get("webhook") else None, digest=digest,
                statutes=base.version, folder=pack_folder(base.root, tenant))
    context = dataclasses.replace(base.context, process=checked.process or base.context.process)
    rules = {**base.rules, **_citing_own_configuration(base, checked), **own}
    return RuleBook(root=base.root, version=pack_version(base.version, tenant, digest), vocabulary=base.vocabulary,
                    rules=rules, engine=engine, context=context, names=base.names,
                    citations=checked.citations, pack=pack)


def _citing_own_configuration(base: RuleBook, checked: ValidatedPack) -> dict[str, Rule]:
    """The process rules that cite the default configuration's clauses (the SLA's POL-SLA-6.1) cite
    the pack's own instead (its sla.yaml `references`): a finding says 1 working day and cites the
    clause that says so, not the default policy's 2."""
    if checked.process is None:
        return {}
    default = set(base.context.process.references)
    own = [checked.citations[ref].as_finding("basis") for ref in checked.process.references]
    out = {}
    for key, rule in base.rules.items():
        if rule.family == "process" and any(c["ref"] in default for c in rule.citations):
            out[key] = dataclasses.replace(rule, citations=[*own, *(c for c in rule.citations
                                                                    if c["ref"] not in default)])
    return out
