"""Replies to wire bytes, in the exact shapes the OpenAI API sends.

A non-stream reply is one `chat.completion` JSON body. A stream is a list of SSE events: per
choice, a first delta with `role`, reasoning, content or refusal deltas, tool-call deltas (the
first fragment of a call carries `index`, `id`, `type`, `function.name` and empty
`arguments`, later ones `arguments` text only), a finish delta with `finish_reason`; choices
interleave by index. Then, only with `stream_options.include_usage`, a chunk with
`choices: []` and `usage`, and `data: [DONE]`.

Speed matters (benchmarks read from this server): the envelope shared by every chunk of a
completion is encoded once, and each event only encodes its small choice struct with msgspec.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from .._types import Usage
from ._request import RecordedRequest, text_of
from ._turns import Call, Reply

__all__ = [
    "DONE",
    "WireContext",
    "completion_tokens",
    "estimate_tokens",
    "prompt_tokens",
    "render",
]

DONE = b"data: [DONE]\n\n"
FINGERPRINT = "fp_asynctool"

_ARG_PIECE = re.compile(r"\w+|\W+")


class _Out(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Output structs: fields without a default are always written, `null` included."""


class _FunctionOut(_Out):
    name: str
    arguments: str


class _ToolCallOut(_Out):
    id: str
    type: str
    function: _FunctionOut


class _MessageOut(_Out):
    role: str
    content: str | None
    refusal: str | None
    tool_calls: list[_ToolCallOut] | None = None
    reasoning_content: str | None = None


class _TopLogprobOut(_Out):
    token: str
    logprob: float
    bytes: list[int]


class _TokenLogprobOut(_Out):
    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[_TopLogprobOut]


class _LogprobsOut(_Out):
    content: list[_TokenLogprobOut] | None
    refusal: None


class _ChoiceOut(_Out):
    index: int
    message: _MessageOut
    logprobs: _LogprobsOut | None
    finish_reason: str


class _PromptDetailsOut(_Out):
    cached_tokens: int
    audio_tokens: int


class _CompletionDetailsOut(_Out):
    reasoning_tokens: int
    audio_tokens: int
    accepted_prediction_tokens: int
    rejected_prediction_tokens: int


class _UsageOut(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: _PromptDetailsOut
    completion_tokens_details: _CompletionDetailsOut


class _CompletionOut(_Out):
    id: str
    object: str
    created: int
    model: str
    choices: list[_ChoiceOut]
    usage: _UsageOut
    service_tier: str
    system_fingerprint: str


class _DeltaFunctionOut(_Out):
    name: str | None = None
    arguments: str | None = None


class _DeltaToolCallOut(_Out, kw_only=True):
    index: int
    id: str | None = None
    type: str | None = None
    function: _DeltaFunctionOut


class _DeltaOut(_Out):
    role: str | None = None
    content: str | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    tool_calls: list[_DeltaToolCallOut] | None = None


class _ChunkChoiceOut(_Out):
    index: int
    delta: _DeltaOut
    logprobs: _LogprobsOut | None
    finish_reason: str | None


_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class WireContext:
    """What the bytes of one response need besides the replies."""

    completion_id: str
    created: int
    model: str
    stream: bool
    include_usage: bool
    logprobs: bool
    top_logprobs: int
    prompt_tokens: int
    call_prefix: str


def estimate_tokens(text: str) -> int:
    """A rough token count: whitespace-separated words. Deterministic and cheap."""
    return len(text.split())


def prompt_tokens(request: RecordedRequest) -> int:
    """The estimated prompt tokens: message texts, earlier tool calls and tool definitions."""
    total = 0
    for message in request.messages:
        total += estimate_tokens(text_of(message.get("content")))
        for call in message.get("tool_calls") or ():
            total += estimate_tokens(_encode(call).decode())
    if request.tools:
        total += estimate_tokens(_encode(request.tools).decode())
    return total


def completion_tokens(reply: Reply) -> int:
    """The estimated tokens a reply generates: its texts and its tool calls."""
    texts = [reply.content or "", reply.refusal or "", reply.reasoning_content or ""]
    texts.extend(f"{c.name} {c.arguments}" for c in reply.tool_calls)
    return sum(estimate_tokens(t) for t in texts)


def render(replies: list[Reply], ctx: WireContext) -> list[bytes]:
    """The body of a successful response: SSE events for a stream, else one JSON body."""
    if ctx.stream:
        return _stream_events(replies, ctx)
    return [_encode(_completion(replies, ctx))]


def _split(text: str, size: int | None) -> list[str]:
    """Delta texts: `size` characters each, else a word with its leading space each."""
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)]
    first, *rest = text.split(" ")
    pieces = [" " + word for word in rest]
    return [first, *pieces] if first else pieces


