"""Persistent records: the trail (every decision, case event and rule-set version), the case
ledger, and the notification outbox.

The trail is append-only. A writer inserts its entry and a row in the sealing queue (the entry's
hash and the receipt's signature over it), in one statement, and commits: no shared row is touched. The sealer
(service.record.sealer) appends queued entries to an RFC 6962 Merkle tree, stores the tree's new nodes
and publishes a signed checkpoint of its size and root. service.record.trail.verify recomputes it all.
Entries written before the tree (hash schemes 1 and 2) also keep their hash chain.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, ForeignKey, ForeignKeyConstraint, Index, Integer, LargeBinary, Sequence,
                        SmallInteger, String, Text, UniqueConstraint, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.record.db import Base
from service.tenants import DEFAULT_TENANT


def tenant_column(primary_key: bool = False):
    """The log an entry or a tree row belongs to (service.tenants): one Merkle log per tenant."""
    return mapped_column(String(64), primary_key=primary_key, autoincrement=False,
                         server_default=DEFAULT_TENANT)

# The insertion order of entries (not the tree's order: the sealer decides that). On SQLite,
# which has one writer at a time, the writer takes max(seq) + 1 instead.
ENTRY_SEQ = Sequence("trail_entries_seq", metadata=Base.metadata)


class TrailEntry(Base):
    __tablename__ = "trail_entries"

    seq: Mapped[int] = mapped_column(BigInteger, ENTRY_SEQ, primary_key=True, autoincrement=False)
    # A decision id (UUIDv7) or a rule set's version. Not a unique constraint: on PostgreSQL the table is
    # partitioned by month (migration 0015_scale), and a partitioned table's unique keys hold the
    # partition key; new ids are unique by construction, a version's entry is written once under a lock.
    entry_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(24))  # check | case_event | event_refused | ruleset | ...
    recorded_at: Mapped[dt.datetime]
    as_of: Mapped[dt.date | None]
    employee_id: Mapped[str | None] = mapped_column(String(128))
    case_id: Mapped[str | None] = mapped_column(String(128))
    process_type: Mapped[str | None] = mapped_column(String(32))  # the case kind, or "check" without one
    action_type: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(128))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    client_id: Mapped[str | None] = mapped_column(String(128))
    verdict: Mapped[str | None] = mapped_column(String(8))
    # JSONB on PostgreSQL for its GIN index (GET /v1/trail?rule_id=), a few bytes per entry.
    rule_ids: Mapped[list] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    ruleset_version: Mapped[str] = mapped_column(String(80))
    body: Mapped[dict]  # by reference: rule ids, verdicts, facts kept (redacted); service.record.recording
    request_digest: Mapped[str | None] = mapped_column(String(80))  # keyed digest, never the request
    prev_hash: Mapped[str | None] = mapped_column(String(64))  # schemes 1 and 2 only
    # Schemes 1 and 2: the chain hash. Scheme 3: NULL; the entry's hash is computed from its
    # content (service.record.trail.hash_of) and kept once, by the sealer, in trail_leaves.
    hash: Mapped[str | None] = mapped_column(String(64))
    hash_scheme: Mapped[int] = mapped_column(SmallInteger, server_default="1")  # service.record.trail: 1, 2 or 3
    # Not hashed (an entry's leaf is as before migration 0014): the log whose tree holds the
    # entry's leaf names its tenant, and verification checks the two agree (docs/tenant-logs.md).
    tenant_id: Mapped[str] = tenant_column()

    __table_args__ = (
        # Every read is one tenant's: the indexes lead with it.
        Index("ix_trail_tenant_seq", "tenant_id", "seq"),
        Index("ix_trail_employee_recorded", "tenant_id", "employee_id", "recorded_at"),
        # Partial: most entries are checks without a case, and a kind filter looks for the rarer kinds.
        Index("ix_trail_case", "tenant_id", "case_id", "seq", postgresql_where=text("case_id IS NOT NULL"),
              sqlite_where=text("case_id IS NOT NULL")),
        Index("ix_trail_kind_recorded", "tenant_id", "kind", "recorded_at", postgresql_where=text("kind <> 'check'"),
              sqlite_where=text("kind <> 'check'")),
        Index("ix_trail_rule_ids", "rule_ids", postgresql_using="gin", postgresql_with={"fastupdate": "off"},
              postgresql_ops={"rule_ids": "jsonb_path_ops"}),  # on SQLite a plain index, unused
        Index("ix_trail_entry_id", "entry_id"),
        # The time filters of GET /v1/trail: since/until (recorded_at), and at_since/at_until, which
        # read a check's as_of day (migration 0015_scale).
        Index("ix_trail_tenant_recorded", "tenant_id", "recorded_at"),
        Index("ix_trail_tenant_check_day", "tenant_id", "as_of", postgresql_where=text("kind = 'check'"),
              sqlite_where=text("kind = 'check'")),
    )


class TrailPending(Base):
    """Entries committed and not yet in the tree: the sealer's queue (empty when it keeps up).
    The writer leaves the hash it signed in its receipt here, with the receipt's signature; the
    sealer makes the hash the leaf only when the signature verifies, and never reads the entry's
    content: a row queued by anyone without the key is refused (service.record.sealer)."""

    __tablename__ = "trail_pending"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)  # the sealer takes each log's queue in turn
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(64))  # Ed25519, over the receipt's text


class TrailLegacyPending(Base):
    """Entries queued before writers signed what they queued (moved here by migration 0008): the
    sealer leaves them alone; `trail seal --legacy-unsigned` seals them once (service.record.legacy)."""

    __tablename__ = "trail_legacy_pending"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))  # None: queued by migration 0005


class TrailArchive(Base):
    """A month of one tenant's entries archived (`trail archive`, service/record/archive.py): its
    partition detached, its entries in a file with their inclusion proofs and checkpoint. The
    tree keeps their leaves; verification counts a leaf whose entry is in an archived seq range
    as archived, not missing."""

    __tablename__ = "trail_archives"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)
    month: Mapped[dt.date] = mapped_column(primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[dt.datetime]


class TrailLeaf(Base):
    """The tree's order: leaf `leaf_index` is entry `seq`, with the hash the sealer read from it.
    Kept apart from the entry so that an entry edited with its hash recomputed is still named."""

    __tablename__ = "trail_leaves"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)
    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TrailNode(Base):
    """Every complete interior node from level merkle.STORED_FROM (3) up: (level, index) covers
    leaves index*2**level onwards. Lower ones are folded from the leaves when a proof needs them."""

    __tablename__ = "trail_nodes"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TrailCheckpoint(Base):
    """A signed checkpoint (c2sp.org/tlog-checkpoint): the tree's size and root, as published."""

    __tablename__ = "trail_checkpoints"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    published_at: Mapped[dt.datetime]
    note: Mapped[str] = mapped_column(Text)


