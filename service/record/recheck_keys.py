"""The key that seals the employee facts a case's daily re-check keeps (case_rechecks).

Those facts may be health facts (pregnancy, its due date, sick leave: PIPL Art. 28), kept for
as long as a case stays open. Whoever reads the database reads them only sealed: AES-256-GCM,
a random 96-bit nonce per row, the case id as associated data (a sealed row copied onto another
case does not open). Each row names the key that sealed it, so the key can change: RECHECK_KEY
seals, and RECHECK_OLD_KEYS (base64 keys, comma-separated) still open rows sealed before, which
the daily re-check seals again with RECHECK_KEY.

Production refuses to start without RECHECK_KEY; development makes one under instance/ on first
use, as it does the trail's signing key.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask

from service.record.signing import write_once

DEV_KEY_FILE = "recheck_key"
NONCE_BYTES = 12


class RecheckKeyError(RuntimeError):
    """A key that is missing or malformed, or sealed facts no configured key opens."""


@dataclass(frozen=True)
class RecheckKeys:
    current_id: str
    keys: dict[str, bytes]  # key id -> 32-byte key; the current one and the old ones

    def seal(self, case_id: str, facts: dict) -> tuple[str, bytes]:
        """(key id, nonce || ciphertext) of the facts, bound to the case."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(facts, ensure_ascii=False, separators=(",", ":")).encode()
        return self.current_id, nonce + AESGCM(self.keys[self.current_id]).encrypt(nonce, plain, case_id.encode())

    def open(self, case_id: str, key_id: str | None, sealed: bytes) -> dict:
        """The facts sealed for this case; RecheckKeyError when no configured key opens them."""
        key = self.keys.get(key_id or "")
        if key is None:
            raise RecheckKeyError(f"no configured re-check key has id {key_id!r}")
        try:
            plain = AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], case_id.encode())
        except InvalidTag:
            raise RecheckKeyError(f"the re-check key {key_id} does not open this case's facts") from None
        return json.loads(plain)


def key_id(key: bytes) -> str:
    """A name for the key that says nothing of it: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(b"separation-guard recheck key\n" + key).hexdigest()[:8]


def decode_key(text: str, name: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise RecheckKeyError(f"{name} is not base64") from None
    if len(key) != 32:
        raise RecheckKeyError(f"{name} must be 32 bytes (base64), not {len(key)}")
    return key


def load_keys(app: Flask) -> RecheckKeys:
    configured = app.config.get("RECHECK_KEY")
    if configured:
        current = decode_key(configured, "RECHECK_KEY")
    elif app.config["ENV"] == "production":
        raise RecheckKeyError("RECHECK_KEY is not set")
    else:
        current = _dev_key(Path(app.instance_path) / DEV_KEY_FILE)
    old = app.config.get("RECHECK_OLD_KEYS") or []
    if isinstance(old, str):
        old = [part for part in old.split(",") if part.strip()]
    keys = {key_id(key): key for key in (decode_key(text, "RECHECK_OLD_KEYS") for text in old)}
    keys[key_id(current)] = current
    return RecheckKeys(key_id(current), keys)


def _dev_key(path: Path) -> bytes:
    write_once(path, lambda: base64.b64encode(AESGCM.generate_key(bit_length=256)) + b"\n")
    return decode_key(path.read_text(), str(path))


def init_app(app: Flask) -> None:
    try:
        app.extensions["recheck_keys"] = load_keys(app)
    except RecheckKeyError:
        if app.config["ENV"] != "production" or app.config.get("RECHECK_KEY"):
            raise
        app.extensions["recheck_keys"] = None  # keys.check_start_up refuses to start, naming it
