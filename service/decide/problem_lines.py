"""A problem of the rule files, placed on its line: one finding of `rules lint`
(service/tools/lint.py, lint_names.py), and the problems of a rule set that does not load as the
gate's refusal names them (service/flows/rules_live.py, `rules diff`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from service.decide.rule import Problem
from service.decide.rule_lines import _Lines, _child

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


@dataclass(frozen=True)
class PlacedProblem:
    """A load problem as a person fixes it: once, on its line, naming the dated version(s) of
    the rule it is in (a rule whose versions share a `<<:` merge has one problem in each)."""
    file: str
    line: int | None
    rules: tuple[str, ...]   # id@effective_from of each version (the id alone when not told apart)
    field: str
    reason: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    @property
    def what(self) -> str:
        rules = f"rule {', '.join(self.rules)}: " if self.rules else ""
        return f"{rules}{f'{self.field}: ' if self.field else ''}{self.reason}"

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def place_problems(root: Path | str, problems: list[Problem]) -> list[PlacedProblem]:
    """The problems of a rule set that does not load, each once, with file, line and rule version."""
    root = Path(root)
    lines = _Lines(root)
    placed: dict[tuple, list[str]] = {}
    for problem in problems:  # a broken citations file's cascade is dropped by validate_rules
        issue = place(problem, lines)
        versions = placed.setdefault((issue.file, issue.line, issue.field, issue.reason), [])
        version = _rule_version(lines, problem) if problem.rule_id else None
        if version and version not in versions:
            versions.append(version)
    return [PlacedProblem(file, line, tuple(versions), field_path, reason)
            for (file, line, field_path, reason), versions in placed.items()]


def _rule_version(lines: _Lines, problem: Problem) -> str:
    """id@effective_from, read from the file itself: the rule did not load, so there is no Rule."""
    index = lines.index(problem.file)
    node = index.rule_node(problem.rule_id, problem.rule_index) if index else None
    if problem.rule_index is None and index is not None and _versions_in_file(index, problem.rule_id) > 1:
        node = None  # which version is not known: the id alone
    effective = _child(node, "effective_from") if node is not None else None
    if isinstance(effective, yaml.ScalarNode) and effective.value:
        return f"{problem.rule_id}@{effective.value}"
    return problem.rule_id


def _versions_in_file(index, rule_id: str) -> int:
    rules = _child(index.root, "rules")
    if not isinstance(rules, yaml.SequenceNode):
        return 0
    return sum(1 for item in rules.value
               if isinstance(ids := _child(item, "id"), yaml.ScalarNode) and ids.value == rule_id)


_MARK = re.compile(r'in "([^"]+)", line (\d+)')
_VOCAB = re.compile(r"^(?P<file>[\w.-]+\.ya?ml): (?:fact (?P<fact>\S+): )?(?P<reason>.*)$", re.S)


def place(problem: Problem, lines: _Lines) -> Issue:
    """A load problem, placed on its line."""
    file, field_path, reason = problem.file, problem.field, problem.reason
    if field_path == "yaml" or _MARK.search(reason):
        marks = _MARK.findall(reason)
        if marks:
            path, line = marks[-1]
            reason = _strip_marks(reason)
            return Issue(ERROR, _rel_to(lines.root, path, file), int(line), problem.rule_id, field_path,
                         _yaml_hint(reason))
    if file == "facts/" and (m := _VOCAB.match(reason)):
        file = f"facts/{m['file']}"
        field_path = f"facts.{m['fact']}" if m["fact"] else ""
        return Issue(ERROR, file, lines.line(file, None, field_path), None, field_path, m["reason"])
    if problem.rule_id is None and field_path and field_path[0].isupper():
        # A parameter, calendar or process-config error: "<path>: <where> <what>".
        reason = reason.split(": ", 1)[1] if reason.startswith(("/", str(lines.root))) and ": " in reason else reason
        where = re.match(r"^([\w\[\].-]+)", reason)
        line = lines.line(file, None, where.group(1) if where else "")
        return Issue(ERROR, file, line, None, "", reason)  # the class of the error means nothing to its reader
    return Issue(ERROR, file, lines.line(file, problem.rule_id, field_path, problem.rule_index), problem.rule_id,
                 field_path, reason)


# What the YAML parser's words mean for someone pasting legal text, and what to do.
_YAML_HINTS = (
    ("mapping values are not allowed", "a ': ' inside a text starts a new key; put the whole text in double "
                                       "quotes, or write `text: >-` and the text on the next lines, indented"),
    ("found character '\\t'", "a tab; indent with spaces only"),
    ("duplicate key", "a key written twice would silently lose the first; keep one"),
    ("could not find expected ':'", "a line without `key: value`; check the line above for an unclosed quote "
                                    "or bracket"),
    ("found unexpected end of stream", "a quote or bracket is never closed"),
)


def _yaml_hint(reason: str) -> str:
    if "—" in reason:
        head, _, rest = reason.partition(" — ")
    else:
        head, rest = reason, ""
    hint = next((h for words, h in _YAML_HINTS if words in head), None)
    if hint is None:
        return reason
    return f"{head} ({hint})" + (f" — {rest}" if rest else "")


def _strip_marks(reason: str) -> str:
    return re.sub(r'\s*in "[^"]+", line \d+, column \d+', "", reason).strip()


def _rel_to(root: Path, path: str, default: str) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return default
