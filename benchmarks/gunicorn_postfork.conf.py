"""The repository's gunicorn.conf.py plus the fix proposed in benchmarks/RESULTS.md for a bug the
load test found: with preload_app the arbiter opens database connections (migrations, start-up
trail entry, development key) and every forked worker inherits the same pooled connection, so
four processes talk over one PostgreSQL session ("prepared statement _pg3_N already exists",
interleaved transactions, the trail head's FOR UPDATE no longer serializing workers).

Used by the benchmarks only with --post-fork-dispose; without the flag they run gunicorn.conf.py
unchanged. Since ce41e44 service/record/db.py forgets inherited connections after any fork itself, so the
flag is redundant (kept to reproduce RESULTS.md's runs).
"""
import runpy
from pathlib import Path

globals().update({name: value for name, value in
                  runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py")).items()
                  if not name.startswith("__")})


def post_fork(server, worker):
    # Forget (never close: the arbiter still owns them) the connections inherited from the arbiter.
    app = getattr(server.app, "callable", None)
    engine = getattr(app, "extensions", {}).get("db_engine") if app is not None else None
    if engine is not None:
        engine.dispose(close=False)
