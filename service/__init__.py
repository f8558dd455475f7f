"""Pre-action compliance checks for HR separations, on durable-rules."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from service.config import DEV_TRAIL_DIGEST_KEY, DEV_WEBHOOK_SECRET, PROJECT_ROOT  # noqa: F401 -- handed on


def create_app(test_config: dict | None = None, *, for_commands: bool = False) -> Flask:
    """The service: its configuration (service/config.py), extensions and blueprints.

    `for_commands`: the app behind `separation-guard <command>`, which starts even when the rule
    files do not load or fail their gate, so that keys, the trail and its checkpoints stay
    usable; the commands that decide (worker, sla sweep, scenarios run) refuse to run then
    (service/tools/cli.py `serving_rulebook`). The served app never starts so."""
    from service import config
    from service.flows import packs_live, rules_live, sealing
    from service.http import (admin_api, auth, cases, checks, citations_api, decisions, docs, jsonio, keys,
                              notifications_api, observability, pages, requirements_api, trail_api)
    from service.http.api import Api
    from service.record import db, keyring, recheck_keys
    from service.tools import cli, db_cli

    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    config.configure(app, test_config)
    app.json = jsonio.OrjsonProvider(app)  # UTF-8, keys in order, dates ISO 8601; bodies read strictly
    docs.configure(app.config)
    if app.config["DATABASE_URL"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    rules_live.load_at_start(app, for_commands=for_commands)  # a rule set that fails its gate stops here
    packs_live.load_at_start(app)  # each company's pack on it; a refused one keeps only its tenant out
    keyring.init_app(app)  # production without its key stops here
    recheck_keys.init_app(app)
    db.init_app(app)
    db_cli.upgrade_on_start(app)  # AUTO_MIGRATE; else `separation-guard db upgrade`, as the owner
    observability.init_app(app)
    api = Api(app)
    for module in (checks, requirements_api, citations_api, decisions, trail_api, cases, notifications_api,
                   admin_api):
        api.register_blueprint(module.blp)
    app.register_blueprint(pages.bp)
    docs.init_app(app)
    cli.init_app(app)
    auth.init_app(app)
    rules_live.init_app(app)  # watches the rule files; the serving version's trail entry
    packs_live.init_app(app)  # the packs refused at start-up, in their tenants' trails
    sealing.init_app(app)
    keys.check_start_up(app)
    app.before_request(jsonio.refuse_other_bodies)
    return app
