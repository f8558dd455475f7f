"""One finding of `rules lint` (service/tools/lint.py), shared by its checks (lint_names.py too)."""
from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Issue:
    severity: str        # error or warning
    file: str            # relative to the rules folder
    line: int | None
    rule_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        rule = f" rule {self.rule_id}" if self.rule_id else ""
        field_part = f" {self.field}:" if self.field else ""
        return f"{where}: {self.severity}:{rule}{field_part} {self.reason}"