def _split_arguments(text: str, size: int | None) -> list[str]:
    """Argument fragments: runs of word characters and runs of the rest, as tokenizers cut."""
    if size:
        return _split(text, size)
    return _ARG_PIECE.findall(text)


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _call_id(call: Call, ctx: WireContext, choice: int, i: int) -> str:
    return call.id or f"{ctx.call_prefix}_{choice}_{i}"


def _usage(replies: list[Reply], ctx: WireContext) -> _UsageOut:
    given = [r.usage for r in replies if r.usage is not None]
    if given:
        return _usage_out(given[0])
    completion = sum(completion_tokens(r) for r in replies)
    reasoning = sum(estimate_tokens(r.reasoning_content or "") for r in replies)
    usage = Usage(
        prompt_tokens=ctx.prompt_tokens,
        completion_tokens=completion,
        total_tokens=ctx.prompt_tokens + completion,
    )
    return _usage_out(usage, reasoning)


def _usage_out(usage: Usage, reasoning: int = 0) -> _UsageOut:
    prompt = usage.prompt_tokens_details
    done = usage.completion_tokens_details
    return _UsageOut(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=_PromptDetailsOut(
            cached_tokens=prompt.cached_tokens if prompt else 0,
            audio_tokens=prompt.audio_tokens if prompt else 0,
        ),
        completion_tokens_details=_CompletionDetailsOut(
            reasoning_tokens=done.reasoning_tokens if done else reasoning,
            audio_tokens=done.audio_tokens if done else 0,
            accepted_prediction_tokens=done.accepted_prediction_tokens if done else 0,
            rejected_prediction_tokens=done.rejected_prediction_tokens if done else 0,
        ),
    )


def _wants_logprobs(reply: Reply, ctx: WireContext) -> bool:
    return ctx.logprobs if reply.logprobs is None else reply.logprobs


def _token_logprobs(pieces: list[str], top: int) -> list[_TokenLogprobOut]:
    """Made-up but well-formed log probabilities: the sent token is always the likeliest."""
    out = []
    for i, piece in enumerate(pieces):
        logprob = -0.01 * (i % 7)
        alternatives = [
            _TopLogprobOut(token=piece, logprob=logprob, bytes=list(piece.encode()))
        ] + [
            _TopLogprobOut(token=f"<alt{k}>", logprob=logprob - k, bytes=list(b"<alt%d>" % k))
            for k in range(1, top)
        ]
        out.append(
            _TokenLogprobOut(
                token=piece,
                logprob=logprob,
                bytes=list(piece.encode()),
                top_logprobs=alternatives[:top],
            )
        )
    return out


def _completion(replies: list[Reply], ctx: WireContext) -> _CompletionOut:
    choices = [_choice(reply, index, ctx) for index, reply in enumerate(replies)]
    return _CompletionOut(
        id=ctx.completion_id,
        object="chat.completion",
        created=ctx.created,
        model=ctx.model,
        choices=choices,
        usage=_usage(replies, ctx),
        service_tier="default",
        system_fingerprint=FINGERPRINT,
    )


def _choice(reply: Reply, index: int, ctx: WireContext) -> _ChoiceOut:
    calls = [
        _ToolCallOut(
            id=_call_id(c, ctx, index, i),
            type="function",
            function=_FunctionOut(name=c.name, arguments=c.arguments),
        )
        for i, c in enumerate(reply.tool_calls)
    ]
    logprobs = None
    if _wants_logprobs(reply, ctx) and reply.content is not None:
        pieces = _split(reply.content, reply.chunk_size)
        logprobs = _LogprobsOut(content=_token_logprobs(pieces, ctx.top_logprobs), refusal=None)
    message = _MessageOut(
        role="assistant",
        content=reply.content,
        refusal=reply.refusal,
        tool_calls=calls or None,
        reasoning_content=reply.reasoning_content,
    )
    return _ChoiceOut(
        index=index, message=message, logprobs=logprobs, finish_reason=_finish_reason(reply)
    )