class TrailCosignature(Base):
    """The witness's cosignature of a checkpoint (c2sp.org/tlog-cosignature, cosignature/v1), as
    it answered add-checkpoint (service.record.witnessing). A checkpoint without one waits to be
    submitted again."""

    __tablename__ = "trail_cosignatures"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(255))   # the witness's verifier key
    signature: Mapped[str] = mapped_column(Text)         # the note signature line
    cosigned_at: Mapped[dt.datetime]                     # the time the cosignature states


class TrailHead(Base):
    """The end of the hash chain of entries written before the tree (schemes 1 and 2); frozen."""

    __tablename__ = "trail_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))  # the hash the last move replaced


def tenant_column(primary_key: bool = False) -> Mapped[str]:
    """The tenant a row belongs to (service.tenants); rows from before tenants are the default's."""
    return mapped_column(String(64), primary_key=primary_key, server_default=DEFAULT_TENANT)


class Case(Base):
    """A case; its id is the EHR's, unique within its tenant (two tenants' case C1 are two cases)."""

    __tablename__ = "cases"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    employee_id: Mapped[str] = mapped_column(String(128))
    hr_owner_id: Mapped[str | None] = mapped_column(String(128))
    manager_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime]
    event_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_cases_tenant_employee", "tenant_id", "employee_id"),
                      # What the case's events carry as case_opened_at, held to it by their foreign key.
                      UniqueConstraint("tenant_id", "id", "created_at"))


