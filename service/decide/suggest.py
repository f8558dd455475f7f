""""Did you mean": the known name closest to a misspelt one, for messages to people editing rules."""
from __future__ import annotations

from difflib import get_close_matches
from typing import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    found = get_close_matches(str(name), sorted(set(known)), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` — did you mean X?` (to end a message with), or "" when nothing is close."""
    found = closest(name, known)
    return f" — did you mean {found}?" if found else ""
