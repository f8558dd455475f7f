"""Sensitive personal information (PIPL Art. 28): what the trail may keep of a fact.

TRAIL_FACT_VALUES names what is kept of the facts that decided a finding:
  "non_sensitive" (default): values of ordinary facts; sensitive facts by name only;
  "none": every fact by name only.
Health facts (pregnancy, medical treatment, occupational disease, work injury) are never kept.
"""
from __future__ import annotations

from service.decide.sensitive import sensitive_field

REDACTED = "[sensitive]"
WITHHELD = "[not kept]"
KEEP_CHOICES = ("non_sensitive", "none")


def _kept(sensitive: frozenset[str], keep: str):
    """What the trail keeps of a fact's value: fact name, value -> the value, or its stand-in."""
    if keep not in KEEP_CHOICES:
        raise ValueError(f"TRAIL_FACT_VALUES must be one of {KEEP_CHOICES}, not {keep!r}")

    def kept(name, value):
        if name in sensitive:
            return REDACTED
        return value if keep == "non_sensitive" else WITHHELD
    return kept


def redact_findings(findings: list[dict], sensitive: frozenset[str], keep: str = "non_sensitive") -> list[dict]:
    kept = _kept(sensitive, keep)

    def facts(node: dict) -> dict:
        return {name: kept(name, value) for name, value in node.items()}

    # A finding judged on two days carries each day's facts as well.
    return [{**f, "facts": facts(f["facts"]),
             **({"dates": [{**d, "facts": facts(d["facts"])} for d in f["dates"]]} if "dates" in f else {})}
            for f in findings]


def redacted_facts(findings: list[dict], sensitive: frozenset[str], keep: str = "non_sensitive") -> dict:
    """The facts of findings (not their `dates`), merged in order, as redact_findings keeps them
    (without copying the findings: the trail entry of every check reads them)."""
    kept = _kept(sensitive, keep)
    merged: dict = {}
    for f in findings:
        merged.update(f["facts"])
    return {name: kept(name, value) for name, value in merged.items()}


def redact_assumed(assumed: list[dict], vocabulary, keep: str = "non_sensitive") -> list[dict]:
    """What a declaration filled in, as the trail may show it: the field and who declared it
    always; its value as a fact's would be."""
    def kept(item):
        if sensitive_field(item["field"], vocabulary):
            return REDACTED
        return item["value"] if keep == "non_sensitive" else WITHHELD

    return [{**item, "value": kept(item)} for item in assumed]
