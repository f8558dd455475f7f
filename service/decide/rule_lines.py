"""Where in a rule file: the line of a rule or of one of its fields, from PyYAML's own marks."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from service.decide.yamlfile import StrictLoader


class LineIndex:
    """Line numbers of a YAML file's nodes, from yaml's compose marks (1-based)."""

    def __init__(self, path: Path):
        self.root = None
        self.error_line = None
        try:
            with open(path, encoding="utf-8") as fh:
                self.root = yaml.compose(fh, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.error_line = mark.line + 1 if mark else None
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            pass

    def rule_node(self, rule_id: str | None, index: int | None = None):
        """The mapping node of a rule: by its position when known, else by id (or `#index`)."""
        rules = _child(self.root, "rules")
        if not isinstance(rules, yaml.SequenceNode):
            return None
        if index is None and rule_id and rule_id.startswith("#") and rule_id[1:].isdigit():
            index = int(rule_id[1:])
        if index is not None:
            return rules.value[index] if 0 <= index < len(rules.value) else None
        if rule_id is None:
            return None
        for item in rules.value:
            id_node = _child(item, "id")
            if isinstance(id_node, yaml.ScalarNode) and id_node.value == rule_id:
                return item
        return None

    def line(self, rule_id: str | None = None, field_path: str = "", index: int | None = None) -> int | None:
        """The line of the field (as deep as the path can be followed), else of the rule, else None."""
        if self.root is None:
            return self.error_line
        start = self.rule_node(rule_id, index) if (rule_id or index is not None) else self.root
        if start is None:
            start = self.root
        return _walk(start, _tokens(field_path))


def _child(node, key: str):
    """The value of a mapping's key, looking through `<<:` merges (pointing at the merged text)."""
    hit = _pair(node, key)
    return hit[1] if hit else None


def _pair(node, key: str):
    if not isinstance(node, yaml.MappingNode):
        return None
    merged = []
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
        if key_node.tag == "tag:yaml.org,2002:merge":
            merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    for source in merged:
        if (hit := _pair(source, key)) is not None:
            return hit
    return None


def _tokens(field_path: str) -> list[str]:
    return [t for t in re.sub(r"\[(\w+)\]", r".\1", field_path or "").split(".") if t]


def _walk(node, tokens: list[str]) -> int:
    """Follow a dotted path (fact names contain dots: the longest key that matches wins)."""
    line = node.start_mark.line + 1
    i = 0
    while i < len(tokens):
        if isinstance(node, yaml.MappingNode):
            for k in range(len(tokens) - i, 0, -1):
                hit = _pair(node, ".".join(tokens[i:i + k]))
                if hit:
                    line = hit[0].start_mark.line + 1
                    node = hit[1]
                    i += k
                    break
            else:
                if tokens[i] in ("value", "key", "_schema"):  # marshmallow's Dict error levels
                    i += 1
                    continue
                break
        elif isinstance(node, yaml.SequenceNode) and tokens[i].isdigit() and int(tokens[i]) < len(node.value):
            node = node.value[int(tokens[i])]
            line = node.start_mark.line + 1
            i += 1
        else:
            break
    return line


class _Lines:
    """One LineIndex per file, built when first needed."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[str, LineIndex] = {}

    def index(self, rel: str) -> LineIndex | None:
        path = self.root / rel
        if not path.is_file():
            return None
        if rel not in self._cache:
            self._cache[rel] = LineIndex(path)
        return self._cache[rel]

    def line(self, rel: str, rule_id: str | None = None, field_path: str = "",
             rule_index: int | None = None) -> int | None:
        index = self.index(rel)
        return index.line(rule_id, field_path, rule_index) if index else None
