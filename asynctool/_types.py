"""Wire types of `POST /v1/chat/completions`, one msgspec Struct per object of the API.

Request structs encode with `omit_defaults=True`: a field the caller did not set is not sent.
Response structs are `kw_only`, default every optional field, and ignore unknown fields, so a
provider that adds fields never breaks decoding. Fields real providers send beside the spec
(`reasoning_content`, Azure's content filter results) are typed. Chunk structs are `gc=False`:
they never form reference cycles and are allocated once per streamed token.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Literal, TypeAlias, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from ._dump import Dumps
from ._lossless import plain_type as _plain_of
from ._lossless import strict, wire_extras, with_extras

__all__ = [
    "AssistantMessage",
    "AudioContentPart",
    "ChatCompletion",
    "ChatCompletionAudio",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionTool",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "ContentFilterResult",
    "ContentPart",
    "CustomCall",
    "DeveloperMessage",
    "FileContentPart",
    "FunctionCall",
    "FunctionDefinition",
    "ImageContentPart",
    "ImageURL",
    "InputAudio",
    "InputFile",
    "Message",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunctionCall",
    "ParsedToolCall",
    "PromptFilterResult",
    "PromptTokensDetails",
    "RefusalContentPart",
    "SystemMessage",
    "TextContentPart",
    "TokenLogprob",
    "ToolCall",
    "ToolMessage",
    "TopLogprob",
    "URLCitation",
    "Usage",
    "UserMessage",
]


# `Dumps` adds the OpenAI SDK's `model_dump()` and `model_dump_json()` (methods only, no fields).


class _Request(msgspec.Struct, Dumps, omit_defaults=True, kw_only=True):
    """Base of request objects: unset fields stay off the wire (and out of `model_dump()`)."""


class _Response(msgspec.Struct, Dumps, kw_only=True):
    """Base of response objects: optional fields default, unknown fields are ignored."""


class _Chunk(msgspec.Struct, Dumps, kw_only=True, omit_defaults=True, gc=False):
    """Base of stream objects: as `_Response`, but cheap to allocate once per token."""

    _dump_defaults: ClassVar[bool] = True  # omitted on the wire only; dumped as the SDK does


# --------------------------------------------------------------------------- content parts


class TextContentPart(_Request, tag_field="type", tag="text"):
    """A piece of text in a message's content list."""

    type: ClassVar[Literal["text"]] = "text"  # the tag, readable (not a field: the union's)
    text: str


class ImageURL(_Request):
    """An image by URL or `data:` URL; `detail` is `auto`, `low` or `high`."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageContentPart(_Request, tag_field="type", tag="image_url"):
    """An image in a user message."""

    type: ClassVar[Literal["image_url"]] = "image_url"
    image_url: ImageURL


class InputAudio(_Request):
    """Base64 audio data and its format."""

    data: str
    format: Literal["wav", "mp3"]


class AudioContentPart(_Request, tag_field="type", tag="input_audio"):
    """Audio in a user message."""

    type: ClassVar[Literal["input_audio"]] = "input_audio"
    input_audio: InputAudio


class InputFile(_Request):
    """A file, by uploaded `file_id` or inline base64 `file_data` with a `filename`."""

    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FileContentPart(_Request, tag_field="type", tag="file"):
    """A file in a user message."""

    type: ClassVar[Literal["file"]] = "file"
    file: InputFile


class RefusalContentPart(_Request, tag_field="type", tag="refusal"):
    """A refusal in an assistant message's content list."""

    type: ClassVar[Literal["refusal"]] = "refusal"
    refusal: str


ContentPart: TypeAlias = (
    TextContentPart | ImageContentPart | AudioContentPart | FileContentPart | RefusalContentPart
)


# --------------------------------------------------------------------------- tool calls


class FunctionCall(msgspec.Struct, Dumps, kw_only=True):
    """The function a model called: its name and its arguments as JSON text."""

    name: str
    arguments: str


