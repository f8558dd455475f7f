"""WSGI entry point: `gunicorn wsgi:app` (see gunicorn.conf.py), or `flask --app wsgi <command>`."""
from service import create_app
from service.http.observability import configure_json_logging
from service.tools.db_cli import upgrade_on_start

configure_json_logging()
upgrade_on_start()  # AUTO_MIGRATE (development); production runs `separation-guard db upgrade` as the owner
app = create_app()
