"""Identifiers of new rows: UUIDv7 (RFC 9562), whose first 48 bits are the time in milliseconds.

A random UUIDv4 lands anywhere in its unique index, so once the index outgrows memory every
insert reads a page from disk (issue 22: 73 MB per million trail entries). A time-ordered id lands
at the right edge, beside the last one. The string form is the usual 36 characters, so the v1
contract (decision_id, notification and client ids) is unchanged. uuid-utils (Rust, RFC 9562
method 1: a counter keeps ids made in the same millisecond in order) until Python 3.14's
uuid.uuid7. Read from the system clock, never from the request's as_of: an id says when it was
minted, and freezegun in tests leaves it alone.
"""
from __future__ import annotations

from uuid_utils.compat import uuid7


def new_id() -> str:
    return str(uuid7())