class CustomCall(msgspec.Struct, Dumps, kw_only=True):
    """The custom tool a model called: its name and its free-form input."""

    name: str
    input: str


class ToolCall(msgspec.Struct, Dumps, kw_only=True):
    """One tool call of an assistant message.

    `extra_content` is what Gemini 3 attaches to a call (`{"google": {"thought_signature":
    ...}}`) and wants back on the same call in the next request; it is never sent when unset.
    A call of a custom tool (`type: "custom"`) has its name and input in `custom` and an empty
    `function`.
    """

    id: str
    function: FunctionCall = msgspec.field(
        default_factory=lambda: FunctionCall(name="", arguments="")
    )
    type: str = "function"
    extra_content: dict[str, Any] | UnsetType = UNSET
    custom: CustomCall | UnsetType = UNSET


# --------------------------------------------------------------------------- request messages
# Each message reads its `role` as the JSON has it. The role is the union's tag, written by
# msgspec and not a field, so it is a class constant here: read-only, and encoding unchanged.


class SystemMessage(_Request, tag_field="role", tag="system"):
    """Instructions for the model."""

    role: ClassVar[Literal["system"]] = "system"
    content: str | list[TextContentPart]
    name: str | None = None


class DeveloperMessage(_Request, tag_field="role", tag="developer"):
    """Instructions for the model, as newer OpenAI models name the system role."""

    role: ClassVar[Literal["developer"]] = "developer"
    content: str | list[TextContentPart]
    name: str | None = None


class UserMessage(_Request, tag_field="role", tag="user"):
    """What the user said: text, or a list of text, image, audio and file parts."""

    role: ClassVar[Literal["user"]] = "user"
    content: str | list[ContentPart]
    name: str | None = None


class AssistantMessage(_Request, tag_field="role", tag="assistant"):
    """A model's earlier turn: text, a refusal, and/or tool calls."""

    role: ClassVar[Literal["assistant"]] = "assistant"
    content: str | list[TextContentPart | RefusalContentPart] | None = None
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[dict[str, Any]] | None = None
    function_call: FunctionCall | None = None
    audio: dict[str, Any] | None = None


class ToolMessage(_Request, tag_field="role", tag="tool"):
    """The result of one tool call, answered under its `tool_call_id`."""

    role: ClassVar[Literal["tool"]] = "tool"
    content: str | list[TextContentPart]
    tool_call_id: str


Message: TypeAlias = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage
"""A request message: a tagged union on `role`."""


# --------------------------------------------------------------------------- tool definitions


class FunctionDefinition(_Request):
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatCompletionTool(msgspec.Struct, Dumps, kw_only=True):
    """A tool definition as sent in `tools`.

    Not `omit_defaults`: the API requires `type` even though it has only one value.
    """

    function: FunctionDefinition
    type: Literal["function"] = "function"


# --------------------------------------------------------------------------- responses


class TopLogprob(_Response):
    """One of the most likely tokens at a position."""

    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(_Response):
    """A sampled token, its log probability and the most likely alternatives."""

    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = msgspec.field(default_factory=list)


class ChoiceLogprobs(_Response):
    """Log probabilities of a choice's content and refusal tokens."""

    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class PromptTokensDetails(_Response):
    """Where prompt tokens went; `cache_write_tokens` is what OpenRouter reports written to
    the prompt cache."""

    cached_tokens: int = 0
    audio_tokens: int = 0
    cache_write_tokens: int = 0


class CompletionTokensDetails(_Response):
    """Where completion tokens went."""

    reasoning_tokens: int = 0
    audio_tokens: int = 0
    accepted_prediction_tokens: int = 0
    rejected_prediction_tokens: int = 0


