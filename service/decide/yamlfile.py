"""The one way rule, fact, citation and fixture files are read.

Safe loading, with two changes that matter to people editing these files by hand: a repeated
key is an error (the last one would silently win), and dates stay text, so an impossible date
such as 2026-02-30 is reported by the schema with its field instead of crashing the parser.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml
from marshmallow import ValidationError

from schemas.errors import flatten_messages

YAMLError = yaml.YAMLError


# libyaml's parser where the wheel has it (ten times faster); the same rules either way.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_Base):
    pass


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor` keys may be overridden by the mapping's own keys
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}",
                                                    key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                    key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)  # merged pairs come first, so the mapping's own keys win
    return {loader.construct_object(k, deep=deep): loader.construct_object(v, deep=deep)
            for k, v in node.value}


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path | str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def load_checked(path: Path | str, schema, error: Callable[[str], Exception]) -> dict:
    """Read a data file and validate it with its marshmallow schema. Raises `error(reason)`: the
    file cannot be read, or every field that is wrong, by its dotted path."""
    try:
        raw = load_yaml(path)
    except (OSError, ValueError, YAMLError) as exc:
        raise error(f"cannot read YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(raw, dict):
        raise error("top level must be a mapping")
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise error("; ".join(f"{field}: {reason}" for field, reason in flatten_messages(exc.messages))) from exc
