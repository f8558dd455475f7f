"""One Ed25519 key of the trail (TrailKey): it signs checkpoints (C2SP signed notes) or
decision receipts. Which key signs what, and where keys come from: service.record.keyring.
Whoever can write the database cannot sign: the keys live with the service, not in the data.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"  # signed-note signature type (c2sp.org/signed-note)
DEV_KEY_FILE = "trail_signing_key.pem"  # development's one key before the split


class SigningKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class TrailKey:
    name: str                     # the note key name: the checkpoint origin
    private: Ed25519PrivateKey | None
    public: Ed25519PublicKey

    @property
    def public_raw(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_hash(self) -> bytes:
        """SHA-256(key name || 0x0A || 0x01 || public key)[:4], as signed-note recommends."""
        return hashlib.sha256(self.name.encode() + b"\n" + ED25519 + self.public_raw).digest()[:4]

    @property
    def key_id(self) -> str:
        """The note verifier key: name+hex(key hash)+base64(0x01 || public key)."""
        return f"{self.name}+{self.key_hash.hex()}+{base64.b64encode(ED25519 + self.public_raw).decode()}"

    def public_pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, text: str) -> bytes:
        if self.private is None:
            raise SigningKeyError("this process holds the trail's public key only")
        return self.private.sign(text.encode())

    def verify(self, text: str, signature: bytes) -> bool:
        try:
            self.public.verify(signature, text.encode())
            return True
        except InvalidSignature:
            return False

    # -- signed notes -----------------------------------------------------------------------
    def sign_note(self, text: str) -> str:
        """text (ending in a newline), a blank line, and our signature line."""
        signature = base64.b64encode(self.key_hash + self.sign(text)).decode()
        return f"{text}\n\u2014 {self.name} {signature}\n"

    def open_note(self, note: str) -> str | None:
        """The note's text if it carries a valid signature of ours, else None."""
        text, sep, signatures = note.rpartition("\n\n")
        if not sep:
            return None
        text += "\n"
        for line in signatures.splitlines():
            prefix = f"\u2014 {self.name} "
            if not line.startswith(prefix):
                continue
            try:
                raw = base64.b64decode(line[len(prefix):], validate=True)
            except ValueError:
                return None
            if raw[:4] == self.key_hash and self.verify(text, raw[4:]):
                return text
            return None  # our key, a bad signature: reject the note
        return None

    # -- receipts ---------------------------------------------------------------------------
    def receipt_text(self, *, decision_id: str, entry_hash: str, recorded_at: str) -> str:
        return (f"{self.name} receipt\ndecision {decision_id}\nentry sha256:{entry_hash}\n"
                f"recorded_at {recorded_at}\n")

    def receipt(self, *, decision_id: str, entry_hash: str, recorded_at: str,
                signature: bytes | None = None) -> dict:
        """The receipt of an entry; `signature` when the writer signed it already (the queue keeps it)."""
        signed = self.receipt_text(decision_id=decision_id, entry_hash=entry_hash, recorded_at=recorded_at)
        return {"signed": signed, "signature": base64.b64encode(signature or self.sign(signed)).decode(),
                "key_id": self.key_id}

    def open_receipt(self, receipt: dict) -> dict | None:
        """A receipt's signed fields (decision, entry hash, recorded_at) if it is ours and its
        signature verifies, else None."""
        try:
            signed, signature = receipt["signed"], base64.b64decode(receipt["signature"], validate=True)
        except (KeyError, TypeError, ValueError):
            return None
        if receipt.get("key_id") != self.key_id or not isinstance(signed, str) or not self.verify(signed, signature):
            return None
        lines = signed.split("\n")
        if len(lines) != 5 or lines[0] != f"{self.name} receipt" or lines[4] != "":
            return None
        fields = dict(line.split(" ", 1) for line in lines[1:4] if " " in line)
        if set(fields) != {"decision", "entry", "recorded_at"} or not fields["entry"].startswith("sha256:"):
            return None
        return {"decision_id": fields["decision"], "entry_hash": fields["entry"].removeprefix("sha256:"),
                "recorded_at": fields["recorded_at"]}

def write_once(path: Path, make) -> None:
    """A development key file, made by `make()` unless it exists. Several workers may start at
    once: each writes its own file, the first link wins, and nobody reads a half-written key."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    spare = path.with_name(f"{path.name}.{os.getpid()}")
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(make())
    try:
        os.link(spare, path)
    except FileExistsError:
        pass
    finally:
        spare.unlink()