class Usage(_Response):
    """Token counts of a request (or, summed, of an agent run), and what it cost.

    Beside the API's counts: `cost` and `cost_details` (OpenRouter, in credits),
    `prompt_cache_hit_tokens` and `prompt_cache_miss_tokens` (DeepSeek). Adding two usages
    (`a + b`, as a run sums its requests) sums every number, named or not, and merges
    objects of numbers key by key.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    cost: float | None = None
    cost_details: dict[str, Any] | None = None
    prompt_cache_hit_tokens: int | None = None
    prompt_cache_miss_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        summed = _added(self, other)
        assert isinstance(summed, Usage)
        return summed


def _added(a: Any, b: Any) -> Any:
    """Two usage values summed: numbers add, structs and dicts field by field (unnamed fields
    too), `None` is nothing; anything else keeps the later value."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, bool) or isinstance(b, bool):
        return b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a + b
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _added(a.get(k), b.get(k)) for k in {**a, **b}}
    if isinstance(a, msgspec.Struct) and isinstance(b, msgspec.Struct):
        cls = type(a)
        fields = {f: _added(getattr(a, f), getattr(b, f)) for f in _public_fields(cls)}
        return with_extras(_plain_of(cls)(**fields), _added(wire_extras(a), wire_extras(b)))
    return b


def _public_fields(cls: type) -> tuple[str, ...]:
    fields: tuple[str, ...] = _plain_of(cls).__struct_fields__  # type: ignore[attr-defined]
    return fields


class ContentFilterResult(_Response):
    """One category of Azure's content filter: filtered or not, and why."""

    filtered: bool = False
    severity: str | None = None
    detected: bool | None = None


class PromptFilterResult(_Response):
    """Azure's content filter verdict on one prompt."""

    prompt_index: int = 0
    content_filter_results: dict[str, ContentFilterResult] | None = None


class URLCitation(_Response):
    """A web source cited in a span of the answer."""

    url: str = ""
    title: str = ""
    start_index: int = 0
    end_index: int = 0


class Annotation(_Response):
    """An annotation of the answer, such as a URL citation."""

    type: str = "url_citation"
    url_citation: URLCitation | None = None


class ChatCompletionAudio(_Response):
    """Audio the model answered with."""

    id: str = ""
    data: str = ""
    expires_at: int = 0
    transcript: str = ""


class ChatCompletionMessage(_Response):
    """The message a model answered with.

    Reasoning comes as `reasoning_content` (DeepSeek, Moonshot, vLLM, llama.cpp), `reasoning`
    (OpenRouter, Ollama) and `reasoning_details` (OpenRouter's typed blocks).
    """

    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    annotations: list[Annotation] | None = None
    audio: ChatCompletionAudio | None = None
    function_call: FunctionCall | None = None
    reasoning: str | None = None  # OpenRouter, Ollama, vLLM
    reasoning_details: list[dict[str, Any]] | None = None  # OpenRouter: send back unmodified

    def to_param(self) -> AssistantMessage:
        """This answer as a request message, to append to a conversation.

        Everything the provider sent that belongs to the conversation comes along: text,
        refusal, tool calls (with their `extra_content`), reasoning in all its forms, and
        every field asynctool does not name. Only what describes the response itself
        (`role`, `annotations`) stays behind; `audio` goes back as the `{"id"}` that the API
        asks for.
        """
        return assistant_message(self)


def assistant_message(
    message: ChatCompletionMessage, tool_calls: list[ToolCall] | None = None
) -> AssistantMessage:
    """`message` as the request message that carries it in a conversation: the one
    conversion from an answer to history, used by `to_param()` and by the agent loop.
    `tool_calls` replaces the message's calls (the loop gives ids to calls sent without)."""
    calls = tool_calls if tool_calls is not None else message.tool_calls
    param = AssistantMessage(
        content=message.content,
        refusal=message.refusal,
        tool_calls=[_unparsed(call) for call in calls] if calls else None,
        reasoning_content=message.reasoning_content,
        reasoning=message.reasoning,
        reasoning_details=message.reasoning_details,
        function_call=_unparsed_function(message.function_call),
        audio={"id": message.audio.id} if message.audio is not None else None,
    )
    return with_extras(param, wire_extras(message))


