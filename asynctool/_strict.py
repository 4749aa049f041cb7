"""OpenAI's strict subset of JSON Schema, and the rewrite of a schema into it.

With `"strict": true` (on a function, or on a `json_schema` response format) a model's output
follows the schema exactly, but only a subset of JSON Schema is accepted
(https://platform.openai.com/docs/guides/structured-outputs#supported-schemas):

- every object has `additionalProperties: false` and lists all its properties in `required`,
  so an optional value is a union with null;
- every value has a type (`type`, `enum`, `const`, `anyOf` or `$ref`): no "any JSON value";
- objects have named properties (no mapping with free keys), an array has one `items` schema
  (no `prefixItems` tuple); `allOf`, `oneOf`, `not` and conditionals are refused;
- besides structure, only `description`, `title`, `pattern`, `minLength`/`maxLength`, some
  `format`s, the number bounds and `minItems`/`maxItems` are allowed. The guide lists the
  string keywords as `pattern` and `format` and says these constraints are "not yet supported
  for fine-tuned models"; `minLength` and `maxLength` are accepted and enforced by the API all
  the same (probed live in pydantic/pydantic-ai#7315 and #7400, which keep them for OpenAI and
  not for the compatible providers that document them as unsupported, DeepSeek for one). They
  are kept, so that the schema a model is held to refuses `"ab"` for a `min_length=3` name, as
  the decoder does.

The rewrite keeps what the subset allows and refuses (`SchemaError`) what it cannot express. It
drops the other validation keywords (`uniqueItems`, `default`, `examples`, an unsupported
`format`, `contentEncoding`, ...) but writes them into the description, so the model still
reads them; they are still enforced, because the answer is decoded with the type they came from.
A `pattern` stays, also next to a `format` it moves: a Decimal's or a naive time's pattern is
what keeps the strict schema from admitting text the decoder refuses. An `allOf` of one schema
(how pydantic before 2.9 wrote a described reference) is that schema.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from ._exceptions import SchemaError

__all__ = ["SchemaError", "to_strict_schema"]

_TYPED = frozenset({"type", "enum", "const", "anyOf", "$ref"})
_KEPT = _TYPED | {
    *("properties", "required", "additionalProperties", "items", "description", "title"),
    *("pattern", "format", "multipleOf", "minimum", "maximum", "exclusiveMinimum"),
    *("exclusiveMaximum", "minItems", "maxItems", "minLength", "maxLength"),
}
_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
_NOTED = frozenset(
    {
        *("default", "examples", "uniqueItems", "minProperties"),
        *("maxProperties", "contentEncoding", "contentMediaType", "deprecated", "readOnly"),
        *("writeOnly", "$comment"),
    }
)
# The tag property of each variant already says what msgspec's `discriminator` says.
_SILENT = frozenset({"discriminator"})
_KNOWN = _KEPT | _NOTED | _SILENT
_MAPPING = (
    "a mapping with free keys (dict[str, ...]) cannot be expressed; use a Struct or TypedDict"
)
_REASONS = {
    "prefixItems": "a fixed-length tuple (prefixItems) cannot be expressed; use a list or a Struct",
    "additionalProperties": _MAPPING,
    "patternProperties": _MAPPING,
}


def to_strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a self-contained JSON Schema into OpenAI's strict subset; a new dict.

    `$defs` are rewritten as they are reached, so an error names the path it was reached
    through; a `$ref` with sibling keywords (a description) is replaced by the definition it
    points to, merged with them. Raises `SchemaError` for what the subset cannot express.
    """
    rewriter = _StrictRewriter(schema.get("$defs", {}))
    root = rewriter.node({k: v for k, v in schema.items() if k != "$defs"}, ())
    if rewriter.defs:
        root["$defs"] = rewriter.defs
    return root


class _StrictRewriter:
    def __init__(self, source: dict[str, Any]) -> None:
        self._source = source
        self._inlining: set[str] = set()
        self.defs: dict[str, Any] = {}

    def node(self, schema: Any, path: tuple[str, ...]) -> dict[str, Any]:
        if isinstance(schema, dict) and isinstance(schema.get("allOf"), list):
            schema = _single_all_of(schema, path)
        _check_expressible(schema, path)
        if "$ref" in schema:
            return self._ref(schema, path)
        out: dict[str, Any] = {}
        notes: list[str] = []
        for key, value in schema.items():
            if key in _NOTED or (key == "format" and value not in _FORMATS):
                notes.append(f"{key}: {msgspec.json.encode(value).decode()}")
            elif key in _KEPT:
                out[key] = self._keyword(key, value, path)
        if _may_be_object(schema):
            self._close_object(schema, out, path)
        if notes:
            described = out.get("description")
            notes_text = ", ".join(notes)
            out["description"] = f"{described} ({notes_text})" if described else notes_text
        return out

    def _keyword(self, key: str, value: Any, path: tuple[str, ...]) -> Any:
        if key == "properties":
            return {name: self.node(sub, (*path, name)) for name, sub in value.items()}
        if key == "items":
            return self.node(value, (*path, "[]"))
        if key == "anyOf":
            return [self.node(sub, path) for sub in value]
        if key == "additionalProperties" and value is not False:
            raise SchemaError(_MAPPING, path=_render(path))
        return copy.deepcopy(value)

    def _close_object(
        self, schema: dict[str, Any], out: dict[str, Any], path: tuple[str, ...]
    ) -> None:
        if "properties" not in schema:
            raise SchemaError(_MAPPING, path=_render(path))
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False

    def _ref(self, schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        ref = schema["$ref"]
        name = ref.removeprefix("#/$defs/")
        if name == ref or name not in self._source:
            raise SchemaError(f"`$ref` {ref} does not point into `$defs`", path=_render(path))
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        if not siblings or name in self._inlining:
            # A sibling on a definition that contains itself is dropped, or inlining never ends.
            self._define(name, path)
            return {"$ref": ref}
        self._inlining.add(name)
        try:
            return self.node({**self._source[name], **siblings}, path)
        finally:
            self._inlining.discard(name)

    def _define(self, name: str, path: tuple[str, ...]) -> None:
        if name not in self.defs:
            self.defs[name] = {}  # a placeholder: a recursive reference stops here
            self.defs[name] = self.node(self._source[name], path)


def _single_all_of(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    parts = schema["allOf"]
    if len(parts) != 1 or not isinstance(parts[0], dict):
        raise SchemaError("the `allOf` keyword is outside the strict subset", path=_render(path))
    siblings = {k: v for k, v in schema.items() if k != "allOf"}
    return {**parts[0], **siblings}


def _check_expressible(schema: Any, path: tuple[str, ...]) -> None:
    if isinstance(schema, dict):
        for key in schema:
            if key not in _KNOWN:
                reason = _REASONS.get(key, f"the `{key}` keyword is outside the strict subset")
                raise SchemaError(reason, path=_render(path))
        typed = schema.keys() & _TYPED
        if typed and (schema.get("type") != "array" or "items" in schema):
            return
    array = isinstance(schema, dict) and schema.get("type") == "array"
    what = "its items accept" if array else "it accepts"
    reason = f"{what} any JSON value, which strict mode cannot express; give it a type"
    raise SchemaError(reason, path=_render(path))


def _may_be_object(schema: dict[str, Any]) -> bool:
    """Whether `type` allows an object (`"object"`, or a list of types with it)."""
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind)


def _render(path: tuple[str, ...]) -> str:
    text = ""
    for part in path:
        text += part if part == "[]" or not text else f".{part}"
    return text
