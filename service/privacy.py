"""Sensitive personal information (PIPL Art. 28): what may be kept of a health fact."""
from __future__ import annotations

REDACTED = "[sensitive]"


def redact_findings(findings: list[dict], sensitive: frozenset[str]) -> list[dict]:
    """Findings as stored: a sensitive fact keeps its name (it decided the finding), not its value."""
    return [{**f, "facts": {name: (REDACTED if name in sensitive else value)
                            for name, value in f["facts"].items()}}
            for f in findings]
