"""The trail's keys: one signs receipts, another signs checkpoints, and retired ones still verify.

- The receipt key (TRAIL_RECEIPT_KEY) signs each entry's receipt as it is written: every web
  worker holds it. The sealer checks queued rows against it (and the retired receipt keys).
- The checkpoint key (TRAIL_CHECKPOINT_KEY) signs the tree's checkpoints, as the C2SP note key of
  the log's origin. Only a process that seals reads it, and only when it first seals: the others
  verify with its public half (TRAIL_CHECKPOINT_VKEY, or the development .vkey file).
- TRAIL_RETIRED_KEYS: the verifier keys of keys rotated out, `receipt:<vkey>` or
  `checkpoint:<vkey>` (separated by commas or white space; or a path to a file of them). What
  they signed keeps verifying: docs/trail-witness-and-keys.md gives the rotation procedure.

Each key has a key id: its C2SP verifier key (name+hex(key hash)+base64(0x01 || public key)).
A receipt carries its key's id; a checkpoint's signature line carries the 4-byte key hash.

The Keyring answers what a single TrailKey did (service.record.signing), each call by the key of
its role, so the callers never changed. Before this, one key (TRAIL_SIGNING_KEY, or development's
instance/trail_signing_key.pem) signed both: it becomes a retired key of both roles.

Production reads keys from configuration outside the checkout (a PEM in the environment, or a
path outside it) and refuses a path inside it; development makes its keys under instance/.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from service.config import PROJECT_ROOT
from service.record.signing import DEV_KEY_FILE, SigningKeyError, TrailKey, write_once
from service.signed_notes import COSIGNATURE_V1, NOTE_ED25519, NoteError, Signer, Verifier

DEV_RECEIPT_KEY, DEV_CHECKPOINT_KEY = "trail_receipt_key.pem", "trail_checkpoint_key.pem"
DEV_WITNESS_NAME = "separation-guard.example/witness"  # the development witness's (service/witness/cli.py)
DEV_CHECKPOINT_VKEY = "trail_checkpoint_key.vkey"
ROLES = ("receipt", "checkpoint")


@dataclass
class Keyring:
    name: str
    receipt_key: TrailKey                            # with its private key: every writer signs receipts
    checkpoint_public: TrailKey                      # the current checkpoint key's public half
    retired: dict[str, list[TrailKey]] = field(default_factory=lambda: {r: [] for r in ROLES})
    load_checkpoint: Callable[[], TrailKey] | None = None  # reads the private checkpoint key
    _checkpoint: TrailKey | None = None

    # -- roles ------------------------------------------------------------------------------
    def receipt_keys(self) -> list[TrailKey]:
        return [self.receipt_key, *self.retired["receipt"]]

    def checkpoint_keys(self) -> list[TrailKey]:
        return [self.checkpoint_public, *self.retired["checkpoint"]]

    def checkpoint_signer(self) -> TrailKey:
        """The private checkpoint key, read on first use (only sealing processes ever call this)."""
        if self._checkpoint is None:
            if self.load_checkpoint is None:
                raise SigningKeyError("this process does not hold the checkpoint key (TRAIL_CHECKPOINT_KEY): "
                                      "only the sealer does")
            key = self.load_checkpoint()
            if key.key_id != self.checkpoint_public.key_id:
                raise SigningKeyError("TRAIL_CHECKPOINT_KEY is not the key of TRAIL_CHECKPOINT_VKEY")
            self._checkpoint = key
        return self._checkpoint

    # -- what a TrailKey answered: checkpoints ----------------------------------------------------
    @property
    def key_id(self) -> str:
        return self.checkpoint_public.key_id

    def public_pem(self) -> str:
        return self.checkpoint_public.public_pem()

    def sign_note(self, text: str) -> str:
        return self.checkpoint_signer().sign_note(text)

    def open_note(self, note: str) -> str | None:
        for key in self.checkpoint_keys():
            text = key.open_note(note)
            if text is not None:
                return text
        return None

    def checkpoint_verifiers(self) -> list[Verifier]:
        return [Verifier(k.name, NOTE_ED25519, k.public) for k in self.checkpoint_keys()]

    # -- receipts ---------------------------------------------------------------------------
    def sign(self, text: str) -> bytes:
        return self.receipt_key.sign(text)

    def verify(self, text: str, signature: bytes) -> bool:
        """A receipt's signature, by the receipt key or a retired one (queued before a rotation)."""
        return any(key.verify(text, signature) for key in self.receipt_keys())

    def receipt_text(self, **fields) -> str:
        return self.receipt_key.receipt_text(**fields)

    def receipt(self, **fields) -> dict:
        return self.receipt_key.receipt(**fields)

    def open_receipt(self, receipt: dict) -> dict | None:
        wanted = receipt.get("key_id") if isinstance(receipt, dict) else None
        for key in self.receipt_keys():
            if key.key_id == wanted:
                return key.open_receipt(receipt)
        return None

    def listing(self) -> list[tuple[str, str, str]]:
        """(role, state, key id) of every key, for `trail keys list`."""
        return ([("receipt", "current", self.receipt_key.key_id), ("checkpoint", "current", self.key_id)]
                + [(role, "retired", k.key_id) for role in ROLES for k in self.retired[role]])


