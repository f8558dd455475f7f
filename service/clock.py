"""The one wall clock. Read only for a request's default as_of and a record's received-at time."""
from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)  # wall clock ok
