"""The citation registry (rules/citations/*.yaml): each provision's text, once, with its dates."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from marshmallow import ValidationError

from schemas.errors import flatten_messages
from schemas.rule_file import CitationFileSchema
from service.decide.yamlfile import YAMLError, load_yaml


@dataclass(frozen=True)
class Citation:
    ref: str
    kind: str
    law: str
    law_en: str
    article: str
    item: str | None
    text: str
    effective_from: dt.date
    effective_to: dt.date | None
    file: str

    def covers(self, start: dt.date, end: dt.date | None) -> bool:
        """In force over the whole of [start, end] (end None: open-ended)."""
        if start < self.effective_from:
            return False
        if self.effective_to is None:
            return True
        return end is not None and end <= self.effective_to

    def as_finding(self, role: str) -> dict:
        return {"ref": self.ref, "kind": self.kind, "law": self.law, "law_en": self.law_en,
                "article": self.article, "item": self.item, "text": self.text, "role": role}


def load_citations(root: Path) -> tuple[dict[str, Citation], list[tuple[str, str, str]]]:
    """All citation files under root/citations. Returns (registry, problems as (file, field, reason))."""
    return load_citation_files(root, sorted((root / "citations").glob("*.yaml")))


def load_citation_files(root: Path, paths) -> tuple[dict[str, Citation], list[tuple[str, str, str]]]:
    """The citation files given (a policy pack's own, service/decide/packs.py), named relative to root."""
    registry: dict[str, Citation] = {}
    problems = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        try:
            data = CitationFileSchema().load(load_yaml(path))
        except YAMLError as exc:
            problems.append((rel, "yaml", str(exc).replace("\n", " ")))
            continue
        except ValidationError as exc:
            problems.extend((rel, f, r) for f, r in flatten_messages(exc.messages))
            continue
        for ref, entry in data["citations"].items():
            if ref in registry:
                problems.append((rel, f"citations.{ref}", f"already defined in {registry[ref].file}"))
                continue
            registry[ref] = Citation(ref=ref, kind=data["kind"], file=rel, law=entry["law"],
                                     law_en=entry["law_en"], article=entry["article"],
                                     item=entry["item"], text=entry["text"],
                                     effective_from=entry["effective_from"],
                                     effective_to=entry["effective_to"])
    return registry, problems
