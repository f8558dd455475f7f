"""Checks of the fact vocabulary against what computes and carries its facts: a derived fact that
nothing computes, a declared derivation that is wrong, a request fact on a field the structure in
schemas/ already holds. Each is a load problem (rulebook.validate_rules), so `rules lint` reports
it on the fact's line and the start-up gate refuses it."""
from __future__ import annotations

from pathlib import Path

from service.decide import derivations
from service.decide.facts.derived import DERIVED
from service.decide.suggest import did_you_mean
from service.decide.tree_checks import Found
from service.decide.yamlfile import load_yaml


def fact_files(root: Path) -> dict[str, str]:
    """fact name -> the file of rules/facts/ declaring it (to say where a problem is)."""
    return {name: f"facts/{path.name}" for path in sorted((root / "facts").glob("*.yaml"))
            for name in (load_yaml(path) or {}).get("facts") or {}}


def underived_facts(root: Path, vocabulary) -> Found:
    """A `source: derived` fact nothing computes (facts/derived.py, or its own `derive:`) would
    leave every rule reading it unknown, so warning on every check: refused. A range is computed
    through its bounds."""
    computed = DERIVED | {name for name, spec in vocabulary.facts.items() if spec.derive is not None}
    underived = [name for name, spec in vocabulary.facts.items() if spec.source == "derived"
                 and name not in computed and not (spec.bounds and set(spec.bounds) <= computed)]
    if not underived:  # the files are read again only to say where
        return []
    defined_in = fact_files(root)
    return [(defined_in.get(name, "facts/"), f"facts.{name}",
             "source: derived, but nothing computes this fact: declare its derivation (derive:, "
             "rules/README.md), declare it as a request field, or ask a developer"
             + did_you_mean(name, computed)) for name in underived]


def derivation_problems(root: Path, vocabulary, parameters) -> Found:
    """What is wrong with the declared derivations (`derive:`), on the fact's line."""
    if not any(spec.derive is not None for spec in vocabulary.facts.values()):
        return []
    found = derivations.check(vocabulary, parameters)
    defined_in = fact_files(root) if found else {}
    return [(defined_in.get(p.fact, "facts/"), f"facts.{p.fact}.{p.path}", p.reason) for p in found]


def request_field_clashes(root: Path, vocabulary) -> Found:
    """A request fact the structure of the check request (schemas/) already holds: refused, or
    the contract built from the vocabulary would replace a field Python reads."""
    from schemas.request_contract import clashes
    found = clashes(vocabulary)
    defined_in = fact_files(root) if found else {}
    return [(defined_in.get(name, "facts/"), f"facts.{name}", reason) for name, reason in found]
