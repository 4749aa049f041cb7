"""Structured outputs: a user's type as a strict `response_format`, and answers parsed into it.

`OutputSpec.of(T)` is built once per type: the strict JSON Schema (the same rewrite strict tools
use), the `response_format` to send, and a decoder for `T`. A type whose schema is not an object
(`list[Item]`, `int`, a `Literal`...) is wrapped in `{"value": ...}`, as OpenAI wants an object
at the root, and unwrapped on parse.

Strict mode lists every property as required and makes the optional ones nullable, so a model
may answer `null` for a field that has a default but no `None` in its type. Before decoding,
such nulls are dropped, guided by the type's own (non-strict) schema, and the default applies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from ._defs import dereferenced
from ._exceptions import (
    PREVIEW_CHARS,
    FinishReasonError,
    InvalidRequestError,
    OutputValidationError,
    RefusalError,
    SchemaError,
    ToolArgumentsError,
    split_validation_error,
)
from ._lossless import rebuilt
from ._pydantic import ModelValidationError, decode_hook
from ._request import SupportsToolDefinition, is_output_type
from ._schema import schema_for_type
from ._strict import to_strict_schema
from ._types import (
    ChatCompletion,
    ChatCompletionTool,
    Choice,
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    ParsedFunctionCall,
    ParsedToolCall,
    ToolCall,
)

__all__ = [
    "ArgumentParsers",
    "OutputSpec",
    "Structured",
    "parse_completion",
]

ArgumentParsers = Mapping[str, Callable[[str], Any]]
"""Per tool name, how to decode a call's arguments text."""

T = TypeVar("T")
_NAME = re.compile(r"[^a-zA-Z0-9_-]")


class OutputSpec(Generic[T]):
    """How to ask for, and parse, answers of one type."""

    def __init__(self, output_type: type[T]) -> None:
        self.type = output_type
        self.name = _schema_name(output_type)
        loose = schema_for_type(output_type, strict=False)
        self.wrapped = not _is_record(loose)
        target: Any = output_type
        if self.wrapped:
            target = msgspec.defstruct(self.name, [("value", output_type)], kw_only=True)
            loose = schema_for_type(target, strict=False)
        self._loose = loose
        self.schema = to_strict_schema(_nullable_optionals(loose))
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(target)
        self.response_format: dict[str, Any] = {
            "type": "json_schema",
            "json_schema": {"name": self.name, "schema": self.schema, "strict": True},
        }

    def parse(self, content: str | None) -> T:
        """The answer as a `T`.

        Raises:
            OutputValidationError: the answer is missing, not JSON, or does not fit `T`; the
                message names the path and the reason.
        """
        if content is None:
            raise OutputValidationError(f"The answer has no content to parse as {self.name}")
        try:
            data = msgspec.json.decode(content)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise OutputValidationError(
                f"The answer is not valid JSON ({exc}): {_shown(content)}"
            ) from exc
        data = _drop_defaulted_nulls(data, self._loose, self._loose.get("$defs", {}))
        try:
            value = msgspec.convert(data, self._decoder.type, dec_hook=decode_hook)
        except msgspec.ValidationError as exc:
            reason, path = _split(exc, self.wrapped)
            raise OutputValidationError(
                f"The answer does not fit {self.name}: {reason}"
                + (f" at `{path}`" if path else ""),
                path=path,
            ) from exc
        return value.value if self.wrapped else value  # type: ignore[no-any-return]


def _schema_name(output_type: Any) -> str:
    name = getattr(output_type, "__name__", None) or "Output"
    name = _NAME.sub("_", name)[:64]
    return name or "Output"


def _is_record(schema: dict[str, Any]) -> bool:
    """An object schema with named properties: a response format as it is (others are wrapped)."""
    return schema.get("type") == "object" and "properties" in schema


def _nullable(schema: Any, defs: dict[str, Any]) -> bool:
    schema = dereferenced(schema, defs)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "null":
        return True
    return any(_nullable(option, defs) for option in schema.get("anyOf", ()))


def _nullable_optionals(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy where every property that may be left out may also be `null` (strict needs all)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: walk(value) for key, value in node.items()}
        properties = out.get("properties")
        if isinstance(properties, dict):
            required = set(out.get("required", ()))
            for name, prop in properties.items():
                if name not in required and not _nullable(prop, defs):
                    properties[name] = {"anyOf": [prop, {"type": "null"}]}
        return out

    result: dict[str, Any] = walk(schema)
    return result


def _drop_defaulted_nulls(data: Any, schema: Any, defs: dict[str, Any]) -> Any:
    """Remove `null`s the type does not allow, where the property may be left out instead."""
    schema = dereferenced(schema, defs)
    if not isinstance(schema, dict):
        return data
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_drop_defaulted_nulls(item, schema["items"], defs) for item in data]
    if isinstance(data, dict):
        properties = schema.get("properties")
        if properties is None:
            objects = [o for o in schema.get("anyOf", ()) if "properties" in dereferenced(o, defs)]
            return _drop_defaulted_nulls(data, objects[0], defs) if len(objects) == 1 else data
        required = set(schema.get("required", ()))
        return {
            key: _drop_defaulted_nulls(value, properties.get(key), defs)
            for key, value in data.items()
            if not (
                value is None
                and key in properties
                and key not in required
                and not _nullable(properties[key], defs)
            )
        }
    return data


