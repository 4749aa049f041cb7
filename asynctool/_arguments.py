"""msgspec's decoding errors turned into messages a model can act on.

msgspec already names the path (`Expected `int`, got `str` - at `$.age``). The model also needs
what it sent and, for a choice, the allowed values, which msgspec leaves out; they are looked up in
the arguments it sent and in the schema it was given. This runs only when decoding failed.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ._defs import dereferenced
from ._exceptions import PREVIEW_CHARS, ToolArgumentsError, split_validation_error
from ._pydantic import ModelValidationError

__all__ = ["arguments_error"]

_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_MISSING = re.compile(r"Object missing required field `(?P<name>.*)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>.*)`")
_GOT = re.compile(r", got `[^`]*`$")
_KINDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
    "null": "null",
}
_Path = list[str | int | None]  # a field name, an index, or None for a key of a mapping


def arguments_error(
    exc: Exception, data: str | bytes, *, schema: dict[str, Any], tool: str
) -> ToolArgumentsError:
    """The `ToolArgumentsError` for a decoding failure of `data` against `schema`."""
    if not isinstance(exc, msgspec.ValidationError):
        detail = f"the arguments are not valid JSON ({exc}); send one JSON object"
        return ToolArgumentsError(
            f"{tool}: {detail}, got {_preview_text(data)}", tool=tool, path="$"
        )
    problem, at = split_validation_error(exc)
    path = _parse_path(at)
    if isinstance(exc.__cause__, ModelValidationError):
        detail, path = _explain_model(exc.__cause__, path, data)
    else:
        detail, path = _explain(problem, path, data, schema)
    return ToolArgumentsError(f"{tool}: {detail}", tool=tool, path=_json_path(path))


def _explain(
    problem: str, path: _Path, data: str | bytes, schema: dict[str, Any]
) -> tuple[str, _Path]:
    if missing := _MISSING.fullmatch(problem):
        path = [*path, missing["name"]]
        expected = _expected_at(schema, path)
        return f"missing required argument `{_display(path)}`{_parenthesised(expected)}", path
    if unknown := _UNKNOWN.fullmatch(problem):
        return _unknown(unknown["name"], path, schema), [*path, unknown["name"]]
    received = _value_at(data, path)
    got = "" if received is _NOTHING else f", got {_preview(received)}"
    if not path:
        return f"the arguments must be one JSON object, keyed by argument name{got}", path
    if problem.startswith("Invalid enum value") and (expected := _expected_at(schema, path)):
        return f"argument `{_display(path)}`: expected {expected}{got}", path
    if got:
        problem = _GOT.sub("", problem)
    return f"argument `{_display(path)}`: {problem[:1].lower()}{problem[1:]}{got}", path


def _explain_model(error: ModelValidationError, at: _Path, data: str | bytes) -> tuple[str, _Path]:
    """pydantic's reasons, each at its argument: `argument `user.age`: input should be ...`."""
    details = []
    paths = []
    for loc, message in error.errors:
        path = [*at, *loc]
        received = _value_at(data, path)
        got = "" if received is _NOTHING else f", got {_preview(received)}"
        details.append(f"argument `{_display(path)}`: {message[:1].lower()}{message[1:]}{got}")
        paths.append(path)
    return "; ".join(details), paths[0]


def _unknown(name: str, path: _Path, schema: dict[str, Any]) -> str:
    if path:
        return f"argument `{_display(path)}`: unknown field `{name}`"
    names = ", ".join(f"`{known}`" for known in schema.get("properties", {}))
    known = f"the arguments are {names}" if names else "this tool takes no arguments"
    return f"unknown argument `{name}`; {known}"


# --------------------------------------------------------------------------- paths


def _parse_path(text: str) -> _Path:
    path: _Path = []
    for name, index in _PART.findall(text):
        path.append(name if name else None if index == "..." else int(index))
    return path


def _display(path: _Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, str):
            text += f".{part}" if text else part
        else:
            text += "[...]" if part is None else f"[{part}]"
    return text


def _json_path(path: _Path) -> str:
    display = _display(path)
    return "$" if not display else f"$.{display}" if isinstance(path[0], str) else f"${display}"


# --------------------------------------------------------------------------- received value

_NOTHING: Any = object()


def _value_at(data: str | bytes, path: _Path) -> Any:
    try:
        value = msgspec.json.decode(data)
        for part in path:
            if part is None:
                return _NOTHING
            value = value[part]
    except (msgspec.DecodeError, LookupError, TypeError, RecursionError):
        return _NOTHING
    return value


def _preview(value: Any) -> str:
    return _truncate(msgspec.json.encode(value).decode())


def _preview_text(data: str | bytes) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return _truncate(repr(text))


def _truncate(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else f"{text[:PREVIEW_CHARS]}… ({len(text)} chars)"


# --------------------------------------------------------------------------- expected value


def _schema_at(schema: dict[str, Any], path: _Path) -> dict[str, Any] | None:
    defs = schema.get("$defs", {})
    node = schema
    for part in path:
        child = _child(dereferenced(node, defs), part, defs)
        if child is None:
            return None
        node = child
    found: dict[str, Any] = dereferenced(node, defs)
    return found


def _child(node: dict[str, Any], part: str | int | None, defs: dict[str, Any]) -> Any:
    for branch in (node, *(dereferenced(sub, defs) for sub in node.get("anyOf", ()))):
        if isinstance(part, str) and part in branch.get("properties", {}):
            return branch["properties"][part]
        prefix = branch.get("prefixItems", [])
        if isinstance(part, int) and part < len(prefix):
            return prefix[part]
        if part is None and isinstance(branch.get("additionalProperties"), dict):
            return branch["additionalProperties"]
        if isinstance(part, int) and isinstance(branch.get("items"), dict):
            return branch["items"]
    return None


def _expected_at(schema: dict[str, Any], path: _Path) -> str:
    """What the schema asks for at `path`, in words: `one of "a", "b"`, `a string`, or ""."""
    defs = schema.get("$defs", {})
    node = _schema_at(schema, path)
    if node is None:
        return ""
    branches = [node, *(dereferenced(branch, defs) for branch in node.get("anyOf", ()))]
    values = [value for branch in branches for value in branch.get("enum", ())]
    if values:
        return "one of " + ", ".join(_preview(value) for value in values)
    kinds = [_KINDS.get(str(branch.get("type")), "") for branch in branches]
    return " or ".join(kind for kind in kinds if kind)


def _parenthesised(text: str) -> str:
    return f" ({text})" if text else ""
