"""Checks across files that no one file's schema can make: a parameter citing a provision the
catalog does not have, a per-region parameter file not named by its region's code, and two policy
clauses given the same clause number. Each is a load problem, so the gate refuses them too."""
from __future__ import annotations

import re
from pathlib import Path

from schemas.fields import CN_REGIONS
from service.decide.parameters import ParameterSet
from service.decide.suggest import closest, did_you_mean

# (file, field path, reason), as the other data-file checks report them.
Found = list[tuple[str, str, str]]


def _rel(root: Path, path: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path


def parameter_references(root: Path, parameters: ParameterSet, citations: dict) -> Found:
    """Every metadata.reference of a parameter file (the file's and each value's) is a catalog ref."""
    out = []
    for file, where, ref in parameters.written_references():
        if ref not in citations:
            out.append((_rel(root, file), where, f"reference '{ref}' is not in rules/citations/"
                        + (did_you_mean(ref, citations) or " — add it to a citations file or cite one that is there")))
    return out


def _region_code(name: str) -> bool:
    return name in CN_REGIONS


def regional_files(root: Path, parameters: ParameterSet) -> Found:
    """A folder of per-region files (its name starts with `regional_`, or a file in it is named by a
    region code) is read by region code: a file named otherwise is never read."""
    folders: dict[str, list[str]] = {}
    files = parameters.files()
    for name in files:
        folder, _, last = name.rpartition(".")
        folders.setdefault(folder, []).append(last)
    out = []
    for folder, members in sorted(folders.items()):
        regional = folder.rpartition(".")[2].startswith("regional_") or any(map(_region_code, members))
        if not regional:
            continue
        for member in sorted(members):
            if _region_code(member) or member == "index":
                continue
            guess = f"CN-{member.upper()}" if f"CN-{member.upper()}" in CN_REGIONS else closest(member, CN_REGIONS)
            hint = f"did you mean {guess}? Rename it {guess}.yaml" if guess else \
                "rename it after its region's ISO 3166-2:CN code, e.g. CN-JS.yaml"
            out.append((_rel(root, files[f"{folder}.{member}"]), "",
                        f"'{member}' is not an ISO 3166-2:CN region code, so no check ever reads this file — {hint}"))
    return out


_CLAUSE = re.compile(r"^(?P<prefix>.+)-(?P<clause>[^-]+)$")


def policy_clause_clashes(citations: dict) -> Found:
    """A policy clause number (what follows a ref's last dash: `6.2` in POL-SLA-6.2) names one clause
    of the policy. Two refs of one policy (the same `law`) with the same number but different
    prefixes (a POL-OFF-6.2 beside POL-SLA-6.2, both of HR-POL-07) are two texts under one clause:
    one of them has the wrong number. Another policy numbers its own clauses."""
    by_clause: dict[tuple[str, str], list] = {}
    for ref, citation in citations.items():
        if citation.kind != "policy" or not (m := _CLAUSE.match(ref)):
            continue
        by_clause.setdefault((citation.law, m["clause"]), []).append(citation)
    out = []
    for (_, clause), cited in sorted(by_clause.items()):
        for later in cited[1:]:
            first = cited[0]
            out.append((later.file, f"citations.{later.ref}",
                        f"clause number {clause} of {later.ref} is already used by {first.ref} "
                        f"(article {first.article}, item {first.item}) — give {later.ref} its own clause number"))
    return out
