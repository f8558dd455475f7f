"""`rules lint --pack T` and `rules test --pack T` (`--pack all`: every pack): a company's pack
checked as the service checks it before it goes live (service/decide/packs.py, pack_gate.py)."""
from __future__ import annotations

from pathlib import Path

import click

from service.decide.problem_lines import place_problems
from service.decide.packs import pack_tenants, validate_pack


def tenants_of(rules_dir: Path, given: tuple[str, ...]) -> list[str]:
    """The packs named (`all`: every pack under companies/), each checked to exist."""
    every = pack_tenants(rules_dir)
    wanted = every if "all" in given else list(dict.fromkeys(given))
    for tenant in wanted:
        if tenant not in every:
            raise click.BadParameter(f"no pack {tenant} in {rules_dir}/companies/ (packs: {', '.join(every) or 'none'})",
                                     param_hint="--pack")
    return wanted


def lint_packs(rules_dir: Path, tenants: list[str], shown) -> int:
    """Each pack's problems, FILE:LINE: error: ...; the number of errors. Checked against the
    statutes' files as they are (a statute that does not load is reported by the lint itself)."""
    from service.decide.rulebook import validate_rules

    base = validate_rules(rules_dir)
    if base.vocabulary is None or base.context is None:
        click.echo("packs not checked: the statutes' facts or context do not load (see above)")
        return 1
    errors = 0
    for tenant in tenants:
        checked = validate_pack(rules_dir, tenant, base.vocabulary, base.context, base.citations, base.rules)
        placed = place_problems(rules_dir, checked.problems)
        for problem in placed:
            click.echo(f"{shown(rules_dir, problem.file)}{f':{problem.line}' if problem.line else ''}: error: "
                       f"{problem.what}")
        errors += len(placed)
        click.echo(f"{shown(rules_dir, f'companies/{tenant}')}: pack {tenant}, {len(checked.rules)} company rule(s) "
                   f"checked, {len(placed)} error(s)")
    return errors


def test_packs(base, tenants: list[str], shared: Path) -> list:
    """Every case of each pack's gate (service/decide/pack_gate.py), as `rules test` results."""
    from service.decide.pack_gate import pack_results
    from service.decide.packs import load_pack

    results = []
    for tenant in tenants:
        pack = load_pack(base, tenant)
        try:
            results += pack_results(pack, base, shared)
        finally:
            pack.engine.close()
    return results
