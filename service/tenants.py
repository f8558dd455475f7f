"""Tenants: the companies one deployment serves. Every record belongs to one; statutes bind all of
them, and a company's policy pack (rules/companies/<tenant>/) can only add to them.

A key belongs to a tenant (`separation-guard keys create NAME --tenant T`); the request's tenant
is its key's (`g.tenant`, set by service.http.auth), and a deployment that never names one serves
the `default` tenant, as a single company did before tenants existed."""
from __future__ import annotations

import re

DEFAULT_TENANT = "default"

# A tenant id is also a directory name (rules/companies/<tenant>/) and the last segment of its
# log's origin (service.record.trail), so it is kept to what is safe in both.
TENANT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")


def valid_tenant(tenant: str) -> bool:
    return bool(TENANT_ID.match(tenant))
