"""The service's configuration: where the project is, the defaults of every setting, and where
they are overridden (the environment, or a test's mapping). Read by the app factory only; the
flows read the app's configuration, never this module's defaults."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Development values of secrets: production refuses to start with them (service/http/keys.py, check_start_up).
DEV_TRAIL_DIGEST_KEY = "dev-only-trail-digest-key"
DEV_WEBHOOK_SECRET = "whsec_ZGV2LW9ubHktd2ViaG9vay1zZWNyZXQtMzJieXRlcw=="


def defaults() -> dict:
    """Every setting's default (development values where a secret is needed)."""
    return dict(
        RULES_DIR=str(PROJECT_ROOT / "rules"),
        DATABASE_URL=f"sqlite:///{PROJECT_ROOT / 'instance' / 'separation_guard.sqlite'}",
        # With two PostgreSQL roles (docs/postgresql-roles.md): the owner's URL, for `separation-guard db upgrade`
        # and `db roles`; DATABASE_URL is then the service role's, and AUTO_MIGRATE is off.
        MIGRATION_URL=None,
        # Upgrade the schema as the app starts, once its rule set has passed its gate (`db upgrade`'s
        # upgrade, service/tools/db_cli.py): development and tests. Off where DATABASE_URL is the
        # service role, which may not change the schema: `separation-guard db upgrade` runs as the owner.
        AUTO_MIGRATE=True,
        MAX_CONTENT_LENGTH=256 * 1024,
        API_TITLE="Separation Guard",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        # OPENAPI_SWAGGER_UI_URL: served by the app (service/http/docs.py), so /docs works offline.
        API_SPEC_OPTIONS={
            "info": {"description": "Pre-action compliance checks for HR separations under PRC law. "
                                    "Every endpoint but /healthz, /readyz and this document needs "
                                    "`Authorization: Bearer <key>` with the scope it names."},
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
        JSON_SORT_KEYS=False,
        # Key of the request digest kept in the trail. Development default; set it in production.
        TRAIL_DIGEST_KEY=DEV_TRAIL_DIGEST_KEY,
        TRAIL_FACT_VALUES="non_sensitive",
        # The trail's Ed25519 keys (service/record/keyring.py, docs/trail-witness-and-keys.md): a
        # PEM or a path to one, outside the checkout in production; development makes them under
        # instance/. The receipt key: every web worker. The checkpoint key: only the sealer (the
        # worker); the others verify with its verifier key. Retired keys: role:vkey items.
        TRAIL_RECEIPT_KEY=None,
        TRAIL_CHECKPOINT_KEY=None,
        TRAIL_CHECKPOINT_VKEY=None,
        TRAIL_RETIRED_KEYS=None,
        TRAIL_SIGNING_KEY=None,  # before the split: one key for both (development only now)
        # AES-256-GCM key (base64, 32 bytes) sealing the employee facts a case's daily re-check
        # keeps; production requires it, development makes instance/recheck_key. Keys replaced
        # by it stay in RECHECK_OLD_KEYS (comma-separated) until no row names them.
        RECHECK_KEY=None,
        RECHECK_OLD_KEYS=None,
        TRAIL_ORIGIN="separation-guard.example/trail",
        # Seconds between sealing rounds of each process's sealer thread (0: no thread; run
        # `separation-guard worker` or `trail seal` instead). Off by default under TESTING.
        TRAIL_SEAL_SECONDS=0.5,
        TRAIL_SEALER_THREAD=None,
        # The worker verifies the trail incrementally this often (seconds; 0: only when asked,
        # by POST /v1/trail/verify or `trail verify`): docs/trail-verification-at-scale.md.
        TRAIL_VERIFY_SECONDS=3600,
        # Leaves of the verified tree an incremental verification spot-checks (0: none).
        TRAIL_VERIFY_SAMPLE=64,
        # Months the trail is kept before `trail archive` may take it (LCL-50: two years at least,
        # counted from the termination; docs/scaling.md). Never below 24.
        TRAIL_RETENTION_MONTHS=36,
        # The witness (c2sp.org/tlog-witness; `separation-guard witness serve`): every checkpoint is
        # submitted to TRAIL_WITNESS_URL/add-checkpoint, with retries, and `trail verify` requires
        # its cosignature, by TRAIL_WITNESS_VKEY (development: read from instance/witness/).
        # /readyz says degraded when the latest checkpoint waits longer than this for it.
        TRAIL_WITNESS_URL=None,
        TRAIL_WITNESS_VKEY=None,
        TRAIL_WITNESS_TIMEOUT=2.0,
        TRAIL_WITNESS_DEGRADED_SECONDS=60,
        WEBHOOK_URL=None,
        WEBHOOK_SECRET=DEV_WEBHOOK_SECRET,  # Standard Webhooks: whsec_ + base64; refused in production
        WEBHOOK_MAX_ATTEMPTS=5,
        WEBHOOK_BACKOFF_SECONDS=30,
        # "production" refuses to start with development secrets or without API keys.
        ENV="development",
        AUTH_REQUIRED=True,
        # A development key registered at start-up (development only): see the README's first check.
        DEV_KEY=None,
        # How long a sign-in to the pages lasts (the cookie holds a session token, never the key).
        PAGES_SESSION_HOURS=8,
        # How long a worker trusts a key it has looked up; a revocation elsewhere waits this long.
        API_KEY_CACHE_SECONDS=5,
        # Each worker checks the rule files' content hash this often and reloads on a change (0: off).
        RULES_WATCH_SECONDS=5,
        # The fixture cases every rule set must pass before it goes live (None: fixtures/ beside the
        # rules folder; where that folder does not exist, the rule examples alone gate).
        FIXTURES_DIR=None,
        # 401/403 refusals allowed per client address and minute before it gets 429 (Flask-Limiter).
        REFUSAL_RATE_LIMIT="30 per minute",
        # Where the limiter counts: memory:// counts per worker; redis://... is shared by every
        # worker and host that uses it.
        RATELIMIT_STORAGE_URI="memory://",
        # Refusals reach the trail as one count per client address and window of this length.
        REFUSAL_WINDOW_SECONDS=60,
    )


def configure(app: Flask, test_config: dict | None) -> None:
    """The defaults, then the environment (SEPARATION_GUARD_*), or a test's mapping instead."""
    app.config.from_mapping(defaults())
    if test_config is None:
        # SEPARATION_GUARD_DATABASE_URL=..., or plain DATABASE_URL as most platforms set it.
        app.config.from_prefixed_env("SEPARATION_GUARD")
        if "DATABASE_URL" in os.environ:
            app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    else:
        app.config.from_mapping(test_config)


def fixtures_dir(config) -> Path:
    """FIXTURES_DIR, else `fixtures/` beside the rules folder (the repository root's): the shared
    fixtures that gate the statutes and every company's pack."""
    configured = config.get("FIXTURES_DIR")
    return Path(configured) if configured else Path(config["RULES_DIR"]).resolve().parent / "fixtures"
