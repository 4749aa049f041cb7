"""Filling a tool's JSON Schema parameters from the values found in the user's text.

Each parameter gets a *kind* from its schema and from the words of its name and description
(an `order_id` wants an id, a `location` a place name, a `count` a number), and takes the first
unused value of that kind. A required parameter with no value takes its `default`, else it is
reported missing (and, when the call is forced, filled with a placeholder of its type).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ._extract import Candidates, words

__all__ = ["Filled", "fill_arguments", "placeholder"]

_KIND_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("ids", frozenset({"id", "ids", "number", "code", "sku", "ref", "reference", "key"})),
    ("emails", frozenset({"email", "mail", "recipient"})),
    ("urls", frozenset({"url", "link", "website", "uri", "href"})),
    ("dates", frozenset({"date", "day", "when", "deadline", "time"})),
    ("places", frozenset({
        "location", "city", "place", "address", "destination", "origin", "country", "region",
        "town", "state", "where", "venue",
    })),
)  # fmt: skip
_FREE_TEXT = frozenset(
    "query q search text question prompt message content input topic keyword keywords term "
    "body subject description".split()
)
_PLACEHOLDERS: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False}


@dataclass(slots=True)
class Filled:
    """The arguments of one call, and how well the text supported them.

    Attributes:
        arguments: parameter name to value, in the schema's order.
        missing: required parameters the text gave no value for.
        evidence: required parameters filled from a value of a specific shape.
        alternatives: further values of the same kind for the only required parameter,
            `varies` (`weather in Boston and Paris`): one more call each.
        varies: the parameter the alternatives are for.
    """

    arguments: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    evidence: int = 0
    alternatives: list[Any] = field(default_factory=list)
    varies: str = ""


def fill_arguments(parameters: Any, found: Candidates, *, placeholders: bool) -> Filled:
    """Arguments for a schema `{"type": "object", "properties": ..., "required": [...]}`."""
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    if not isinstance(properties, dict):
        return Filled()
    required = [r for r in parameters.get("required") or () if r in properties]
    filled = Filled()
    used: set[str] = set()
    pools: dict[str, str | None] = {}
    for name, schema in properties.items():
        schema = schema if isinstance(schema, dict) else {}
        value, pool = _value(name, schema, found, used)
        pools[name] = pool
        if value is None and name in required:
            value = schema.get("default")
            if value is None:
                filled.missing.append(name)
                value = placeholder(schema) if placeholders else None
        elif value is not None and name in required and pool is not None:
            filled.evidence += 1
        if value is not None:
            filled.arguments[name] = value
    if len(required) == 1 and pools.get(required[0]) in ("ids", "places", "quoted"):
        filled.varies = required[0]
        pool = getattr(found, str(pools[required[0]]))
        filled.alternatives = [v for v in pool if v not in used]
    return filled


def _schema_type(schema: dict[str, Any]) -> str:
    """The JSON type of a schema, looking through `["string", "null"]` and `anyOf`."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        options = schema.get("anyOf") or schema.get("oneOf") or ()
        kinds = [_schema_type(o) for o in options if isinstance(o, dict)]
        kind = next((k for k in kinds if k != "null"), None)
    return kind if isinstance(kind, str) else "string"


def _kind(name: str, schema: dict[str, Any]) -> str | None:
    name_words = set(words(name))
    described = set(words(str(schema.get("description", ""))))
    for pool, markers in _KIND_WORDS:
        if name_words & markers:
            return pool
    if name_words & _FREE_TEXT:
        return "text"
    for pool, markers in _KIND_WORDS:
        if described & markers:
            return pool
    return None


def _take(values: list[str], used: set[str], prefer: set[str] | None = None) -> str | None:
    """The first value not used yet (one starting with a preferred word first) and mark it."""
    fresh = [v for v in values if v not in used]
    if prefer:
        fresh.sort(key=lambda v: not (set(words(v)) & prefer))
    if not fresh:
        return None
    used.add(fresh[0])
    return fresh[0]


def _mentioned(options: list[Any], text: str) -> list[Any]:
    return [o for o in options if re.search(rf"(?<!\w){re.escape(str(o))}(?!\w)", text, re.I)]


def _value(
    name: str, schema: dict[str, Any], found: Candidates, used: set[str]
) -> tuple[Any, str | None]:
    """A value for one parameter and the pool it came from (`None`: no specific shape)."""
    options = schema.get("enum")
    if isinstance(options, list):
        hits = _mentioned(options, found.text)
        return (hits[0], "enum") if hits else (None, None)
    kind = _schema_type(schema)
    if kind in ("integer", "number"):
        number = _take(found.numbers, used)
        if number is None:
            return None, None
        value = float(number) if kind == "number" and "." in number else int(float(number))
        return value, "numbers"
    if kind == "array":
        return _array_value(name, schema, found)
    if kind == "string":
        return _string_value(name, schema, found, used)
    return None, None


def _string_value(
    name: str, schema: dict[str, Any], found: Candidates, used: set[str]
) -> tuple[Any, str | None]:
    pool = _kind(name, schema)
    if pool == "text":
        quoted = _take(found.quoted, used)
        return (quoted, "quoted") if quoted else (found.text.strip() or None, None)
    if pool is not None:
        prefer = set(words(name)) - {"id", "number", "code"}
        value = _take(getattr(found, pool), used, prefer)
        if value is None and pool == "ids":
            value = _take([n for n in found.numbers if len(n) >= 3], used)
        if value is not None:
            return value, pool
    quoted = _take(found.quoted, used)
    return (quoted, "quoted") if quoted else (None, None)


def _array_value(name: str, schema: dict[str, Any], found: Candidates) -> tuple[Any, str | None]:
    items = schema.get("items")
    items = items if isinstance(items, dict) else {}
    options = items.get("enum")
    if isinstance(options, list):
        hits = _mentioned(options, found.text)
        return (hits, "enum") if hits else (None, None)
    pool = _kind(name, items) or _kind(name, schema)
    values = list(getattr(found, pool)) if pool and pool != "text" else list(found.quoted)
    return (values, pool or "quoted") if values else (None, None)


def placeholder(schema: dict[str, Any]) -> Any:
    """A value of the schema's type: its first enum value, an empty list, object or string, 0..."""
    options = schema.get("enum")
    if isinstance(options, list) and options:
        return options[0]
    kind = _schema_type(schema)
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return _PLACEHOLDERS.get(kind, "")
