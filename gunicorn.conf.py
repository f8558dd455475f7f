"""gunicorn settings.

gthread workers: a slow client (one sending its headers a byte at a time) holds one thread, not
a whole worker; with sync workers six such sockets froze four workers and /healthz with them.
The rule engine is not thread-safe, and does not need to be: every call into it holds one
process-wide lock (service/decide/engine.py), so a worker's threads decide one check at a time
and wait for the database, the network and the client in parallel. Scale with workers for CPU.
Against sync workers (benchmarks/gunicorn_sync.conf.py): benchmarks/RESULTS.md, "The worker model".
"""
import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 8))
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
