"""`separation-guard trail keys ...`: the trail's keys, for rotation (docs/trail-witness-and-keys.md).

create  a new Ed25519 key file (receipts or checkpoints), and its key id to publish
list    the keys this configuration verifies with: current and retired, by role
show    the key ids of a key file (the one being retired, say), as TRAIL_RETIRED_KEYS items
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from flask.cli import AppGroup

from service.config import PROJECT_ROOT
from service.record.keyring import ROLES, private_key
from service.record.signing import SigningKeyError, TrailKey

trail_keys_group = AppGroup("keys", help="The trail's signing keys: create, list, show (rotation).")


@trail_keys_group.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the key will sign")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def create_command(role, path):
    """Write a new Ed25519 private key to PATH (mode 0600, never over an existing file) and print
    its key id. In production PATH must be outside the checkout."""
    production = current_app.config["ENV"] == "production"
    if production and path.expanduser().resolve().is_relative_to(PROJECT_ROOT.resolve()):
        raise click.BadParameter("in production keys live outside the checkout", param_hint="PATH")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists: a key is never overwritten") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    vkey = TrailKey(current_app.config["TRAIL_ORIGIN"], key, key.public_key()).key_id
    setting = "TRAIL_RECEIPT_KEY" if role == "receipt" else "TRAIL_CHECKPOINT_KEY"
    click.echo(f"{role} key written to {path}\nkey id: {vkey}")
    click.echo(f"next: put the current {role} key's id in TRAIL_RETIRED_KEYS as {role}:<its key id> "
               f"(`trail keys list`), set {setting}={path}"
               + (f" and TRAIL_CHECKPOINT_VKEY={vkey} everywhere, add the key id to the witness's "
                  "SEPARATION_GUARD_WITNESS_LOG_KEYS" if role == "checkpoint" else "")
               + ", then restart", err=True)


@trail_keys_group.command("list")
def list_command():
    """Every key the trail verifies with: ROLE STATE KEY-ID."""
    for role, state, key_id in current_app.extensions["trail_key"].listing():
        click.echo(f"{role:<10} {state:<8} {key_id}")


@trail_keys_group.command("show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def show_command(path):
    """The key id of the key file PATH, as TRAIL_RETIRED_KEYS items for both roles (the single key
    used before the split signed both receipts and checkpoints)."""
    try:
        key = private_key(path, "PATH", False, PROJECT_ROOT)
    except (SigningKeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    vkey = TrailKey(current_app.config["TRAIL_ORIGIN"], key, key.public_key()).key_id
    for role in ROLES:
        click.echo(f"{role}:{vkey}")
