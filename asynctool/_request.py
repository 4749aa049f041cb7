"""Build and check the body of a chat completions request, before anything is sent.

The request struct carries the API's ranges as msgspec constraints, so one `msgspec.convert`
checks types and ranges together and its error already names the field; the rules msgspec
cannot state (a tool named by `tool_choice` must exist, `top_logprobs` needs `logprobs`) are
checked after. Messages, tools and the object-valued fields (`audio`, `moderation`, ...) given
as dicts are checked against a struct but sent as given, so provider-specific keys in them
reach the wire untouched.

Every keyword of the official SDK's `chat.completions.create` is accepted (a test compares the
two signatures). Where the SDK lists the values of a field (`reasoning_effort`, `service_tier`,
`verbosity`, ...), only the type is checked: compatible providers extend those lists (Groq's
`service_tier="on_demand"` and `"performance"`, console.groq.com/docs/service-tiers, and its
`reasoning_effort="default"`), and a value the client does not know must still reach the
server that does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Protocol, TypedDict, runtime_checkable

import msgspec

from ._exceptions import InvalidRequestError, split_validation_error
from ._lossless import keep_unnamed
from ._types import ChatCompletionMessage, ChatCompletionTool, Message, encoder

__all__ = [
    "ChatCompletionRequest",
    "CompletionParams",
    "ParseParams",
    "build_body",
    "checked_messages",
    "checked_query",
    "encode_body",
    "is_output_type",
    "is_tool_name",
]

_Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
_TopP = Annotated[float, msgspec.Meta(ge=0, le=1)]
_Penalty = Annotated[float, msgspec.Meta(ge=-2, le=2)]
_Positive = Annotated[int, msgspec.Meta(ge=1)]
_TopLogprobs = Annotated[int, msgspec.Meta(ge=0, le=20)]
_Stop = str | Annotated[list[str], msgspec.Meta(max_length=4)]
# At the top level msgspec names no path: "Object contains unknown field `x`".
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]*)`$")


class StreamOptions(msgspec.Struct, omit_defaults=True):
    """`stream_options`: `include_usage` asks for a last chunk with the usage."""

    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class _Checked(msgspec.Struct, kw_only=True):
    """Base of the structs a dict field is checked against; the dict itself is what is sent."""


class _VoiceID(_Checked):
    id: str


class _Audio(_Checked):
    format: str
    voice: str | _VoiceID


class _TextPart(_Checked):
    type: Literal["text"]
    text: str


class _Prediction(_Checked):
    type: Literal["content"]
    content: str | list[_TextPart]


class _ModerationMode(_Checked):
    mode: str


class _ModerationPolicy(_Checked):
    input: _ModerationMode | None = None
    output: _ModerationMode | None = None


class _Moderation(_Checked):
    model: str
    policy: _ModerationPolicy | None = None


class _PromptCacheOptions(_Checked):
    mode: str | None = None
    ttl: str | None = None


class _ApproximateLocation(_Checked):
    city: str | None = None
    country: str | None = None
    region: str | None = None
    timezone: str | None = None


class _UserLocation(_Checked):
    type: Literal["approximate"]
    approximate: _ApproximateLocation


class _WebSearchOptions(_Checked):
    search_context_size: str | None = None
    user_location: _UserLocation | None = None


class _Function(_Checked):
    """An entry of `functions`, the deprecated form of `tools` that ported code still sends."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class _Named(_Checked):
    name: str


class _TextFormat(_Checked, tag_field="type", tag="text"):
    pass


class _Grammar(_Checked):
    definition: str
    syntax: str


class _GrammarFormat(_Checked, tag_field="type", tag="grammar"):
    grammar: _Grammar


class _Custom(_Checked):
    name: str
    description: str | None = None
    format: _TextFormat | _GrammarFormat | None = None


class _CustomTool(_Checked):
    """A custom tool (`{"type": "custom", "custom": {...}}`): the model answers in free text or
    in a grammar instead of JSON arguments (OpenAI's function-calling guide, "Custom tools")."""

    type: Literal["custom"]
    custom: _Custom


