"""The command line a newcomer meets: only the service's commands, and no library chatter."""
import os
import subprocess
import sys

from service import PROJECT_ROOT
from service.tools.cli import OUR_COMMANDS


def _run(args, database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


SEPARATION_GUARD = ["-c", "from service.tools.cli import main; main()"]


def test_help_lists_only_the_services_commands(tmp_path):
    result = _run([*SEPARATION_GUARD, "--help"], f"sqlite:///{tmp_path / 'cli.sqlite'}")
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("Commands:", 1)[1].splitlines()
    commands = [line.split()[0] for line in listed if line.startswith("  ") and not line.startswith("   ")]
    assert commands == sorted(OUR_COMMANDS)  # no run, shell, routes, openapi
    assert "--app" not in result.stdout


def test_trail_verify_and_keys_list_print_their_answer_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    first = _run(["-m", "flask", "--app", "wsgi", "trail", "verify"], url)
    assert first.returncode == 0, first.stderr
    # A fresh database is migrated at start-up: one line says so, none of alembic's own.
    assert "alembic" not in first.stderr and first.stderr.count("\n") <= 1, first.stderr
    for args in (["-m", "flask", "--app", "wsgi", "trail", "verify"], ["-m", "flask", "--app", "wsgi", "keys", "list"],
                 [*SEPARATION_GUARD, "trail", "verify"], [*SEPARATION_GUARD, "keys", "list"]):
        again = _run(args, url)
        assert again.returncode == 0, again.stderr
        assert again.stderr == "", (args, again.stderr)
    assert _run([*SEPARATION_GUARD, "trail", "verify"], url).stdout.startswith("trail ok: ")


def test_on_rules_that_fail_their_gate_keys_and_the_trail_still_work_and_deciding_commands_refuse(tmp_path):
    # A rule change that fails a fixture stops the service and the worker; it must not also lock
    # the auditor out of `trail verify`, or HR out of its keys, while the legal team fixes it.
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "wrong_test.yaml").write_text(
        "now: 2026-02-10T10:00:00+08:00\ncases:\n"
        "  - name: an Art. 40 notice to a pregnant employee wrongly expected to be allowed\n"
        "    request:\n"
        "      employee: {id: E1, gender: female, pregnancy: {status: pregnant}, children: []}\n"
        "      action: {type: terminate_with_notice}\n"
        "    expected: {verdict: allow}\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"

    def run(*args):
        env = {**os.environ, "DATABASE_URL": url, "SEPARATION_GUARD_FIXTURES_DIR": str(fixtures)}
        return subprocess.run([sys.executable, *SEPARATION_GUARD, *args], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)

    verify = run("trail", "verify")
    assert verify.returncode == 0 and verify.stdout.startswith("trail ok: "), verify.stderr
    assert "CRITICAL" not in verify.stderr and "Traceback" not in verify.stderr, verify.stderr
    lint = run("rules", "lint")  # reads the files; never starts (and gates) the service to find them
    assert lint.returncode == 0 and "CRITICAL" not in lint.stderr and "refused" not in lint.stderr, lint.stderr
    keys = run("keys", "list")
    assert keys.returncode == 0 and "Traceback" not in keys.stderr, keys.stderr
    for command in (["worker", "--once"], ["sla", "sweep"], ["scenarios", "run"]):
        refused = run(*command)
        assert refused.returncode == 1, (command, refused.stdout, refused.stderr)
        assert "the rule set does not start, so nothing was decided" in refused.stderr, refused.stderr
        assert "wrong_test.yaml::an Art. 40 notice to a pregnant employee" in refused.stderr
        assert "Traceback" not in refused.stderr
    # The served app still refuses to start on them.
    served = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "DATABASE_URL": url, "SEPARATION_GUARD_FIXTURES_DIR": str(fixtures)})
    assert served.returncode != 0 and "RuleSetRefused" in served.stderr