# -- loading ------------------------------------------------------------------------------------

def private_key(value: str, setting: str, production: bool, project_root: Path) -> Ed25519PrivateKey:
    """A PEM given inline, or the path of one (outside the checkout, in production)."""
    text = str(value)
    if text.lstrip().startswith("-----"):
        pem = text.encode()
    else:
        path = outside_checkout(text, setting, production, project_root)
        pem = path.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{setting} must be an Ed25519 private key")
    return key


def outside_checkout(value: str, setting: str, production: bool, project_root: Path) -> Path:
    path = Path(value).expanduser().resolve()
    if production and path.is_relative_to(project_root.resolve()):
        raise SigningKeyError(f"{setting} names a file inside the checkout ({path}): in production keys "
                              "live outside it (a path elsewhere, or the PEM itself in the environment)")
    return path


def _from_private(name: str, key: Ed25519PrivateKey) -> TrailKey:
    return TrailKey(name, key, key.public_key())


def public_trail_key(vkey: str, setting: str) -> TrailKey:
    try:
        verifier = Verifier.from_vkey(vkey)
    except NoteError as exc:
        raise SigningKeyError(f"{setting}: {exc}") from None
    if verifier.alg != NOTE_ED25519:
        raise SigningKeyError(f"{setting}: not an Ed25519 note key (type 0x01)")
    return TrailKey(verifier.name, None, verifier.public)


def retired_keys(value: str | None, production: bool, project_root: Path) -> dict[str, list[TrailKey]]:
    retired: dict[str, list[TrailKey]] = {r: [] for r in ROLES}
    if not value:
        return retired
    text = str(value).strip()
    if not text.startswith(ROLES):  # a path to a file of role:vkey items
        text = outside_checkout(text, "TRAIL_RETIRED_KEYS", production, project_root).read_text()
    for item in re.split(r"[\s,]+", text.strip()):
        if not item or item.startswith("#"):
            continue
        role, _, vkey = item.partition(":")
        if role not in ROLES:
            raise SigningKeyError(f"TRAIL_RETIRED_KEYS: {item[:40]!r} is not receipt:<vkey> or checkpoint:<vkey>")
        retired[role].append(public_trail_key(vkey, "TRAIL_RETIRED_KEYS"))
    return retired


