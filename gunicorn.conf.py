"""gunicorn settings. The rule engine is not thread-safe: scale with worker processes, not threads."""
import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "sync"
threads = 1
# Build the rule book once, before the fork: every worker shares the compiled rules.
preload_app = True
timeout = 30
graceful_timeout = 30
keepalive = 5
# Bodies are capped at 256 KiB by the app (413); these bound the request line and headers.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# The app logs each request as JSON (service/http/observability.py), with its request id.
accesslog = None
errorlog = "-"
