"""The command line a newcomer meets: only the service's commands, and no library chatter."""
import os
import subprocess
import sys

from service import PROJECT_ROOT
from service.cli import OUR_COMMANDS


def _run(args, database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


SEPARATION_GUARD = ["-c", "from service.cli import main; main()"]


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