# The object-valued fields, each checked against its struct before anything is sent.
_CHECKED_FIELDS: dict[str, Any] = {
    "audio": _Audio,
    "prediction": _Prediction,
    "moderation": _Moderation,
    "prompt_cache_options": _PromptCacheOptions,
    "web_search_options": _WebSearchOptions,
    "functions": list[_Function],
    "function_call": Literal["none", "auto"] | _Named,
}


class ChatCompletionRequest(
    msgspec.Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True
):
    """The body of `POST /chat/completions`; fields left `None` are not sent."""

    model: str
    messages: list[Any]
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: _Temperature | None = None
    top_p: _TopP | None = None
    n: _Positive | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: _Stop | None = None
    max_tokens: _Positive | None = None
    max_completion_tokens: _Positive | None = None
    presence_penalty: _Penalty | None = None
    frequency_penalty: _Penalty | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: _TopLogprobs | None = None
    user: str | None = None
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    verbosity: str | None = None
    web_search_options: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: str | None = None
    # Deprecated by `tools` and `tool_choice`, still sent by code written for older SDKs.
    functions: list[Any] | None = None
    function_call: str | dict[str, Any] | None = None


class ParseParams(TypedDict, total=False):
    """The optional keywords of `parse`, as the API names them (`response_format` is its own)."""

    tools: Iterable[Any]
    tool_choice: str | Mapping[str, Any]
    parallel_tool_calls: bool
    temperature: float
    top_p: float
    n: int
    stream_options: Mapping[str, Any]
    stop: str | list[str]
    max_tokens: int
    max_completion_tokens: int
    presence_penalty: float
    frequency_penalty: float
    logit_bias: Mapping[str | int, float]
    logprobs: bool
    top_logprobs: int
    user: str
    seed: int
    reasoning_effort: str
    service_tier: str
    metadata: Mapping[str, str]
    store: bool
    modalities: list[str]
    audio: Mapping[str, Any]
    prediction: Mapping[str, Any]
    prompt_cache_key: str
    safety_identifier: str
    verbosity: str
    web_search_options: Mapping[str, Any]
    moderation: Mapping[str, Any]
    prompt_cache_options: Mapping[str, Any]
    prompt_cache_retention: str
    functions: Iterable[Mapping[str, Any]]
    function_call: str | Mapping[str, Any]
    extra_body: Mapping[str, Any]


class CompletionParams(ParseParams, total=False):
    """The optional keywords of `create` and `stream`, as the API names them."""

    response_format: Mapping[str, Any]


@runtime_checkable
class SupportsToolDefinition(Protocol):
    """Anything with an OpenAI tool dict in `.definition`, such as a `Tool`."""

    @property
    def definition(self) -> Mapping[str, Any]: ...


def is_output_type(value: object) -> bool:
    """Whether a `response_format` is a type to parse into (not a dict to send as is)."""
    return value is not None and not isinstance(value, Mapping)


def build_body(
    *, model: str, messages: Iterable[Any], stream: bool, params: Mapping[str, Any]
) -> ChatCompletionRequest:
    """Check every parameter and return the request, ready to encode.

    Raises:
        InvalidRequestError: naming the first invalid field.
    """
    fields = {k: v for k, v in params.items() if v is not None and k != "extra_body"}
    fields["model"] = model
    fields["messages"] = checked_messages(messages)
    if stream:
        fields["stream"] = True
    if "tools" in fields:
        fields["tools"] = [_tool_dict(t, i) for i, t in enumerate(fields["tools"])]
    if "logit_bias" in fields:
        fields["logit_bias"] = _checked_logit_bias(fields["logit_bias"])
    for name in _CHECKED_FIELDS.keys() & fields.keys():
        fields[name] = _checked_field(name, fields[name])
    request = _convert(fields)
    _check_cross_field_rules(request)
    return request


