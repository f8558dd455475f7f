"""The names of the codes, in Chinese and English (rules/names/codes.yaml), for pages and
notification texts: a person reads 撤回待决 Withdrawal pending, never `withdrawal_pending`.

They live beside the rule files because the codes do: an action, a status or an event the legal
team adds gets its name in the same change, and a code without one is a load error naming it
(`required_codes`), so a page or a notification never falls back to the bare code.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.data_files import NamesFileSchema
from schemas.rule_file import CITATION_ROLES, EXAMPLE_VERDICTS, NOTIFY

NAMES_FILE = "names/codes.yaml"
_VERDICTS = ("allow", *EXAMPLE_VERDICTS)


class NamesError(Exception):
    """The names file is unreadable or invalid."""


@dataclass(frozen=True)
class Names:
    tables: dict[str, dict[str, tuple[str, str]]]   # table -> code -> (Chinese, English)

    @classmethod
    def load(cls, root: Path) -> "Names":
        from service.decide.yamlfile import load_checked
        path = Path(root) / NAMES_FILE
        if not path.is_file():
            raise NamesError("the file is missing: it names every code in Chinese and English")
        doc = load_checked(path, NamesFileSchema(), NamesError)
        return cls({table: {code: (name["zh"], name["en"]) for code, name in codes.items()}
                    for table, codes in doc["names"].items()})

    def pair(self, table: str, code: str) -> tuple[str, str] | None:
        return self.tables.get(table, {}).get(code)

    def label(self, table: str, code: str | None, language: str) -> str:
        """The code's name in `language` (zh or en); "—" for none."""
        if code is None:
            return "—"
        names = self.pair(table, code)
        return code if names is None else names[0 if language == "zh" else 1]

    def missing(self, required: dict[str, tuple[str, ...]]) -> list[tuple[str, str, str]]:
        """(file, field, reason) for every required code without a name."""
        return [(NAMES_FILE, f"names.{table}.{code}", f"'{code}' has no name: add {{zh: ..., en: ...}}")
                for table, codes in required.items() for code in codes if self.pair(table, code) is None]


def required_codes(vocabulary, classification, families: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Every code the rule files and the rule-file format declare that a page or a notification
    may show, by names table. (The trail's entry kinds are the service's own: tests/test_names.py.)"""
    enums = vocabulary.enums
    return {
        "action_type": enums["action_types"],
        "role": enums["roles"],
        "process_type": (*enums["case_kinds"], "check"),   # check: a check outside any case
        "event_type": enums["event_types"],
        "form": enums["forms"],
        "status": tuple(dict.fromkeys((*classification.machine.statuses(),
                                       *vocabulary["derived.case.resignation"].values,
                                       *vocabulary["derived.case.withdrawal"].values))),
        "verdict": _VERDICTS,
        "family": families,
        "citation_role": CITATION_ROLES,
        "notify": NOTIFY,
    }
