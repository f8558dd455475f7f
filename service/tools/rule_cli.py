"""`rules` commands for the legal team and QA: lint, test, coverage, diff (logic in service/tools/lint.py, coverage.py, diff.py).

    separation-guard rules lint [--rules-dir DIR]
    separation-guard rules test [--junit FILE]
    separation-guard rules coverage
    separation-guard rules diff OLD NEW        # two folders or two git revisions; open cases too
    separation-guard rules explain FILE [--json]   # the answer to a check request, as the EHR sees it

They also run as `python -m service.tools.rule_cli ...`. None builds the service's app, so they
work on rule files too broken for the service to start; only `diff` uses it, for the open cases
in its database, when run as `separation-guard` (without it, it says so and compares the rest).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from service.config import PROJECT_ROOT


def default_rules_dir() -> Path:
    """The app's RULES_DIR inside an app context, else SEPARATION_GUARD_RULES_DIR (what the
    service reads too), else rules/. Never by building the app: that would load and gate the
    very rules these commands check."""
    from flask import current_app, has_app_context

    if has_app_context():
        return Path(current_app.config["RULES_DIR"])
    return Path(os.environ.get("SEPARATION_GUARD_RULES_DIR") or PROJECT_ROOT / "rules")


def _rules_dir_option(fn):
    return click.option("--rules-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="The rules folder (default: the service's RULES_DIR, rules/).")(fn)


def _fixtures_option(fn):
    return click.option("--fixtures", "fixtures", type=click.Path(exists=True, path_type=Path), multiple=True,
                        help="Fixture files or folders (*_test.yaml); default: fixtures/.")(fn)


def _fixture_paths(given) -> list[Path]:
    from service.tools.scenarios import default_fixture_paths

    if not given:
        return default_fixture_paths()
    out = []
    for path in given:
        out += sorted(path.rglob("*_test.yaml")) if path.is_dir() else [path]
    return out


def _progress(every: int = 25):
    def report(done: int, total: int) -> None:
        if total >= every and (done % every == 0 or done == total):
            click.echo(f"  ... {done}/{total}", err=True)
    return report


def _load(rules_dir: Path):
    """The rule book, or exit 1 printing each problem with its line (the lint's view of it)."""
    from service.tools.lint import lint
    from service.decide.rulebook import RuleLoadError, load_rulebook

    try:
        return load_rulebook(rules_dir)
    except RuleLoadError:
        report = lint(rules_dir)
        for issue in report.errors:
            click.echo(_format(rules_dir, issue), err=True)
        click.echo(f"{rules_dir}: {len(report.errors)} error(s); nothing was run", err=True)
        sys.exit(1)


def _shown(root: Path, rel: str) -> str:
    """root/rel as the user would type it: relative to the working directory when it is below it."""
    path = (Path(root) / rel) if rel else Path(root)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _format(root: Path, issue) -> str:
    where = _shown(root, issue.file) + (f":{issue.line}" if issue.line else "")
    rule = f" rule {issue.rule_id}" if issue.rule_id else ""
    field = f" {issue.field}:" if issue.field else ""
    return f"{where}: {issue.severity}:{rule}{field} {issue.reason}"


class _RuleCommands(click.Group):
    """The last resort: whatever a command did not foresee is one line naming the file when known,
    and exit 1, never a traceback for the legal team to read."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:  # noqa: BLE001
            from service.tools.scenarios import one_line

            where = getattr(exc, "file", None) or getattr(exc, "filename", None)
            text = one_line(exc)
            prefix = f"{where}: " if where and str(where) not in text else ""
            click.echo(f"{prefix}error: {text} — the command stopped here; `rules lint` names every "
                       f"problem of the rule files", err=True)
            ctx.exit(1)


@click.group("rules", cls=_RuleCommands,
             help="Lint, test, coverage, diff and explain of the rule files (for the legal team and QA).")
def rules_group():
    pass


def _pack_option(fn):
    return click.option("--pack", "packs", multiple=True, metavar="TENANT",
                        help="Also the company's pack rules/companies/TENANT/ (repeatable; `all`: every pack).")(fn)


@rules_group.command("lint")
@_rules_dir_option
@_pack_option
def lint_command(rules_dir, packs):
    """Check every rule, fact, citation, parameter and config file, without building the engine.

    Prints FILE:LINE: error|warning: rule ID FIELD: what is wrong. Exit 1 on any error.
    """
    from service.tools.lint import lint
    from service.tools.pack_cli import lint_packs, tenants_of

    rules_dir = rules_dir or default_rules_dir()
    if not (rules_dir / "facts").is_dir():
        raise click.BadParameter(f"{rules_dir} is not a rules folder (no facts/)", param_hint="--rules-dir")
    pack_errors = lint_packs(rules_dir, tenants_of(rules_dir, packs), _shown) if packs else 0
    report = lint(rules_dir)
    for issue in report.issues:
        click.echo(_format(rules_dir, issue))
    click.echo(f"{_shown(rules_dir, '')}: {report.rules_checked} rule(s) "
               f"({report.rule_versions_checked} rule version(s)) checked, "
               f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    sys.exit(0 if report.ok and not pack_errors else 1)


@rules_group.command("explain")
@click.argument("request_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_rules_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the raw answer (JSON), as POST /v1/checks returns it.")
def explain_command(request_file, rules_dir, as_json):
    """Decide the check request in FILE (JSON or YAML, as the EHR sends it) and print the answer:
    verdict, each finding (outcome, title zh/en, missing facts, citations), then every rule checked.

    Nothing is recorded: the answer has no decision_id and no receipt. A request without as_of is
    decided as of today in China, as the service would."""
    from service.tools.explain import RequestFileError, answer, print_answer, read_request

    book = _load(rules_dir or default_rules_dir())
    try:
        try:  # the contract of these rules: a request field their vocabulary declares is accepted
            request = read_request(request_file, book.request_schema)
        except RequestFileError as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)
        result = answer(book, request)
    finally:
        book.engine.close()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_answer(result, click.echo)


@rules_group.command("test")
@_rules_dir_option
@_fixtures_option
@_pack_option
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML here (for CI).")
def test_command(rules_dir, fixtures, packs, junit):
    """Run every rule's examples and every fixture; print a table. Exit 1 on any failure.

    With --pack, then each pack's gate: the statutes' and its own rules' examples, its own fixtures,
    and every shared fixture check with the statutes' findings unchanged by the pack."""
    from service.tools.pack_cli import tenants_of, test_packs
    from service.tools.scenarios import print_table, run_scenarios, write_junit

    rules_dir = rules_dir or default_rules_dir()
    tenants = tenants_of(rules_dir, packs) if packs else []
    book = _load(rules_dir)
    try:
        results = run_scenarios(book, _fixture_paths(fixtures), progress=_progress())
        shared = Path(os.environ.get("SEPARATION_GUARD_FIXTURES_DIR") or Path(rules_dir).resolve().parent / "fixtures")
        results += test_packs(book, tenants, shared)
    finally:
        book.engine.close()
    print_table(results, click.echo)
    if junit:
        write_junit(results, junit, name="rules test")
        click.echo(f"JUnit XML: {junit}", err=True)
    sys.exit(0 if all(r.passed for r in results) else 1)


@rules_group.command("coverage")
@_rules_dir_option
@_fixtures_option
def coverage_command(rules_dir, fixtures):
    """Rules (by version) and citations that no example or fixture exercises (makes fire / cites)."""
    from service.tools.coverage import coverage
    from service.tools.scenarios import run_scenarios

    book = _load(rules_dir or default_rules_dir())
    try:
        results = run_scenarios(book, _fixture_paths(fixtures), progress=_progress())
        report = coverage(book, results)
    finally:
        book.engine.close()
    # Counted by dated version (rule id@effective_from), and named so: `rules lint` and /readyz
    # count rules (ids) and rule versions apart.
    click.echo(f"Rule versions no example or fixture makes fire "
               f"({len(report.rules_unexercised)} of {report.rules_total}):")
    for key, file in report.rules_unexercised:
        click.echo(f"  {key:<60} {file}")
    click.echo(f"Citations no fired rule cites ({len(report.citations_unexercised)} of {report.citations_total}):")
    for ref, cited in report.citations_unexercised:
        click.echo(f"  {ref:<20}{'' if cited else ' (cited by no rule)'}")
    exercised_rules = report.rules_total - len(report.rules_unexercised)
    exercised_refs = report.citations_total - len(report.citations_unexercised)
    click.echo(f"Totals: rule versions {exercised_rules}/{report.rules_total} exercised, "
               f"citations {exercised_refs}/{report.citations_total} exercised, "
               f"{report.cases} case(s) run, {report.failures} failing")


@rules_group.command("diff")
@click.argument("old")
@click.argument("new")
@_fixtures_option
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day the open cases are decided as of (default: today in China, as their daily re-check).")
@click.option("--no-cases", is_flag=True, help="Leave out the open cases (the service's database is not read).")
def diff_command(old, new, fixtures, as_of, no_cases):
    """What changes from OLD to NEW (each a folder or a git revision): rules added, removed and changed,
    the fixtures and examples whose outcome changes, and the open cases whose next step's verdict
    changes (from the service's database). Fixtures: NEW's fixtures/ (default)."""
    from service.tools.case_impact import print_case_impact
    from service.tools.diff import diff, resolve_side
    from service.decide.problem_lines import place_problems

    with tempfile.TemporaryDirectory(prefix="rules-diff-") as work:
        try:
            old_side = resolve_side(old, Path(work) / "old")
            new_side = resolve_side(new, Path(work) / "new")
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        open_cases = (lambda *_: "--no-cases") if no_cases else _open_cases(as_of.date() if as_of else None)
        report = diff(old_side, new_side, _fixture_paths(fixtures) if fixtures else None, progress=_progress(),
                      open_cases=open_cases)
    echo = click.echo
    echo(f"OLD {report.old.label}\nNEW {report.new.label}")
    sides = (("OLD", report.old, report.old_problems, report.old_unloaded, report.old_loads_nothing),
             ("NEW", report.new, report.new_problems, report.new_unloaded, report.new_loads_nothing))
    for label, side, problems, _, nothing in sides:
        if problems:
            placed = place_problems(side.rules, problems)
            echo(f"{label} does not load ({len(placed)} problem(s)); outcomes were not compared:")
            for p in placed[:20]:
                echo(f"  {p.where}: error: {p.what}")
            if len(placed) > 20:
                echo(f"  ... and {len(placed) - 20} more (`separation-guard rules lint` on that side lists them all)")
            if nothing:
                echo(f"  Its facts do not load, so none of {label}'s rules does: rules are not compared.")
    for label, _, _, rules, nothing in sides:
        if rules:
            echo(f"\nRules that do not load in {label} ({len(rules)}), neither added nor removed:")
            if nothing:
                echo(f"  (every rule of the other side: {label}'s facts do not load)")
            else:
                for r in rules:
                    echo(f"  ! {r.key:<58} {'does not load':<14} {r.file}")
    echo(f"\nRules added ({len(report.added)}):")
    for r in report.added:
        echo(f"  + {r.key:<58} {r.verdict:<10} {r.file}")
    echo(f"Rules removed ({len(report.removed)}):")
    for r in report.removed:
        echo(f"  - {r.key:<58} {r.verdict:<10} {r.file}")
    echo(f"Rules changed ({len(report.changed)}):")
    for c in report.changed:
        echo(f"  ~ {c.key:<58} {', '.join(c.fields)}  ({c.file})")
        for line in c.details:
            echo(f"        {line}")
    if report.citations_changed:
        echo(f"Citations changed ({len(report.citations_changed)}):")
        for line in report.citations_changed:
            echo(f"  {line}")
    if report.files_changed:
        echo(f"Other files changed (facts, parameters, calendar, config) ({len(report.files_changed)}):")
        for line in report.files_changed:
            echo(f"  {line}")
    verdicts = [o for o in report.outcomes if o.verdict_changed]
    echo(f"\nOutcomes that change ({len(report.outcomes)} of {report.cases_run} checks; "
         f"{len(verdicts)} change verdict):")
    for o in sorted(report.outcomes, key=lambda o: not o.verdict_changed):  # verdict changes first
        echo(f"  {'VERDICT' if o.verdict_changed else 'rules  '}  {o.source}")
        echo(f"        {_outcome(o.old, o.old_error)}  ->  {_outcome(o.new, o.new_error)}")
        if o.old and o.new:
            plus = sorted(set(o.new["rule_ids"] + o.new["obligations"]) - set(o.old["rule_ids"] + o.old["obligations"]))
            minus = sorted(set(o.old["rule_ids"] + o.old["obligations"]) - set(o.new["rule_ids"] + o.new["obligations"]))
            if plus or minus:
                echo(f"        rules {' '.join('+' + r for r in plus)} {' '.join('-' + r for r in minus)}".rstrip())
    print_case_impact(report.cases, report.cases_not_compared, echo)
    sys.exit(0 if report.ok else 1)


def _open_cases(as_of):
    """diff()'s `open_cases`: the cases in the database of the service's app (the current one, or
    the one `separation-guard` builds from its configuration), or why there are none."""
    from flask import current_app, has_app_context
    from flask.cli import ScriptInfo

    from service.tools.scenarios import one_line

    if has_app_context():
        app = current_app._get_current_object()
    elif (info := click.get_current_context().find_object(ScriptInfo)) is None:
        return lambda *_: ("no database configured: `python -m service.tools.rule_cli` has none; "
                           "`separation-guard rules diff` reads the service's")
    else:
        try:
            app = info.load_app()
        except Exception as exc:  # noqa: BLE001 (the rest of the diff stands without it)
            return lambda *_, why=one_line(exc): f"the service's configuration does not start: {why}"

    def decide(old_book, new_book):
        from sqlalchemy.exc import SQLAlchemyError

        from service.clock import today_in_china
        from service.tools.case_impact import case_impact

        if app.extensions.get("recheck_keys") is None:
            return "no re-check key is configured (RECHECK_KEY): the kept facts cannot be read"
        day = as_of or today_in_china()  # as the worker's daily re-check
        try:
            with app.app_context(), app.extensions["db_sessions"]() as session:
                return case_impact(session, old_book, new_book, day, progress=_progress())
        except SQLAlchemyError as exc:
            return f"the database did not answer: {type(exc).__name__}"
    return decide


def _outcome(summary, error) -> str:
    if summary is None:
        return f"error: {error}"
    return summary["verdict"]


def run_scenarios_cli(rulebook, paths, as_of, junit) -> None:
    """`scenarios run`: progress on stderr, a readable diff per failure, --as-of and --junit."""
    from service.tools.scenarios import print_table, run_scenarios, write_junit

    from service.tools.scenarios import print_what_if

    results = run_scenarios(rulebook, _fixture_paths([Path(p) for p in paths]), as_of=as_of,
                            progress=_progress())
    if as_of:
        # A what-if, not a test: it reports what would change and exits 0.
        print_what_if(results, as_of, click.echo)
    else:
        print_table(results, click.echo)
    if junit:
        write_junit(results, junit, name=f"scenarios as of {as_of}" if as_of else "scenarios")
        click.echo(f"JUnit XML: {junit}", err=True)
    sys.exit(0 if as_of or all(r.passed for r in results) else 1)


if __name__ == "__main__":  # python -m service.tools.rule_cli lint: no app, works on broken rule files
    rules_group(prog_name="python -m service.tools.rule_cli")
