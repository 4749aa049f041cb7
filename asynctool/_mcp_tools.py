"""An MCP server's tools as asynctool sees them: definitions, argument checks, results as text.

No I/O here: `_mcp.py` lists the tools and calls them; this module decides what the model is
shown and told.

- **Definitions.** A listed tool's `inputSchema` becomes the function's `parameters`. Where the
  schema fits OpenAI's strict subset, it is rewritten by `_strict.to_strict_schema` (the rules
  of every other tool) and marked `strict`: its optional top-level arguments become nullable
  and required, as a defaulted parameter of a function tool does, and a null sent for one is
  left out of the call. A schema that does not fit, or that has optional properties below the
  top level (strict mode would make the model send them all), is sent as the server wrote it,
  closed with `additionalProperties: false` at the top.
- **Arguments** are checked against the server's own schema with `jsonschema` before the call,
  and a failure is worded as `_arguments` words a function tool's (`add: argument `a`: expected
  an integer, got "q"`), so the model fixes its call as it would any other.
- **Results** (https://modelcontextprotocol.io/specification/2025-11-25/server/tools#tool-result):
  text blocks joined by newlines; `structuredContent` as compact JSON when no text block comes
  with it (the spec has a tool that returns structured content also return it serialized in a
  text block, which is then what the model reads, once, as the server wrote it for a model);
  images, audio and blobs described by type and size, never dumped as base64 into the
  conversation; an embedded text resource with its URI and text; a resource link by its URI.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from typing import Any

import jsonschema
import msgspec
from jsonschema.exceptions import ValidationError, best_match

from ._arguments import (
    _KINDS,
    _display,
    _expected_at,
    _json_path,
    _parenthesised,
    _Path,
    _preview,
    _unknown,
    arguments_error,
)
from ._exceptions import SchemaError, ToolArgumentsError
from ._strict import to_strict_schema

__all__ = ["ArgumentChecker", "parameters_of", "result_text"]

logger = logging.getLogger("asynctool")

_NULL = {"type": "null"}
# The keywords through which a schema holds other schemas, to find nested objects.
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA = ("items", "additionalProperties", "not", "if", "then", "else")


def parameters_of(schema: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str] | None]:
    """The `parameters` to show the model for a server's input schema, and, when they are
    strict, the optional arguments a null stands in for (None when they are not strict)."""
    closed = closed_schema(schema)
    if _has_nested_optionals(closed):
        return closed, None
    properties = closed.get("properties", {})
    optional = frozenset(properties) - frozenset(closed.get("required", ()))
    nullable = dict(closed)
    nullable["properties"] = {
        name: {"anyOf": [sub, _NULL]} if name in optional else sub
        for name, sub in properties.items()
    }
    try:
        return to_strict_schema(nullable), optional
    except SchemaError as exc:
        logger.debug("MCP tool schema is not strict (%s); sent as the server wrote it", exc)
        return closed, None


def closed_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with an object at its root, closed to arguments it does not name."""
    closed = copy.deepcopy(schema)
    closed.setdefault("type", "object")
    closed.setdefault("properties", {})
    closed.setdefault("additionalProperties", False)
    return closed


def _has_nested_optionals(schema: dict[str, Any]) -> bool:
    return any(
        set(node.get("properties", {})) - set(node.get("required", ()))
        for node in _subschemas(schema)
        if node is not schema
    )


