"""The witness's HTTP service (c2sp.org/tlog-witness): its own small Flask app, never the
service's, so it runs as its own process with its own key and database.

POST /add-checkpoint   old size, consistency proof, blank line, the log's signed checkpoint:
                       200 and a cosignature/v1 line, only when the checkpoint is signed by a
                       key configured for its origin and is consistent with the last one
                       cosigned for that origin. 400 malformed, 403 not signed by the log's key,
                       404 unknown origin, 409 old size is not ours (body: our size,
                       text/x.tlog.size), 422 the proof does not verify (a rollback or a fork).
GET /<sha256 hex of origin>/checkpoint   the latest checkpoint cosigned, with both signatures.
GET /                  the witness's verifier key and the origins it watches (JSON).

A service keeps one log per tenant (docs/tenant-logs.md): `<origin>/<tenant>`, signed by the same
checkpoint key as `<origin>`. A log configured for an origin is trusted for its tenants' logs
too; each is its own log here, with its own latest checkpoint.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask, Response, request

from service.record.merkle import verify_consistency
from service.signed_notes import EMPTY_ROOT, Checkpoint, NoteError, Signer, Verifier, split_note, verified_by
from service.tenants import valid_tenant
from service.witness.store import Store

log = logging.getLogger("separation_guard.witness")
MAX_PROOF_LINES = 63
MAX_BODY = 64 * 1024


@dataclass
class Witness:
    signer: Signer                          # type 0x04: cosignature/v1
    logs: dict[str, list[Verifier]]         # origin -> the log's note keys (several while rotating)
    store: Store
    clock: Callable[[], float] = field(default=time.time)

    def add_checkpoint(self, body: str) -> tuple[int, str, str]:
        """(status, body, content type) for an add-checkpoint request body."""
        head, sep, note = body.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old ") or len(lines) - 1 > MAX_PROOF_LINES:
            return _text(400, "the body is `old N`, proof lines, a blank line, then the checkpoint")
        old_text = lines[0][4:]
        if not old_text.isdigit() or (old_text != "0" and old_text.startswith("0")):
            return _text(400, "the old size is not a decimal without leading zeroes")
        old = int(old_text)
        try:
            proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
            text, _ = split_note(note)
            checkpoint = Checkpoint.parse(text)
        except (binascii.Error, NoteError) as exc:
            return _text(400, f"malformed: {exc}")
        if any(len(h) != 32 for h in proof):
            return _text(400, "a proof line is not a 32-byte hash")
        verifiers = self.verifiers_for(checkpoint.origin)
        if not verifiers:
            return _text(404, f"unknown log origin {checkpoint.origin}")
        try:
            signed = verified_by(note, verifiers)
        except NoteError as exc:
            return _text(403, str(exc))
        if not signed:
            return _text(403, f"no signature of a key trusted for {checkpoint.origin}")
        if old > checkpoint.size:
            return _text(400, f"old size {old} is larger than the checkpoint's {checkpoint.size}")
        latest = self.store.latest(checkpoint.origin)
        if old != (latest.size if latest else 0):
            return _conflict(latest.size if latest else 0)
        refusal = _inconsistency(latest, old, checkpoint, proof)
        if refusal:
            # Signed by the log and inconsistent with what we cosigned: evidence of a fork or a
            # rewrite, kept in our log, never cosigned.
            log.warning("refused checkpoint %s of %s: %s; note follows\n%s", checkpoint.size, checkpoint.origin,
                        refusal, note)
            return _text(422, refusal)
        line = self.signer.line(checkpoint.text, int(self.clock()))
        stored = note if note.endswith("\n") else note + "\n"
        if not self.store.advance(checkpoint.origin, latest, checkpoint.size, checkpoint.root, stored + line):
            now = self.store.latest(checkpoint.origin)
            return _conflict(now.size if now else 0)
        return 200, line, "text/plain; charset=utf-8"

    def verifiers_for(self, origin: str) -> list[Verifier] | None:
        """The keys trusted for a log: its own, or those of the service origin it is a tenant's log of."""
        if origin in self.logs:
            return self.logs[origin]
        service, _, tenant = origin.rpartition("/")
        return self.logs.get(service) if valid_tenant(tenant) else None

    def latest_note(self, origin_hash: str) -> str | None:
        for origin in {*self.logs, *self.store.origins()}:
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                latest = self.store.latest(origin)
                return latest.note if latest else None
        return None


def _inconsistency(latest, old: int, checkpoint: Checkpoint, proof: list[bytes]) -> str | None:
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        return "a checkpoint of size 0 must have the empty tree's root"
    if old == 0:
        return "with old size 0 the proof must be empty" if proof else None
    if old == checkpoint.size:
        if proof or checkpoint.root != latest.root:
            return f"size {old} again with another root hash than the one cosigned: the log forked"
        return None
    if not verify_consistency(old, checkpoint.size, latest.root, checkpoint.root, proof):
        return (f"the consistency proof from {old} to {checkpoint.size} does not verify: the tree cosigned at "
                f"{old} is not a prefix of this one (rewritten or cut)")
    return None


def _text(status: int, message: str) -> tuple[int, str, str]:
    return status, message + "\n", "text/plain; charset=utf-8"


def _conflict(size: int) -> tuple[int, str, str]:
    return 409, f"{size}\n", "text/x.tlog.size"


def create_witness_app(witness: Witness) -> Flask:
    app = Flask("separation_guard_witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.extensions["witness"] = witness

    @app.post("/add-checkpoint")
    def add_checkpoint():
        try:
            body = request.get_data(cache=False).decode("utf-8")
        except UnicodeDecodeError:
            status, text, mimetype = _text(400, "the body is not UTF-8")
        else:
            status, text, mimetype = witness.add_checkpoint(body)
        return Response(text, status=status, content_type=mimetype)

    @app.get("/<origin_hash>/checkpoint")
    def checkpoint(origin_hash: str):
        note = witness.latest_note(origin_hash)
        if note is None:
            return Response("no checkpoint cosigned for that log\n", status=404, content_type="text/plain")
        return Response(note, content_type="text/plain; charset=utf-8")

    @app.get("/")
    def about():
        return {"witness": witness.signer.verifier.vkey,
                "logs": {origin: [v.vkey for v in keys] for origin, keys in witness.logs.items()}}

    return app
