"""Signed notes (c2sp.org/signed-note), checkpoints (c2sp.org/tlog-checkpoint) and Ed25519
cosignatures (c2sp.org/tlog-cosignature, cosignature/v1), as both sides need them.

A verifier key ("vkey") is the text form of a public key: name+hex(key hash)+base64(type ||
key). Type 0x01 is a note signature (the log signs its checkpoints so); type 0x04 is a
cosignature/v1, which signs "cosignature/v1\\ntime <t>\\n" followed by the checkpoint's text, so
the witness states when it saw the log at that size. Everything an auditor needs to check a
checkpoint is here and in the two vkeys: nothing of the service's database.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

NOTE_ED25519, COSIGNATURE_V1 = 1, 4
DASH = "\u2014"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class NoteError(ValueError):
    pass


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, alg: int, public: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + _raw(public)).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A public key that verifies one kind of signature line of a note."""
    name: str
    alg: int
    public: Ed25519PublicKey

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.alg, self.public)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_hash.hex()}+{base64.b64encode(bytes([self.alg]) + _raw(self.public)).decode()}"

    @classmethod
    def from_vkey(cls, vkey: str) -> "Verifier":
        try:
            name, hash_hex, encoded = vkey.strip().split("+", 2)  # a key name has no "+", base64 may
            raw = base64.b64decode(encoded, validate=True)
            verifier = cls(name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
        except (ValueError, IndexError, binascii.Error) as exc:
            raise NoteError(f"not a verifier key (name+hash+base64 key): {vkey[:60]!r}") from exc
        if verifier.alg not in (NOTE_ED25519, COSIGNATURE_V1) or verifier.key_hash.hex() != hash_hex:
            raise NoteError(f"verifier key {name}: unknown type or its key hash does not match its key")
        return verifier

    def check(self, text: str, raw: bytes) -> int | None:
        """The signature line's bytes (key hash || ...) verified over the note's text: for a note
        signature 0, for a cosignature its timestamp; None when it does not verify."""
        if raw[:4] != self.key_hash:
            return None
        try:
            if self.alg == NOTE_ED25519 and len(raw) == 68:
                self.public.verify(raw[4:], text.encode())
                return 0
            if self.alg == COSIGNATURE_V1 and len(raw) == 76:
                (timestamp,) = struct.unpack(">Q", raw[4:12])
                self.public.verify(raw[12:], cosigned_message(text, timestamp))
                return timestamp
        except InvalidSignature:
            return None
        return None


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


@dataclass(frozen=True)
class Signer:
    """A private key that adds signature lines of one kind (the log's note key, or a witness's)."""
    name: str
    alg: int
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.alg, self.private.public_key())

    def line(self, text: str, timestamp: int = 0) -> str:
        """The signature line over a note's text (ending in its newline)."""
        if self.alg == COSIGNATURE_V1:
            if timestamp <= 0:
                raise ValueError("a cosignature/v1 states when it was made: timestamp > 0")
            raw = struct.pack(">Q", timestamp) + self.private.sign(cosigned_message(text, timestamp))
        else:
            raw = self.private.sign(text.encode())
        return f"{DASH} {self.name} {base64.b64encode(self.verifier.key_hash + raw).decode()}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A note's text (with its final newline) and its signature lines as (key name, bytes)."""
    text, sep, lines = note.rpartition("\n\n")
    if not sep or not text:
        raise NoteError("a note is its text, a blank line and its signature lines")
    signatures = []
    for line in lines.rstrip("\n").split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError(f"not a signature line: {line[:60]!r}")
        try:
            signatures.append((parts[1], base64.b64decode(parts[2], validate=True)))
        except binascii.Error as exc:
            raise NoteError("a signature line's signature is not base64") from exc
    return text + "\n", signatures


def verified_by(note: str, verifiers: list[Verifier]) -> dict[str, int]:
    """The vkeys among `verifiers` whose signature on the note verifies (vkey -> timestamp, 0 for a
    note signature). A line of a known key (name and key hash) that does not verify makes the
    note malformed (signed-note): NoteError. Lines of unknown keys are ignored."""
    text, signatures = split_note(note)
    found = {}
    for name, raw in signatures:
        for verifier in verifiers:
            if verifier.name == name and raw[:4] == verifier.key_hash:
                stamp = verifier.check(text, raw)
                if stamp is None:
                    raise NoteError(f"the signature of {name} ({verifier.key_hash.hex()}) does not verify")
                found[verifier.vkey] = stamp
    return found


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str  # the note's text: origin, size, root and any extension lines, each ending in \n

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[0]:
            raise NoteError("a checkpoint is an origin, a size and a root hash, each on its line")
        size_text = lines[1]
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise NoteError("the checkpoint's size is not a decimal without leading zeroes")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except binascii.Error as exc:
            raise NoteError("the checkpoint's root hash is not base64") from exc
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(lines[0], int(size_text), root, text)


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