def _subschemas(node: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(node, dict):
        return
    yield node
    for value in (*node.get("properties", {}).values(), *node.get("$defs", {}).values()):
        yield from _subschemas(value)
    for key in _SUBSCHEMA_LISTS:
        for value in node.get(key, ()) if isinstance(node.get(key), list) else ():
            yield from _subschemas(value)
    for key in _SUBSCHEMA:
        yield from _subschemas(node.get(key))


class ArgumentChecker:
    """Checks a model's argument text against a tool's input schema, for the model to read.

    Args:
        tool: the tool's name, as the model calls it.
        schema: the server's input schema, closed (`closed_schema`).
        nulls: the optional arguments for which a null means "left out" (strict mode).
    """

    def __init__(self, tool: str, schema: dict[str, Any], nulls: frozenset[str]) -> None:
        self.tool = tool
        self.schema = schema
        self.nulls = nulls
        validator = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
        try:
            validator.check_schema(schema)
            self._validator: Any = validator(schema)
        except jsonschema.SchemaError as exc:
            # The server's mistake, not the model's: its calls go out unchecked, and the server
            # judges them.
            logger.warning("MCP tool %s has an invalid input schema (%s)", tool, exc.message)
            self._validator = None

    def check(self, arguments: str | bytes) -> dict[str, Any]:
        """The arguments as a dict to send; raises `ToolArgumentsError` naming the argument."""
        if not arguments.strip():
            arguments = b"{}"  # some providers send nothing for a tool without parameters
        try:
            value = msgspec.json.decode(arguments)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise arguments_error(exc, arguments, schema=self.schema, tool=self.tool) from exc
        if not isinstance(value, dict):
            raise ToolArgumentsError(
                f"{self.tool}: the arguments must be one JSON object, keyed by argument name, "
                f"got {_preview(value)}",
                tool=self.tool,
                path="$",
            )
        value = {k: v for k, v in value.items() if not (v is None and k in self.nulls)}
        if self._validator is not None:
            error = best_match(self._validator.iter_errors(value))
            if error is not None:
                detail, path = self._explain(error)
                raise ToolArgumentsError(
                    f"{self.tool}: {detail}", tool=self.tool, path=_json_path(path)
                )
        return value

    def _explain(self, error: ValidationError) -> tuple[str, _Path]:
        path: _Path = list(error.absolute_path)
        instance = error.instance
        # jsonschema types these `Unset` for errors it made itself; a keyword's are set.
        keyword: Any = error.validator_value
        where: Any = error.schema
        if error.validator == "required" and isinstance(instance, dict):
            missing = next(n for n in keyword if n not in instance)
            path = [*path, missing]
            expected = _expected_at(self.schema, path)
            return f"missing required argument `{_display(path)}`{_parenthesised(expected)}", path
        if error.validator == "additionalProperties" and isinstance(instance, dict):
            known = where.get("properties", {})
            name = next(n for n in instance if n not in known)
            return _unknown(name, path, where), [*path, name]
        got = f", got {_preview(instance)}"
        if error.validator == "type":
            kinds = keyword
            kinds = kinds if isinstance(kinds, list) else [kinds]
            expected = " or ".join(_KINDS.get(str(kind), str(kind)) for kind in kinds)
            return f"argument `{_display(path)}`: expected {expected}{got}", path
        if error.validator == "enum":
            choices = ", ".join(_preview(choice) for choice in keyword)
            return f"argument `{_display(path)}`: expected one of {choices}{got}", path
        return f"argument `{_display(path)}`: {error.message}", path


def result_text(content: list[Any], structured: Any) -> str:
    """A `tools/call` result's content blocks (and structured content) as one text."""
    has_text = any(block.type == "text" for block in content)
    # Structured content without a text block saying it: the JSON is the only text there is.
    parts = [] if has_text or structured is None else [msgspec.json.encode(structured).decode()]
    for block in content:
        parts.append(block.text if block.type == "text" else _described(block))
    return "\n".join(parts)


def _described(block: Any) -> str:
    if block.type in ("image", "audio"):
        return f"[{block.type}: {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if block.type == "resource_link":
        mime = f", {block.mime_type}" if block.mime_type else ""
        return f"[resource link: {block.uri} ({block.name}{mime})]"
    if block.type == "resource":
        resource = block.resource
        mime = f", {resource.mime_type}" if resource.mime_type else ""
        text = getattr(resource, "text", None)
        if text is not None:
            return f"[resource: {resource.uri}{mime}]\n{text}"
        return f"[resource: {resource.uri}{mime}, {_decoded_size(resource.blob)} bytes]"
    return f"[{block.type} content]"  # a block type newer than this client


def _decoded_size(data: str) -> int:
    """The size of base64 `data` once decoded, without decoding it (it may be megabytes)."""
    text = data.strip()
    return len(text) * 3 // 4 - (len(text) - len(text.rstrip("=")))