def _stream_events(replies: list[Reply], ctx: WireContext) -> list[bytes]:
    head = (
        b'data: {"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,'
        b'"service_tier":"default","system_fingerprint":"%s","choices":['
        % (_encode(ctx.completion_id), ctx.created, _encode(ctx.model), FINGERPRINT.encode())
    )
    tail = b'],"usage":null}\n\n' if ctx.include_usage else b"]}\n\n"
    per_choice = [_choice_events(r, i, ctx, head, tail) for i, r in enumerate(replies)]
    if len(per_choice) == 1:
        events = per_choice[0]
    else:  # n > 1: the choices' chunks take turns, by index, as the API interleaves them
        longest = max(len(seq) for seq in per_choice)
        events = [seq[step] for step in range(longest) for seq in per_choice if step < len(seq)]
    if ctx.include_usage:
        events.append(head + b'],"usage":' + _encode(_usage(replies, ctx)) + b"}\n\n")
    events.append(DONE)
    return events


def _choice_events(
    reply: Reply, index: int, ctx: WireContext, head: bytes, tail: bytes
) -> list[bytes]:
    """The SSE events of one choice, in the order the API sends them."""

    def event(delta: _DeltaOut, finish_reason: str | None = None) -> bytes:
        choice = _ChunkChoiceOut(
            index=index, delta=delta, logprobs=None, finish_reason=finish_reason
        )
        return head + _encode(choice) + tail

    first = _DeltaOut(role="assistant")
    calls = list(_tool_call_deltas(reply, index, ctx))
    if reply.content is not None or reply.reasoning_content is not None or not calls:
        first.content = "" if reply.refusal is None else None
        first.refusal = "" if reply.refusal is not None else None
    else:  # a tool-call-only reply: the role rides on the first fragment, as OpenAI does
        first.tool_calls = calls.pop(0).tool_calls
    events = [event(first)]
    pieces = _split(reply.reasoning_content or "", reply.chunk_size)
    events.extend(event(_DeltaOut(reasoning_content=p)) for p in pieces)
    events.extend(_content_events(reply, index, ctx, head, tail))
    pieces = _split(reply.refusal or "", reply.chunk_size)
    events.extend(event(_DeltaOut(refusal=p)) for p in pieces)
    events.extend(event(delta) for delta in calls)
    events.append(event(_DeltaOut(), _finish_reason(reply)))
    return events


def _content_events(
    reply: Reply, index: int, ctx: WireContext, head: bytes, tail: bytes
) -> list[bytes]:
    pieces = _split(reply.content or "", reply.chunk_size)
    if not _wants_logprobs(reply, ctx):
        # The hot path of every benchmark: only the text is encoded, between fixed bytes
        # equal to what encoding the whole chunk would give.
        before = head + b'{"index":%d,"delta":{"content":' % index
        after = b'},"logprobs":null,"finish_reason":null}' + tail
        return [before + _encode(piece) + after for piece in pieces]
    events = []
    for piece, logprob in zip(pieces, _token_logprobs(pieces, ctx.top_logprobs), strict=True):
        chunk = _ChunkChoiceOut(
            index=index,
            delta=_DeltaOut(content=piece),
            logprobs=_LogprobsOut(content=[logprob], refusal=None),
            finish_reason=None,
        )
        events.append(head + _encode(chunk) + tail)
    return events


def _tool_call_deltas(reply: Reply, index: int, ctx: WireContext) -> Iterator[_DeltaOut]:
    for i, call in enumerate(reply.tool_calls):
        opening = _DeltaToolCallOut(
            index=i,
            id=_call_id(call, ctx, index, i),
            type="function",
            function=_DeltaFunctionOut(name=call.name, arguments=""),
        )
        yield _DeltaOut(tool_calls=[opening])
        for piece in _split_arguments(call.arguments, reply.chunk_size):
            fragment = _DeltaToolCallOut(index=i, function=_DeltaFunctionOut(arguments=piece))
            yield _DeltaOut(tool_calls=[fragment])
