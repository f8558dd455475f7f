"""The witness's cost per checkpoint: add-checkpoint with its consistency proof, over HTTP on
localhost, the witness storing in its own SQLite file (as `make run` runs it).

The sealer publishes at most one checkpoint per round (0.5 s by default), whatever the load:
the witness is asked at most about twice a second per log, so its rate bounds nothing as long as
one round trip takes well under 0.5 s. Prints cosignatures per second and p50/p99 latency.
Run: python benchmarks/bench_witness.py [-n 500] [--per 1000]
"""
from __future__ import annotations

import argparse
import base64
import logging
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from service.record import merkle  # noqa: E402
from service.witness.app import Witness, create_witness_app  # noqa: E402
from service.signed_notes import COSIGNATURE_V1, NOTE_ED25519, Signer, checkpoint_text  # noqa: E402
from service.witness.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=500, help="checkpoints to submit")
    parser.add_argument("--per", type=int, default=1000, help="new leaves per checkpoint (the sealer's batch)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    log = Signer("bench.example/log", NOTE_ED25519, Ed25519PrivateKey.generate())
    with tempfile.TemporaryDirectory() as tmp:
        witness = Witness(Signer("bench.example/w", COSIGNATURE_V1, Ed25519PrivateKey.generate()),
                          {log.name: [log.verifier]}, Store(f"sqlite:///{tmp}/w.sqlite"))
        server = make_server("127.0.0.1", 0, create_witness_app(witness), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/add-checkpoint"
        frontier = merkle.Frontier(0, lambda level, index: b"")
        bodies, old = [], 0
        for n in range(args.n):  # the log side, prepared beforehand: only the witness is timed
            for i in range(args.per):
                frontier.append(merkle.leaf_hash(f"{n}.{i}".encode()))
            size = frontier.size
            proof = merkle.consistency_path(old, size, frontier.node) if old else []
            text = checkpoint_text(log.name, size, frontier.root())
            bodies.append(f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
                          + "\n" + text + "\n" + log.line(text))
            old = size
        latencies = []
        started = time.perf_counter()
        for body in bodies:
            t = time.perf_counter()
            with urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), method="POST")) as answer:
                assert answer.status == 200
            latencies.append((time.perf_counter() - t) * 1000)
        elapsed = time.perf_counter() - started
        server.shutdown()
        server.server_close()
    latencies.sort()
    print(f"witness: {args.n} checkpoints (+{args.per} leaves each, tree of {old}) cosigned in {elapsed:.2f} s: "
          f"{args.n / elapsed:.0f}/s, p50 {statistics.median(latencies):.2f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} ms")


if __name__ == "__main__":
    main()