class CaseEvent(Base):
    """An event as submitted: accepted ones make the case; refused ones are kept for the record."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_column()
    case_id: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(Integer)
    client_key: Mapped[str] = mapped_column(String(128))
    accepted: Mapped[bool]
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime | None]  # when the declaration reached the other party, if not `at`
    actor_id: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_department: Mapped[str | None] = mapped_column(String(128))
    form: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime]
    decision_id: Mapped[str] = mapped_column(String(36))
    response_status: Mapped[int] = mapped_column(Integer)
    # The answer given is replayed for a repeated client key, rendered again from the trail entry
    # (service.flows.case_replay); kept here is only what the trail does not hold: `employee_from`
    # when the event was decided on kept facts (else NULL), and the receipt's signature (Ed25519,
    # 64 bytes). Rows recorded before migration 0016 keep the whole answer here, and no signature.
    response: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # NULL, not JSON null: 5 B a row
    receipt_signature: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    # A keyed digest of the request (trail.request_digest): a client key reused with another
    # request is refused, not answered with this one's answer. None: recorded before 0008.
    body_digest: Mapped[str | None] = mapped_column(String(80))

    # The case's created_at: on PostgreSQL the table is partitioned by it, by month (migration
    # 0015_scale), so a case's events stay in one partition. Every event of a case carries the same
    # value (the foreign key holds it to the case's), so (tenant, case, seq, case_opened_at) is
    # unique exactly when (tenant, case, seq) is: a partitioned table's unique keys hold its key.
    case_opened_at: Mapped[dt.datetime]

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "case_id", "case_opened_at"],
                             ["cases.tenant_id", "cases.id", "cases.created_at"]),
        UniqueConstraint("tenant_id", "case_id", "seq", "case_opened_at"),
        UniqueConstraint("tenant_id", "case_id", "client_key", "case_opened_at"),
    )


class Notification(Base):
    """The outbox: written in the transaction that caused it, delivered by webhook or polled."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = tenant_column()
    created_at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(32))  # status_changed | step_overdue | event_refused
    case_id: Mapped[str | None] = mapped_column(String(128))
    employee_id: Mapped[str | None] = mapped_column(String(128))
    recipient_role: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict]
    dedupe_key: Mapped[str] = mapped_column(String(255))  # unique per tenant
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    # The delivery worker claims due rows of every tenant: its index does not lead with one.
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),
                      Index("ix_notifications_recipient", "tenant_id", "recipient_role", "recipient_id", "created_at"),
                      Index("ix_notifications_tenant_created", "tenant_id", "created_at"),
                      UniqueConstraint("tenant_id", "dedupe_key"))