def encode_body(request: ChatCompletionRequest, extra_body: Mapping[str, Any] | None) -> bytes:
    """The JSON body; `extra_body` keys are merged over the request's at the top level."""
    if not extra_body:
        return encoder.encode(request)
    merged = msgspec.to_builtins(request)
    merged.update(extra_body)
    return encoder.encode(merged)


def checked_query(query: Mapping[str, Any] | None) -> Mapping[str, str | int | float] | None:
    """`extra_query`, checked: names to strings or numbers, added to the URL's query string.

    Raises:
        InvalidRequestError: naming the offending entry.
    """
    if not query:
        return None
    if not isinstance(query, Mapping):
        raise InvalidRequestError("extra_query", f"expected a dict, got {type(query).__name__}")
    for name, value in query.items():
        if not isinstance(name, str):
            raise InvalidRequestError("extra_query", f"names must be strings, got {name!r}")
        # yarl refuses a bool (is it `True`, `true` or `1`?), and so do we, before sending.
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidRequestError(
                f"extra_query[{name!r}]", f"expected a string or a number, got {value!r}"
            )
    return query


def _checked_field(name: str, value: Any) -> Any:
    """An object-valued field checked against its struct; sent as given (a list if iterable)."""
    if name == "functions" and not isinstance(value, str | bytes | Mapping):
        value = list(value) if isinstance(value, Iterable) else value
    try:
        msgspec.convert(value, _CHECKED_FIELDS[name])
    except msgspec.ValidationError as exc:
        raise _invalid(exc, name) from None
    if name == "functions":
        for i, function in enumerate(value):
            _check_name(function["name"], f"functions[{i}].name")
    return value


def _convert(fields: dict[str, Any]) -> ChatCompletionRequest:
    try:
        request = msgspec.convert(fields, ChatCompletionRequest)
    except msgspec.ValidationError as exc:
        unknown = _UNKNOWN_FIELD.match(str(exc))
        if unknown:
            raise InvalidRequestError(
                unknown[1], "not a parameter of chat completions; send extra fields in extra_body"
            ) from None
        error = _invalid(exc, "")
        if error.field in fields and ", got" not in error.reason:
            given = repr(fields[error.field])
            error = InvalidRequestError(error.field, f"{error.reason}, got {given[:100]}")
        raise error from None
    options = fields.get("stream_options")
    if isinstance(options, Mapping) and request.stream_options is not None:
        # What a server adds to the options (vLLM's `continuous_usage_stats`) is sent too.
        request.stream_options = keep_unnamed(options, request.stream_options)
    return request


def _invalid(exc: msgspec.ValidationError, prefix: str) -> InvalidRequestError:
    """Turn msgspec's `Expected ... - at `$.a[0].b`` into a field name and a reason."""
    reason, where = split_validation_error(exc)
    path = where.removeprefix("$").lstrip(".")
    field = f"{prefix}{path}" if path.startswith("[") or not prefix else f"{prefix}.{path}"
    return InvalidRequestError(field.rstrip(".") or "request", reason)


_MESSAGE_TYPES: tuple[type, ...] = Message.__args__


def checked_messages(messages: Iterable[Any]) -> list[Any]:
    """The messages as a list, each dict checked against its message struct."""
    if isinstance(messages, str | bytes | Mapping):
        raise InvalidRequestError("messages", "expected a list of messages, got a single value")
    checked = list(messages)
    if not checked:
        raise InvalidRequestError("messages", "must contain at least one message")
    for i, message in enumerate(checked):
        if isinstance(message, _MESSAGE_TYPES):
            continue
        if isinstance(message, ChatCompletionMessage):
            # `messages.append(completion.choices[0].message)`, as with the OpenAI SDK: the
            # one conversion into history, which keeps what the provider sent.
            checked[i] = message.to_param()
            continue
        if not isinstance(message, Mapping):
            raise InvalidRequestError(
                f"messages[{i}]",
                f"expected a dict or a message struct, got {type(message).__name__}",
            )
        try:
            msgspec.convert(message, Message)
        except msgspec.ValidationError as exc:
            raise _invalid(exc, f"messages[{i}]") from None
    return checked


