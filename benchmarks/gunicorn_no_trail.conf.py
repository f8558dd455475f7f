"""BENCHMARK ONLY: the repository's gunicorn.conf.py with the trail append replaced by a no-op.

bench_http.py uses it to measure what recording a decision costs: the same endpoint, the same
rules and the same request handling, with nothing written. The service itself has no switch to
turn recording off, and must never have one; this file patches it in the benchmark's own process.
"""
import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The settings of the run (harness.base_config: gunicorn.conf.py unless BENCH_GUNICORN_CONF names another).
BASE = os.environ.get("BENCH_GUNICORN_CONF") or str(ROOT / "gunicorn.conf.py")
globals().update({name: value for name, value in runpy.run_path(BASE).items() if not name.startswith("__")})

sys.path.insert(0, str(ROOT))
import service.record.trail  # noqa: E402  (after the path: the arbiter imports the app later, preloaded)


def _not_recorded(engine, entries, key):
    # The receipt is still signed (about 0.05 ms): the answer keeps its shape.
    trail = service.record.trail
    hashes = [trail.entry_hash(values) for values in entries]
    return [trail.Appended(0, values["entry_id"], h, values["recorded_at"], trail.sign_entry(key, values, h))
            for values, h in zip(entries, hashes)]


service.record.trail.append_and_commit = _not_recorded