def _split(exc: msgspec.ValidationError, wrapped: bool) -> tuple[str, str]:
    reason, path = split_validation_error(exc)
    if isinstance(exc.__cause__, ModelValidationError):  # pydantic's reason, at its own path
        loc, reason = exc.__cause__.errors[0]
        path += "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    if wrapped and path.startswith("$.value"):
        path = "$" + path[len("$.value") :]
    return reason, path


def _shown(content: str) -> str:
    return repr(content if len(content) <= PREVIEW_CHARS else content[:PREVIEW_CHARS] + "...")


def parse_completion(
    completion: ChatCompletion, spec: OutputSpec[T] | None, parsers: ArgumentParsers
) -> ParsedChatCompletion[T]:
    """The completion with every choice's answer parsed (and its tool calls' arguments).

    Raises:
        RefusalError: a choice is a refusal.
        FinishReasonError: a choice ended with `length` or `content_filter` (the JSON is cut).
        OutputValidationError: an answer is not JSON or does not fit the type.
    Each carries the completion.
    """
    choices = [_parse_choice(choice, completion, spec, parsers) for choice in completion.choices]
    return rebuilt(ParsedChatCompletion, completion, choices=choices)


def _parse_choice(
    choice: Choice, completion: ChatCompletion, spec: OutputSpec[T] | None, parsers: ArgumentParsers
) -> ParsedChoice[T]:
    message = choice.message
    if message.refusal:
        raise RefusalError(message.refusal, completion=completion)
    reason = choice.finish_reason
    if reason in ("length", "content_filter"):
        raise FinishReasonError.of(
            reason,
            f"The answer ended with finish_reason={reason!r} and cannot be parsed",
            completion=completion,
        )
    parsed = None
    if spec is not None and not message.tool_calls:
        try:
            parsed = spec.parse(message.content)
        except OutputValidationError as exc:
            exc.completion = completion
            raise
    parsed_message = rebuilt(
        ParsedChatCompletionMessage,
        message,
        tool_calls=_parse_calls(message.tool_calls, parsers),
        parsed=parsed,
    )
    return rebuilt(ParsedChoice, choice, message=parsed_message)


def _parse_calls(
    calls: list[ToolCall] | None, parsers: ArgumentParsers
) -> list[ParsedToolCall] | None:
    if calls is None:
        return None
    parsed = []
    for call in calls:
        parser = parsers.get(call.function.name)
        arguments = call.function.arguments
        function = rebuilt(
            ParsedFunctionCall,
            call.function,
            parsed_arguments=None if parser is None else parser(arguments),
        )
        parsed.append(rebuilt(ParsedToolCall, call, function=function))
    return parsed


class Structured:
    """What `parse` and a typed `stream` add to a request: a strict schema and the parsers."""

    def __init__(self, spec: OutputSpec[Any], parsers: ArgumentParsers) -> None:
        self.spec = spec
        self.parsers = parsers

    @classmethod
    def of(cls, params: dict[str, Any]) -> Structured:
        """Rewrite `params` in place (`response_format`, `tools`) and keep how to parse."""
        output_type = params["response_format"]
        if not is_output_type(output_type):
            raise InvalidRequestError(
                "response_format",
                "parse() needs a type to parse into (a Struct, dataclass, TypedDict...); "
                "for {'type': 'json_object'} or a raw json_schema dict use create()",
            )
        try:
            spec: OutputSpec[Any] = OutputSpec(output_type)
        except SchemaError as exc:
            raise InvalidRequestError("response_format", str(exc)) from exc
        params["response_format"] = spec.response_format
        parsers: dict[str, Any] = {}
        if params.get("tools") is not None:
            params["tools"] = [_strict_tool(t, i, parsers) for i, t in enumerate(params["tools"])]
        return cls(spec, parsers)

    def parse(self, completion: ChatCompletion) -> ParsedChatCompletion[Any]:
        return parse_completion(completion, self.spec, self.parsers)


def _strict_tool(tool: Any, i: int, parsers: dict[str, Any]) -> Any:
    """The tool as sent by `parse`: strict, with a parser for its arguments."""
    if isinstance(tool, SupportsToolDefinition):
        function = tool.definition["function"]
        if not function.get("strict"):
            raise InvalidRequestError(
                f"tools[{i}]",
                f"{function['name']!r} is not strict; parse() sends strict tools: "
                "declare it with @tool(strict=True)",
            )
        parsers[function["name"]] = getattr(tool, "parse_arguments", _json_arguments)
        return tool
    if isinstance(tool, ChatCompletionTool):
        tool = msgspec.to_builtins(tool)
    if not isinstance(tool, Mapping) or not isinstance(tool.get("function"), Mapping):
        return tool  # build_body names what is wrong with it
    function = dict(tool["function"])
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    try:
        function["parameters"] = to_strict_schema(parameters)
    except SchemaError as exc:
        raise InvalidRequestError(f"tools[{i}].function.parameters", str(exc)) from exc
    function["strict"] = True
    parsers[function["name"]] = _json_arguments
    return {**tool, "function": function}


def _json_arguments(arguments: str) -> Any:
    try:
        return msgspec.json.decode(arguments)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ToolArgumentsError(f"the arguments are not valid JSON: {exc}") from exc
