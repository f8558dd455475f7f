"""`separation-guard witness serve`: the witness as its own process; `witness vkey`: its key.

Configured from the environment, apart from the service's settings:
  SEPARATION_GUARD_WITNESS_NAME          its key name (default separation-guard.example/witness)
  SEPARATION_GUARD_WITNESS_KEY           its Ed25519 private key: a PEM, or a path to one
  SEPARATION_GUARD_WITNESS_DATABASE_URL  its own storage (SQLAlchemy URL)
  SEPARATION_GUARD_WITNESS_LOG_KEYS      the logs it witnesses: their checkpoint keys' verifier keys
                                         (name+hash+key; the name is the log's origin), separated
                                         by commas or white space; two for one origin while rotating
With SEPARATION_GUARD_ENV=production all four are required (NAME aside) and key paths inside the
checkout are refused. In development the key and storage live under instance/witness/ and the log
key is the development checkpoint key's, so `make run` needs no setting.
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from service.config import PROJECT_ROOT
from service.record.keyring import DEV_WITNESS_NAME, dev_witness_signer
from service.signed_notes import COSIGNATURE_V1, NOTE_ED25519, NoteError, Signer, Verifier

DEFAULT_NAME = DEV_WITNESS_NAME
DEFAULT_ORIGIN = "separation-guard.example/trail"
PREFIX = "SEPARATION_GUARD_"


def _env(name: str) -> str | None:
    return os.environ.get(PREFIX + name) or None


def instance() -> Path:
    return PROJECT_ROOT / "instance"


def dev_signer(instance_path: Path, name: str | None = None) -> Signer:
    """Development's witness key, made once under instance/witness/ by whoever asks first."""
    return dev_witness_signer(instance_path, name or _env("WITNESS_NAME") or DEFAULT_NAME)


def dev_service_keyring():
    """Development: the service's keyring as this environment configures it (its
    SEPARATION_GUARD_TRAIL_* settings, or the development keys under instance/)."""
    from service.record.keyring import load_keyring
    config = {"TRAIL_ORIGIN": _env("TRAIL_ORIGIN") or DEFAULT_ORIGIN, "ENV": "development"}
    config.update({name: _env(name) for name in ("TRAIL_RECEIPT_KEY", "TRAIL_CHECKPOINT_KEY", "TRAIL_CHECKPOINT_VKEY",
                                                 "TRAIL_RETIRED_KEYS", "TRAIL_SIGNING_KEY")})
    return load_keyring(config, instance(), PROJECT_ROOT)


def load_witness():
    """The Witness of this environment's settings (ClickException naming what is missing)."""
    from service.record.keyring import private_key
    from service.record.signing import SigningKeyError
    from service.witness.app import Witness
    from service.witness.store import Store

    production = _env("ENV") == "production"
    name = _env("WITNESS_NAME") or DEFAULT_NAME
    try:
        if _env("WITNESS_KEY"):
            signer = Signer(name, COSIGNATURE_V1, private_key(_env("WITNESS_KEY"), "SEPARATION_GUARD_WITNESS_KEY",
                                                              production, PROJECT_ROOT))
        elif production:
            raise click.ClickException("SEPARATION_GUARD_WITNESS_KEY is not set (its Ed25519 key, PEM)")
        else:
            signer = dev_signer(instance(), name)
        url = _env("WITNESS_DATABASE_URL")
        if url is None and production:
            raise click.ClickException("SEPARATION_GUARD_WITNESS_DATABASE_URL is not set (the witness's own storage)")
        if url is None:
            (instance() / "witness").mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{instance() / 'witness' / 'witness.sqlite'}"
        vkeys = (_env("WITNESS_LOG_KEYS") or "").replace(",", " ").split()
        if not vkeys and production:
            raise click.ClickException("SEPARATION_GUARD_WITNESS_LOG_KEYS is not set (the logs' checkpoint keys)")
        if not vkeys:  # development: the keys the service run from this environment signs with
            vkeys = [v.vkey for v in dev_service_keyring().checkpoint_verifiers()]
        logs: dict[str, list[Verifier]] = {}
        for vkey in vkeys:
            verifier = Verifier.from_vkey(vkey)
            if verifier.alg != NOTE_ED25519:
                raise click.ClickException(f"log key {verifier.name}: not a checkpoint (note) key")
            logs.setdefault(verifier.name, []).append(verifier)
    except (SigningKeyError, NoteError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    return Witness(signer, logs, Store(url))


@click.group("witness", help="A witness of the trail (c2sp.org/tlog-witness): its own process, key and storage.")
def witness_group():
    pass


@witness_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5200, show_default=True, type=int)
def serve_command(host, port):
    """Serve add-checkpoint and the latest cosigned checkpoints until interrupted."""
    import logging

    from werkzeug.serving import make_server

    from service.witness.app import create_witness_app
    witness = load_witness()
    # Refusals are logged by the witness itself (with the note, as evidence); no access line per
    # cosignature, which `make run` would print twice a second.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(host, port, create_witness_app(witness), threaded=True)
    click.echo(f"witness {witness.signer.verifier.vkey} on http://{host}:{server.server_port}, for "
               + ", ".join(witness.logs))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@witness_group.command("vkey")
def vkey_command():
    """Print the witness's verifier key: the service's TRAIL_WITNESS_VKEY, an auditor's trust root."""
    click.echo(load_witness().signer.verifier.vkey)


def wsgi_app():
    """For a WSGI server: gunicorn 'service.witness.cli:wsgi_app()'."""
    from service.witness.app import create_witness_app
    return create_witness_app(load_witness())