def _dev_pem(path: Path) -> None:
    write_once(path, lambda: Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def dev_checkpoint_vkey(instance: Path, name: str) -> str:
    """Development: the checkpoint key's verifier key, from a file beside it, so that a process
    that does not seal never reads the private key (both files are made once, by whoever is first)."""
    pem = instance / DEV_CHECKPOINT_KEY
    _dev_pem(pem)
    vkey_file = instance / f"{name.replace('/', '_')}.{DEV_CHECKPOINT_VKEY}"
    write_once(vkey_file, lambda: _from_private(name, serialization.load_pem_private_key(
        pem.read_bytes(), password=None)).key_id.encode())
    return vkey_file.read_text().strip()


def dev_legacy_key(instance: Path, name: str) -> TrailKey | None:
    """The one key development used for both roles before they were split: retired in both."""
    path = instance / DEV_KEY_FILE
    if not path.exists():
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return TrailKey(name, None, key.public_key()) if isinstance(key, Ed25519PrivateKey) else None


def load_keyring(config: dict, instance: Path, project_root: Path) -> Keyring:
    name = config["TRAIL_ORIGIN"]
    production = config["ENV"] == "production"
    if production and config.get("TRAIL_SIGNING_KEY") and not config.get("TRAIL_RECEIPT_KEY"):
        raise SigningKeyError("TRAIL_SIGNING_KEY (one key for receipts and checkpoints) is replaced by "
                              "TRAIL_RECEIPT_KEY and TRAIL_CHECKPOINT_KEY, with the old key's verifier key in "
                              "TRAIL_RETIRED_KEYS (docs/trail-witness-and-keys.md, 'Moving from one key')")
    retired = retired_keys(config.get("TRAIL_RETIRED_KEYS"), production, project_root)
    # receipts
    if config.get("TRAIL_RECEIPT_KEY"):
        receipt = _from_private(name, private_key(config["TRAIL_RECEIPT_KEY"], "TRAIL_RECEIPT_KEY", production,
                                                  project_root))
    elif config.get("TRAIL_SIGNING_KEY"):  # development only (production refused it above)
        receipt = _from_private(name, private_key(config["TRAIL_SIGNING_KEY"], "TRAIL_SIGNING_KEY", False,
                                                  project_root))
    elif production:
        raise SigningKeyError("TRAIL_RECEIPT_KEY is not set (the Ed25519 key that signs receipts, PEM)")
    else:
        _dev_pem(instance / DEV_RECEIPT_KEY)
        receipt = _from_private(name, private_key(str(instance / DEV_RECEIPT_KEY), "", False, project_root))
    # checkpoints: the private key lazily, the public half now
    configured = config.get("TRAIL_CHECKPOINT_KEY") or (None if production else config.get("TRAIL_SIGNING_KEY"))
    if configured:
        setting = "TRAIL_CHECKPOINT_KEY" if config.get("TRAIL_CHECKPOINT_KEY") else "TRAIL_SIGNING_KEY"

        def load() -> TrailKey:
            return _from_private(name, private_key(configured, setting, production, project_root))
    elif production:
        load = None
    else:
        def load() -> TrailKey:
            return _from_private(name, private_key(str(instance / DEV_CHECKPOINT_KEY), "", False, project_root))
    if config.get("TRAIL_CHECKPOINT_VKEY"):
        public = public_trail_key(config["TRAIL_CHECKPOINT_VKEY"], "TRAIL_CHECKPOINT_VKEY")
    elif configured:
        public = load()  # given the key, this process seals: it reads it now
    elif production:
        raise SigningKeyError("TRAIL_CHECKPOINT_VKEY is not set (the checkpoint key's verifier key: "
                              "`separation-guard trail keys create` prints it)")
    else:
        public = public_trail_key(dev_checkpoint_vkey(instance, name), "the development checkpoint key")
    if not production and not config.get("TRAIL_SIGNING_KEY"):
        legacy = dev_legacy_key(instance, name)
        if legacy is not None:
            for role in ROLES:
                if legacy.key_id not in {k.key_id for k in retired[role]}:
                    retired[role].append(legacy)
    ring = Keyring(name, receipt, TrailKey(public.name, None, public.public), retired, load)
    if public.private is not None:
        ring._checkpoint = public
    return ring


def dev_witness_signer(instance: Path, name: str = DEV_WITNESS_NAME) -> Signer:
    """Development's witness key, made once under instance/witness/ by whoever asks first (the
    witness, or the service that needs its verifier key)."""
    path = instance / "witness" / "witness_key.pem"
    write_once(path, lambda: Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return Signer(name, COSIGNATURE_V1, serialization.load_pem_private_key(path.read_bytes(), password=None))


def init_app(app: Flask) -> None:
    """app.extensions["trail_key"]: the keyring, which answers as a TrailKey did, each call by
    the key of its role."""
    app.extensions["trail_key_problem"] = None
    try:
        app.extensions["trail_key"] = load_keyring(app.config, Path(app.instance_path), PROJECT_ROOT)
    except (SigningKeyError, OSError, ValueError) as exc:
        if app.config["ENV"] != "production":
            raise
        # keys.check_start_up refuses to start, naming it
        app.extensions["trail_key"], app.extensions["trail_key_problem"] = None, str(exc)