class ApiClient(Base):
    """A caller of the API: a named client, its key's digest and its scopes."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The key is looked up by its digest before its tenant is known: api_clients' indexes do not
    # lead with the tenant.
    tenant_id: Mapped[str] = tenant_column()
    name: Mapped[str] = mapped_column(String(128), index=True)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list]
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    # Areas of the record this client declares complete (rules/records/complete_record.yaml): a
    # field it leaves out there is read as none on every request it sends.
    complete_record: Mapped[list | None]
    # The actor roles its requests may assert (`keys create --role`); None: any role.
    roles: Mapped[list | None]


class WorkerState(Base):
    """The background worker, as every web worker and host can read it: who holds the worker's
    lease (SQLite; PostgreSQL uses an advisory lock), its last heartbeat, and when each of its
    tasks last ran (a daily task runs once per day in China whichever process runs it)."""

    __tablename__ = "worker_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))  # host:pid of the active worker
    lease_until: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    tasks: Mapped[dict]  # task name -> {"last_run_at", "last_day", "result"}


class CaseRecheck(Base):
    """The daily re-check of an open case: its next step's verdict when last decided, and the
    employee facts the EHR last gave for the case, sealed (service.record.recheck_keys). The row
    lives while the case is open: the facts may hold health facts (PIPL Art. 28)."""

    __tablename__ = "case_rechecks"

    tenant_id: Mapped[str] = tenant_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    employee_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # nonce || AES-GCM ciphertext
    key_id: Mapped[str | None] = mapped_column(String(16))  # the key that sealed it
    employee_given_at: Mapped[dt.datetime | None]
    # The decision (trail entry id) whose request gave them: a later event that leaves the
    # employee record out is decided on these facts and says where they came from.
    employee_decision_id: Mapped[str | None] = mapped_column(String(80))
    next_step: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str | None] = mapped_column(String(8))
    rule_ids: Mapped[list | None]
    checked_on: Mapped[dt.date | None]

    __table_args__ = (ForeignKeyConstraint(["tenant_id", "case_id"], ["cases.tenant_id", "cases.id"]),)


class PageSession(Base):
    """A browser's sign-in to the pages: the cookie holds a random token, stored here only as
    its digest; it expires, and signing out (or revoking the client) ends it."""

    __tablename__ = "page_sessions"

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = tenant_column()  # its client's: what the signed-in pages show
    client_id: Mapped[str] = mapped_column(ForeignKey("api_clients.id"), index=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class TrailVerification(Base):
    """One verification of the trail, as a Certificate Transparency monitor keeps them: requested
    (by POST /v1/trail/verify), running (with its progress), or finished with its result. The
    last one that held is where the next incremental verification resumes: its checkpoint (size,
    root and the signed note) is re-checked, then only what came after it
    (service.record.verification). A failure is a row of its own: it never moves that point."""

    __tablename__ = "trail_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_column()  # the log verified: each resumes from its own last one
    mode: Mapped[str] = mapped_column(String(12))  # incremental | full
    status: Mapped[str] = mapped_column(String(12))  # requested | running | ok | failed | error
    requested_by: Mapped[str | None] = mapped_column(String(128))  # an API client's name, "cli", "worker"
    requested_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]  # a running one's last progress: stale means its process died
    finished_at: Mapped[dt.datetime | None]
    holder: Mapped[str | None] = mapped_column(String(128))  # host:pid running it
    from_size: Mapped[int | None] = mapped_column(BigInteger)  # the verified checkpoint it resumed from
    tree_size: Mapped[int | None] = mapped_column(BigInteger)  # the checkpoint it verified up to
    root_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    note: Mapped[str | None] = mapped_column(Text)  # that checkpoint's signed note, as verified
    max_seq: Mapped[int | None] = mapped_column(BigInteger)  # the highest entry seq it saw
    # Every entry up to this seq was a verified leaf: the next incremental verification looks
    # for strays (entries neither sealed nor queued) after it only.
    sealed_through: Mapped[int | None] = mapped_column(BigInteger)
    to_check: Mapped[int | None] = mapped_column(BigInteger)  # leaves it re-hashes
    checked: Mapped[int | None] = mapped_column(BigInteger)  # leaves re-hashed so far (progress)
    entries: Mapped[int | None] = mapped_column(BigInteger)
    pending: Mapped[int | None] = mapped_column(BigInteger)
    checkpoints: Mapped[int | None] = mapped_column(BigInteger)
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[list | None]  # what it found, in words (a failure carried forward included)

    __table_args__ = (Index("ix_trail_verifications_status", "tenant_id", "status", "id"),)
