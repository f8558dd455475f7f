"""Receipts as evidence: what an EHR kept, checked against the trail (`trail verify --receipts`).

A receipt is the service's signature over a decision's id, its entry's hash and when it was
recorded, given with the answer. Whoever rewrites the database cannot make one, and cannot make
the tree hold a receipt's hash at a decision's leaf unless the entry is the one answered. A
receipt holds when its signature verifies with the trail's key, its decision's entry is sealed at
a leaf with the receipt's hash, and that leaf is proved (RFC 6962 inclusion) to be in the tree of
the latest signed checkpoint, which `trail verify` checks against every earlier checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.record import merkle
from service.record.models import TrailEntry, TrailLeaf, TrailPending
from service.record.trail import b64, latest_checkpoint, log_origin, prove
from service.tenants import DEFAULT_TENANT


@dataclass(frozen=True)
class ReceiptCheck:
    line: int
    decision_id: str | None
    ok: bool
    detail: str

    def __str__(self) -> str:
        name = f"decision {self.decision_id}" if self.decision_id else "(no decision named)"
        return f"receipt {self.line} {name}: {'ok' if self.ok else 'FAILED'}: {self.detail}"


def check_receipts(session: Session, key, lines: list[str], tenant_id: str = DEFAULT_TENANT) -> list[ReceiptCheck]:
    """One check per non-blank line (JSON: a receipt object as answered), in `tenant_id`'s log: a
    receipt of another tenant's decision is not found there."""
    checkpoint = latest_checkpoint(session, tenant_id)
    signed = checkpoint is not None and _signed(key, checkpoint, tenant_id)
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            receipt = json.loads(line)
        except ValueError:
            out.append(ReceiptCheck(number, None, False, "not JSON"))
            continue
        opened = key.open_receipt(receipt) if isinstance(receipt, dict) else None
        if opened is None:
            out.append(ReceiptCheck(number, None, False, "its signature does not verify with the trail's key "
                                                         "(forged, or its signed text was altered)"))
            continue
        decision = opened["decision_id"]
        ok, detail = _in_tree(session, checkpoint if signed else None, decision, opened["entry_hash"], tenant_id)
        out.append(ReceiptCheck(number, decision, ok, detail))
    return out


def _signed(key, checkpoint, tenant_id: str) -> bool:
    text = key.open_note(checkpoint.note)
    return text is not None and text.split("\n")[0:3] == [log_origin(key.name, tenant_id), str(checkpoint.tree_size),
                                                          b64(checkpoint.root_hash)]


def _in_tree(session: Session, checkpoint, decision: str, entry_hash: str, tenant_id: str) -> tuple[bool, str]:
    seq = session.scalar(select(TrailEntry.seq).where(TrailEntry.tenant_id == tenant_id,
                                                      TrailEntry.entry_id == decision))
    if seq is None:
        return False, "its entry is not in this log (deleted, or another tenant's)"
    leaf = session.execute(select(TrailLeaf.leaf_index, TrailLeaf.hash)
                           .where(TrailLeaf.tenant_id == tenant_id, TrailLeaf.seq == seq)).first()
    if leaf is None:
        if session.get(TrailPending, (tenant_id, seq)) is not None:
            return False, f"entry {seq} is recorded and not sealed yet: check again in a minute"
        return False, f"entry {seq} is not in the tree"
    if leaf.hash.hex() != entry_hash:
        return False, (f"leaf {leaf.leaf_index} (entry {seq}) holds another hash than the receipt signed: the "
                       "entry was rewritten and sealed again")
    if checkpoint is None:
        return False, "no checkpoint signed by the trail's key covers the tree"
    if leaf.leaf_index >= checkpoint.tree_size:
        return False, f"entry {seq} is not covered by a checkpoint yet: check again in a minute"
    path = prove(session, lambda get: merkle.inclusion_path(leaf.leaf_index, checkpoint.tree_size, get), tenant_id)
    if not merkle.verify_inclusion(leaf.leaf_index, checkpoint.tree_size, leaf.hash, path, checkpoint.root_hash):
        return False, f"leaf {leaf.leaf_index} is not in the tree of signed checkpoint {checkpoint.tree_size}"
    return True, f"entry {seq} at leaf {leaf.leaf_index}, in signed checkpoint {checkpoint.tree_size}"
