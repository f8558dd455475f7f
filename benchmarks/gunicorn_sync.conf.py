"""BENCHMARK ONLY: the repository's gunicorn.conf.py with gunicorn's sync workers, for the
worker-model comparison of issue 23 (docs in benchmarks/RESULTS.md):

    BENCH_GUNICORN_CONF=benchmarks/gunicorn_sync.conf.py .venv/bin/python benchmarks/bench_http.py

A sync worker answers one request at a time and closes the connection after it (no keep-alive).
"""
import runpy
from pathlib import Path

globals().update({name: value for name, value in
                  runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py")).items()
                  if not name.startswith("__")})
worker_class = "sync"
