"""Rule-set versions in the trail: each stored once, content-addressed by its version hash.

A version's entry (kind ruleset_change, entry_id = the version) holds every file the version
hash covers (rules, facts, citations, parameters, calendars, process config), byte for byte as
loaded. Decisions refer to it by version and keep only what varies per check, so the static text
of a finding (titles, messages, citations) is stored once per version, not once per check.
Recording is idempotent on the entry_id, so many workers and hosts starting together on one
version write one entry.
"""
from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path, PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from service.record.models import TrailEntry, TrailPending
from service.decide.rulebook import RuleBook, validate_rules, versioned_files
from service.record.trail import entry_hash, entry_values, sign_entry

KIND = "ruleset_change"


def snapshot_files(root: Path) -> dict[str, str]:
    """The files content_version covers, by relative path."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes().decode("utf-8") for p in versioned_files(root)}


def version_of(files: dict[str, str]) -> str:
    """content_version, recomputed from a snapshot: an auditor's check that it is complete."""
    digest = hashlib.sha256()
    for rel in sorted(files, key=PurePosixPath):
        digest.update(rel.encode() + b"\0" + files[rel].encode("utf-8") + b"\0")
    return "sha256:" + digest.hexdigest()


def record_ruleset(session: Session, key, rulebook: RuleBook, now, *, previous: str | None = None,
                   reason: str = "start-up") -> bool:
    """Record the rule set's version once, in the caller's transaction; True when this call wrote
    it. `key`: the trail's keyring, which signs the entry."""
    files = snapshot_files(rulebook.root)
    if version_of(files) != rulebook.version:  # edited on disk since it was loaded: record the next time
        return False
    values = entry_values(kind=KIND, entry_id=rulebook.version, recorded_at=now,
                          ruleset_version=rulebook.version,
                          body={"previous_version": previous, "reason": reason, "rules": sorted(rulebook.rules),
                                "files": files})
    return _insert_once(session, key, values)


def record_pack(session: Session, key, rulebook: RuleBook, now, *, previous: str | None = None,
                reason: str = "start-up") -> bool:
    """A company pack's version, once: its own files (its digest) and the statutes' version it is
    built on (their own entry holds their files), so an auditor rebuilds what decided."""
    pack = rulebook.pack
    files = snapshot_files(pack.folder)
    if version_of(files) != pack.digest:  # edited on disk since it was loaded: record the next time
        return False
    # In the company's own log: its auditor rebuilds its decisions from its log and the statutes'.
    values = entry_values(kind=KIND, entry_id=rulebook.version, recorded_at=now, ruleset_version=rulebook.version,
                          tenant_id=pack.tenant,
                          body={"previous_version": previous, "reason": reason, "tenant": pack.tenant,
                                "statutes": pack.statutes, "pack_digest": pack.digest,
                                "rules": sorted(k for k, r in rulebook.rules.items() if r.family == "company"),
                                "files": files})
    return _insert_once(session, key, values)


def _insert_once(session: Session, key, values: dict) -> bool:
    columns = {k: v for k, v in values.items() if k in TrailEntry.__table__.c}
    if session.bind.dialect.name == "postgresql":
        # entry_id is not unique on the partitioned table (migration 0015_scale): workers starting
        # together take turns on the version, and the first writes it.
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(values["entry_id"], 0))))
        seq = None
        if session.scalar(select(TrailEntry.seq).where(TrailEntry.entry_id == values["entry_id"])) is None:
            seq = session.scalar(pg_insert(TrailEntry.__table__).values(**columns).returning(TrailEntry.__table__.c.seq))
    else:  # one writer at a time: the transaction began IMMEDIATE
        if session.scalar(select(TrailEntry.seq).where(TrailEntry.entry_id == values["entry_id"])):
            return False
        seq = (session.scalar(select(func.coalesce(func.max(TrailEntry.seq), 0))) or 0) + 1
        session.execute(TrailEntry.__table__.insert().values(seq=seq, **columns))
    if seq is None:
        return False
    leaf = entry_hash(values)
    session.execute(TrailPending.__table__.insert().values(
        tenant_id=values["tenant_id"], seq=seq, hash=bytes.fromhex(leaf), signature=sign_entry(key, values, leaf)))
    return True


class _Versions:
    """The rule books of versions other than the serving one, read back from their trail entries."""

    def __init__(self, size: int = 4):
        self._cache: dict[str, RuleBook] = {}
        self._size, self._lock = size, threading.Lock()

    def rulebook(self, session: Session, version: str) -> RuleBook | None:
        """A recorded version's rule book, without an engine (rendering needs none), or None."""
        with self._lock:
            if version in self._cache:
                return self._cache[version]
        body = session.scalar(select(TrailEntry.body).where(TrailEntry.entry_id == version))
        if body is not None and "statutes" in body:
            found = _pack_version(session, version, body)
        elif body is None or "files" not in body or version_of(body["files"]) != version:
            return None
        else:
            with tempfile.TemporaryDirectory() as tmp:
                found = _statutes(Path(tmp), version, body["files"])
        if found is None:
            return None
        with self._lock:
            if len(self._cache) >= self._size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[version] = found
        return found


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))


def _statutes(root: Path, version: str, files: dict[str, str]) -> RuleBook:
    _write(root, files)
    checked = validate_rules(root)
    return RuleBook(root=Path("."), version=version, vocabulary=checked.vocabulary,
                    rules={r.key: r for r in checked.rules}, engine=None, context=checked.context,
                    names=checked.names, citations=checked.citations)


def _pack_version(session: Session, version: str, body: dict) -> RuleBook | None:
    """A pack's recorded version on the statutes' recorded version, each checked against its hash."""
    from service.decide.packs import COMPANIES, pack_rulebook, pack_version, validate_pack

    tenant, digest = body["tenant"], version_of(body["files"])
    if pack_version(body["statutes"], tenant, digest) != version:
        return None
    statutes = session.scalar(select(TrailEntry.body).where(TrailEntry.entry_id == body["statutes"]))
    if statutes is None or "files" not in statutes or version_of(statutes["files"]) != body["statutes"]:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        base = _statutes(Path(tmp), body["statutes"], statutes["files"])
        base.root = Path(tmp)
        _write(Path(tmp) / COMPANIES / tenant, body["files"])
        checked = validate_pack(Path(tmp), tenant, base.vocabulary, base.context, base.citations, base.rules.values())
        if checked.problems:
            return None
        found = pack_rulebook(base, checked, None, digest)
    found.root = Path(".")
    return found


VERSIONS = _Versions()
