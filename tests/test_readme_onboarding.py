"""The README's "A second company" runs as written: the pack made from Acme's by its two shell
lines, linted and tested by the rule commands, put live by the reload endpoint, a key made for
the tenant, and the README's first check sent with it. Against a copy of the rule tree (the
commands' working directory), never the checkout's own rules/."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, make_app
from tests.test_readme_walkthrough import README, first_check

SECTION = "## A second company"
_SH = re.compile(r"```sh\n(.*?)```", re.S)


def onboarding_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    block = _SH.search(text, start, text.index("\n## ", start + 1))
    assert block, "no sh block under " + SECTION
    return [line for line in block.group(1).splitlines() if line.strip()]


def _cli_args(line: str) -> list[str]:
    """`.venv/bin/separation-guard rules lint --pack initech   # …` -> ["rules", "lint", ...]."""
    command = line.split("#", 1)[0].split()
    assert command[0] == ".venv/bin/separation-guard", line
    return command[1:]


@pytest.fixture
def tree(tmp_path):
    for folder in ("rules", "fixtures"):  # the shared fixtures gate every pack too
        shutil.copytree(Path(README).parent / folder, tmp_path / folder)
    return tmp_path


def test_the_readmes_onboarding_of_a_second_company_runs_as_written(tree, tmp_path):
    lines = onboarding_lines()
    shell, cli, curl = ([l for l in lines if l.startswith(p)] for p in ("cp ", ".venv/", "curl "))
    assert [l.split()[0] for l in lines] == ["cp", "sed", *[".venv/bin/separation-guard"] * 2, "curl",
                                             ".venv/bin/separation-guard"]
    sed = next(l for l in lines if l.startswith("sed "))
    for line in [*shell, sed]:  # the pack made from Acme's, as the README's shell lines make it
        subprocess.run(["bash", "-c", line], cwd=tree, check=True)
    pack = (tree / "rules/companies/initech/pack.yaml").read_text(encoding="utf-8")
    assert "tenant: initech" in pack and "acme" not in pack

    app = make_app(f"sqlite:///{tmp_path / 'db.sqlite'}", RULES_DIR=str(tree / "rules"))
    runner = app.test_cli_runner()
    lint, test, keys = (_cli_args(l) for l in cli)
    env = {"SEPARATION_GUARD_RULES_DIR": str(tree / "rules")}  # what the commands read outside the app
    linted, tested = (runner.invoke(args=args, env=env) for args in (lint, test))
    assert linted.exit_code == 0 and "pack initech, 1 company rule(s) checked, 0 error(s)" in linted.output, \
        linted.output
    assert tested.exit_code == 0 and "companies/initech/fixtures/" in tested.output and " 0 failed" in tested.output, \
        tested.output[-2000:]
    # The service started before the pack existed: the tenant is on the default pack until the reload.
    [line] = curl
    assert "/v1/admin/rules/packs/initech/reload" in line and "sg_dev-local-only" in line
    reloaded = app.test_client().post("/v1/admin/rules/packs/initech/reload")
    assert reloaded.status_code == 200, reloaded.get_json()
    made = runner.invoke(args=keys)
    assert made.exit_code == 0, made.output
    key = made.output.strip().splitlines()[-1]

    check = first_check()
    theirs = app.test_client().post(check.path, json=check.body, headers={"Authorization": f"Bearer {key}"})
    ours = app.test_client().post(check.path, json=check.body, headers={"Authorization": f"Bearer {TEST_KEY}"})
    assert theirs.status_code == ours.status_code == 200
    theirs, ours = theirs.get_json(), ours.get_json()
    assert "+initech@" in theirs["ruleset_version"] and "+" not in ours["ruleset_version"]
    statutory = [(f["rule_id"], f["verdict"]) for f in ours["findings"] if not f["rule_id"].startswith("process.")]
    assert theirs["verdict"] == ours["verdict"] == "deny"
    assert set(statutory) <= {(f["rule_id"], f["verdict"]) for f in theirs["findings"]}
    # Initech's decision is in Initech's log: the default tenant's key does not find it.
    assert app.test_client().get(f"/v1/decisions/{theirs['decision_id']}").status_code == 404
    app.extensions["db_engine"].dispose()