def _unparsed(call: ToolCall) -> ToolCall:
    # `parse()` decodes arguments into `parsed_arguments`; the wire knows only the text.
    if not isinstance(call, ParsedToolCall):
        return call
    fields = {f: getattr(call, f) for f in ToolCall.__struct_fields__}
    fields["function"] = _unparsed_function(call.function)
    return with_extras(ToolCall(**fields), wire_extras(call))


def _unparsed_function(function: FunctionCall | None) -> FunctionCall | None:
    if not isinstance(function, ParsedFunctionCall):
        return function
    plain = FunctionCall(name=function.name, arguments=function.arguments)
    return with_extras(plain, wire_extras(function))


class Choice(_Response):
    """One of the `n` completions."""

    index: int = 0
    message: ChatCompletionMessage = msgspec.field(default_factory=ChatCompletionMessage)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None
    content_filter_results: dict[str, ContentFilterResult] | None = None


class ChatCompletion(_Response):
    """A whole answer, as returned by a non-stream request or assembled from a stream."""

    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    prompt_filter_results: list[PromptFilterResult] | None = None


# --------------------------------------------------------------------------- parsed responses

ParsedT = TypeVar("ParsedT")


class ParsedFunctionCall(FunctionCall, kw_only=True):
    """A function call whose arguments were checked: `parsed_arguments` holds them decoded."""

    parsed_arguments: Any = None


class ParsedToolCall(ToolCall, kw_only=True):
    """A tool call of a parsed completion."""

    function: ParsedFunctionCall


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[ParsedT], kw_only=True):
    """An answer parsed into the requested type: `parsed` is the value (None on a refusal)."""

    parsed: ParsedT | None = None
    tool_calls: list[ParsedToolCall] | None = None  # type: ignore[assignment]


class ParsedChoice(Choice, Generic[ParsedT], kw_only=True):
    """A choice of a parsed completion."""

    message: ParsedChatCompletionMessage[ParsedT] = msgspec.field(
        default_factory=ParsedChatCompletionMessage
    )


class ParsedChatCompletion(ChatCompletion, Generic[ParsedT], kw_only=True):
    """What `client.chat.completions.parse` returns: `choices[i].message.parsed` is a `T`."""

    choices: list[ParsedChoice[ParsedT]] = msgspec.field(default_factory=list)  # type: ignore[assignment]


# --------------------------------------------------------------------------- stream chunks


class ChoiceDeltaToolCallFunction(_Chunk):
    """A fragment of a tool call's function: the name (first fragment) and arguments text."""

    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(_Chunk):
    """A fragment of a tool call; `index` says which call of the message it continues.

    Gemini's `extra_content` is read as an attribute where it is sent, and lands in the
    assembled `ToolCall.extra_content`.
    """

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None


class ChoiceDelta(_Chunk):
    """What one chunk adds to a choice's message.

    A delta names only what most chunks carry: every field it names costs each chunk of
    every stream. The rest (OpenRouter's and Ollama's `reasoning`, OpenRouter's
    `reasoning_details`, ...) is read as an attribute where a provider sends it, and lands in
    the typed fields of the assembled message.
    """

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    reasoning_content: str | None = None
    function_call: ChoiceDeltaToolCallFunction | None = None


class ChunkChoice(_Chunk):
    """One choice's part of a chunk."""

    index: int = 0
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None
    content_filter_results: dict[str, ContentFilterResult] | None = None


class ChatCompletionChunk(_Chunk):
    """One server-sent event of a streamed completion."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice] = msgspec.field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    prompt_filter_results: list[PromptFilterResult] | None = None
    obfuscation: str | None = None  # OpenAI pads every chunk with it; noise, not merged


# --------------------------------------------------------------------------- codecs, built once

encoder = msgspec.json.Encoder()
# Strict: they raise for a payload with a field the structs do not name, which then goes
# through `_lossless.Decoder.decode_any` and keeps it.
completion_decoder = msgspec.json.Decoder(strict(ChatCompletion))
chunk_decoder = msgspec.json.Decoder(strict(ChatCompletionChunk))