def _checked_logit_bias(bias: Any) -> dict[str, float]:
    """Token ids (as ints or digit strings) to biases in -100..100."""
    if not isinstance(bias, Mapping):
        raise InvalidRequestError("logit_bias", f"expected a dict, got {type(bias).__name__}")
    checked = {}
    for token, value in bias.items():
        field = f"logit_bias[{token!r}]"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequestError(field, f"expected a number, got {value!r}")
        if not -100 <= value <= 100:
            raise InvalidRequestError(field, f"expected a bias in -100..100, got {value!r}")
        checked[str(token)] = value
    return checked


def _tool_dict(tool: Any, i: int) -> Any:
    """A tool as sent: its `.definition`, a `ChatCompletionTool`, or a dict, checked."""
    if isinstance(tool, SupportsToolDefinition):
        tool = tool.definition
    kind = "function"
    try:
        if isinstance(tool, ChatCompletionTool):
            name = tool.function.name
        elif isinstance(tool, Mapping) and tool.get("type") == "custom":
            kind, name = "custom", msgspec.convert(tool, _CustomTool).custom.name
        elif isinstance(tool, Mapping):
            name = msgspec.convert(tool, ChatCompletionTool).function.name
        else:
            raise InvalidRequestError(
                f"tools[{i}]", f"expected a tool dict or a Tool, got {type(tool).__name__}"
            )
    except msgspec.ValidationError as exc:
        raise _invalid(exc, f"tools[{i}]") from None
    _check_name(name, f"tools[{i}].{kind}.name")
    return tool


# What OpenAI accepts as a function name; other providers accept the same or more. fullmatch,
# not `^...$`, whose `$` also matches before a trailing newline.
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def is_tool_name(name: str) -> bool:
    """Whether `name` is a name the API takes for a tool: 1 to 64 letters, digits, `_` or `-`."""
    return _TOOL_NAME.fullmatch(name) is not None


def _check_name(name: str, field: str) -> None:
    if not is_tool_name(name):
        raise InvalidRequestError(
            field, f"{name!r} must be 1 to 64 letters, digits, underscores or dashes"
        )


def _tool_names(tools: list[Any] | None) -> set[tuple[str, str]]:
    """Each tool as `(kind, name)`: `("function", "get_weather")`, `("custom", "run_sql")`."""
    names = set()
    for tool in tools or ():
        if isinstance(tool, ChatCompletionTool):
            names.add(("function", tool.function.name))
        else:
            kind = tool.get("type", "function")
            names.add((kind, tool[kind]["name"]))
    return names


def _check_cross_field_rules(request: ChatCompletionRequest) -> None:
    if request.top_logprobs is not None and not request.logprobs:
        raise InvalidRequestError("top_logprobs", "requires logprobs=True")
    choice = request.tool_choice
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise InvalidRequestError(
                "tool_choice", f"expected 'none', 'auto', 'required' or a dict, got {choice!r}"
            )
        if choice == "required" and not request.tools:
            raise InvalidRequestError("tool_choice", "'required' needs at least one tool in tools")
    elif choice is not None:
        forced = _forced_tool(choice)
        if forced is not None and forced not in _tool_names(request.tools):
            kind, name = forced
            raise InvalidRequestError(
                "tool_choice", f"names the {kind} tool {name!r}, which is not in tools"
            )
    call = request.function_call
    if isinstance(call, dict) and call["name"] not in {f["name"] for f in request.functions or ()}:
        raise InvalidRequestError(
            "function_call", f"names the function {call['name']!r}, which is not in functions"
        )


def _forced_tool(choice: Mapping[str, Any]) -> tuple[str, str] | None:
    """The `(kind, name)` a `tool_choice` dict forces, for a function or a custom tool."""
    kind = choice.get("type")
    named = choice.get(kind) if kind in ("function", "custom") else None
    if isinstance(kind, str) and isinstance(named, Mapping):
        name = named.get("name")
        if not isinstance(name, str):
            raise InvalidRequestError(f"tool_choice.{kind}.name", "expected a string")
        return kind, name
    return None
