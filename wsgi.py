"""WSGI entry point: `gunicorn wsgi:app` (see gunicorn.conf.py), or `flask --app wsgi <command>`."""
from service import create_app
from service.http.observability import configure_json_logging

configure_json_logging()
app = create_app()
