"""Assemble a `ChatCompletion` from the chunks of a stream: sans-I/O, constant work per chunk.

Each choice keeps lists of fragments that are joined once, when the completion is read, so a
stream of N tokens costs O(N) in all. The merge rules, field by field:

- metadata (`id`, `model`, `created`): the first non-empty value; `system_fingerprint` and
  `service_tier`: the last one sent.
- `role`: the first one sent, `assistant` when a provider never sends it.
- `content`, `refusal`, `reasoning_content`: fragments append. A field that only ever came as
  `null` stays `None`; one that came as `""` is `""` (as the OpenAI SDK assembles it).
  `reasoning` (OpenRouter, Ollama), `reasoning_details` (OpenRouter) and a call's
  `extra_content` (Gemini) are not named by the chunk structs, so that the common chunk stays
  cheap: they merge as unnamed fields (below) and land in the typed fields of the message and
  the call.
- `tool_calls`: fragments belong to a call found by `index`; a fragment whose `id` differs
  from the call at that index starts a new call (some servers send every call as `index: 0`);
  without `index`, a new `id` starts a new call and no `id` continues the last one; an empty
  `id` is no id. `id`,
  `type` and `name` are taken on first sight, so servers that repeat them on every fragment
  do not duplicate them; `arguments` fragments append. The fragment that names a call is
  recorded in `started_calls`: the one rule of call identity, for live events too. Asked to
  (`watch_arguments`), the accumulator also records which call each argument fragment went
  to (`added_arguments`), so that a call's live argument text is told by the same rule.
- `finish_reason`: the last one sent; `logprobs`: token lists append.
- `usage`: from the last chunk that has it (some servers send a running total on every chunk,
  OpenAI a final chunk with empty `choices`).
- choices are kept by `index`, so n>1 choices may interleave in any order.
- fields asynctool does not name (see `_lossless`): on a delta, a tool-call fragment or its
  function, they merge by the *delta* rule (strings concatenate,
  except naming keys such as `type` and `index`; blocks with an `index` merge by it; other
  lists extend; objects merge by key); on a chunk or a choice, which repeat them whole, by the
  *snapshot* rule (objects merge by key, the last value wins). `null` adds nothing, but a field
  that only ever came as `null` is kept as `null`. `obfuscation`, OpenAI's per-chunk padding,
  stays on the chunks.

Chunks with unnamed fields come through `add_lossless`, one at a time; `add_all` is the fast
path for the rest and never looks for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import msgspec

from ._lossless import extras, with_extras
from ._merge import merge_snapshot, merged_extras
from ._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChoiceLogprobs,
    ChunkChoice,
    ContentFilterResult,
    CustomCall,
    FunctionCall,
    PromptFilterResult,
    TokenLogprob,
    ToolCall,
    Usage,
)

__all__ = ["AddedArguments", "ChatCompletionAccumulator", "StartedCall"]


class _Fragments(list[str]):
    """The fragments of one text, in order, settled now and then into one string.

    A stream's text arrives a token at a time, each fragment a string of its own of some 50
    bytes. `settle()` joins the fragments added since it was last called, so each batch of a
    stream is kept as one string: for short tokens a tenth of the memory, and fewer fresh pages
    touched, which on the benchmark machine cost more than the join.
    """

    __slots__ = ("_settled",)

    def __init__(self) -> None:
        super().__init__()
        self._settled = 0

    def settle(self) -> None:
        start = self._settled
        if len(self) - start > 1:
            self[start:] = ["".join(self[start:])]
        self._settled = len(self)


class StartedCall(NamedTuple):
    """A tool call of a stream, as of the fragment that gave it its name.

    The accumulator alone decides which call a fragment belongs to (`_ChoiceState.call_for`),
    so whoever reports calls as they stream (the agent's `ToolCallStarted`) reports these, and
    names exactly the calls the completion holds. A call counts from its name, not its first
    fragment: some servers send the id first, and a call without a name says nothing yet.
    """

    chunk: ChatCompletionChunk  # the chunk whose fragment named the call
    choice: int
    id: str  # "" while the server has sent none
    name: str
    position: int  # where the call is in its choice's `tool_calls`, from 0


class AddedArguments(NamedTuple):
    """Argument text a chunk added to a named call, as `watch_arguments` records it.

    A call's records concatenate to its final `arguments`: text that came before the call
    had a name is recorded with the fragment that named it.
    """

    chunk: ChatCompletionChunk
    choice: int
    position: int  # the call's, as in `StartedCall`
    id: str  # the call's, as it stands ("" while the server has sent none)
    name: str
    text: str


class _ToolCallState:
    __slots__ = (
        "arguments",
        "extras",
        "function_extras",
        "id",
        "index",
        "name",
        "position",
        "type",
    )

    def __init__(self, index: int | None, id: str | None, position: int = 0) -> None:
        self.index = index
        self.position = position
        self.id = id
        self.type: str | None = None
        self.name: str | None = None
        self.arguments = _Fragments()
        self.extras: dict[str, Any] = {}  # unnamed fields of the fragments, by JSON key
        self.function_extras: dict[str, Any] = {}

    def merge(self, delta: ChoiceDeltaToolCall) -> bool:
        """Merge one fragment; True when it is the fragment that gave the call its name."""
        if self.id is None:
            self.id = delta.id or None
        if self.type is None:
            self.type = delta.type
        named = False
        function = delta.function
        if function is not None:
            if self.name is None:
                self.name = function.name
                named = bool(function.name)
            if function.arguments:
                self.arguments.append(function.arguments)
        return named

    def started_by(self, chunk: ChatCompletionChunk, choice: int) -> StartedCall:
        return StartedCall(chunk, choice, self.id or "", self.name or "", self.position)

    def merge_extras(self, delta: ChoiceDeltaToolCall) -> None:
        merged_extras(self.extras, delta)
        if delta.function is not None:
            merged_extras(self.function_extras, delta.function)

    def build(self) -> ToolCall:
        function = FunctionCall(name=self.name or "", arguments="".join(self.arguments))
        call = ToolCall(
            id=self.id or "",
            function=with_extras(function, self.function_extras),
            type=self.type or "function",
        )
        extra, named = _named(self.extras, _CALL_FIELDS)
        for name, value in named.items():
            setattr(call, name, value)
        return with_extras(call, extra)


class _ChoiceState:
    __slots__ = (
        "by_index",
        "content",
        "content_filter_results",
        "extras",
        "finish_reason",
        "function_call",
        "index",
        "logprobs",
        "message_extras",
        "reasoning_content",
        "refusal",
        "refusal_logprobs",
        "role",
        "tool_calls",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        # Every fragment is kept, "" included, so an empty list means the field only ever came
        # as null (or never), and it stays null.
        self.content = _Fragments()
        self.refusal: list[str] = []
        self.reasoning_content: list[str] = []
        self.extras: dict[str, Any] = {}  # the choice's unnamed fields
        self.message_extras: dict[str, Any] = {}  # the deltas' unnamed fields
        self.tool_calls: list[_ToolCallState] = []
        self.by_index: dict[int, _ToolCallState] = {}
        self.function_call: _ToolCallState | None = None
        self.finish_reason: str | None = None
        self.logprobs: list[TokenLogprob] | None = None
        self.refusal_logprobs: list[TokenLogprob] | None = None
        self.content_filter_results: dict[str, ContentFilterResult] | None = None

    def merge_uncommon_fields(self, choice: ChunkChoice) -> None:
        """Merge what a chunk rarely carries: everything but content and tool calls."""
        delta = choice.delta
        if delta.role is not None and self.role is None:
            self.role = delta.role
        if delta.refusal is not None:
            self.refusal.append(delta.refusal)
        if delta.reasoning_content is not None:
            self.reasoning_content.append(delta.reasoning_content)
        if delta.function_call is not None:
            self._merge_function_call(delta.function_call)
        if choice.finish_reason is not None:
            self.finish_reason = choice.finish_reason
        if choice.logprobs is not None:
            self._merge_logprobs(choice.logprobs)
        if choice.content_filter_results is not None:
            self.content_filter_results = choice.content_filter_results

    def merge_extras(self, choice: ChunkChoice) -> None:
        """Merge the unnamed fields of a chunk's choice and delta (`add_all` merges those of
        the tool-call fragments, as it finds their calls)."""
        if extras(choice):
            merged_extras(self.extras, choice, merge_snapshot)
        delta = choice.delta
        if extras(delta):
            merged_extras(self.message_extras, delta)
        if delta.function_call is not None and extras(delta.function_call):
            assert self.function_call is not None  # `merge_uncommon_fields` made it
            merged_extras(self.function_call.function_extras, delta.function_call)

    def call_for(self, fragment: ChoiceDeltaToolCall) -> _ToolCallState:
        """The call this fragment continues, or a new one (see the module's rules)."""
        # DashScope repeats `"id": ""` on every fragment after a call's first: no id, not a
        # new one.
        index, id = fragment.index, fragment.id or None
        if index is None:
            last = self.tool_calls[-1] if self.tool_calls else None
            if last is None or (id is not None and last.id is not None and id != last.id):
                return self._new_call(None, id)
            return last
        call = self.by_index.get(index)
        if call is None or (id is not None and call.id is not None and id != call.id):
            return self._new_call(index, id)
        return call

    def _new_call(self, index: int | None, id: str | None) -> _ToolCallState:
        call = _ToolCallState(index, id, len(self.tool_calls))
        self.tool_calls.append(call)
        if index is not None:
            self.by_index[index] = call
        return call

    def _merge_function_call(self, function: ChoiceDeltaToolCallFunction) -> None:
        if self.function_call is None:
            self.function_call = _ToolCallState(None, None)
        self.function_call.merge(ChoiceDeltaToolCall(function=function))

    def _merge_logprobs(self, logprobs: ChoiceLogprobs) -> None:
        if logprobs.content is not None:
            self.logprobs = _extended(self.logprobs, logprobs.content)
        if logprobs.refusal is not None:
            self.refusal_logprobs = _extended(self.refusal_logprobs, logprobs.refusal)

    def build(self) -> Choice:
        logprobs = None
        if self.logprobs is not None or self.refusal_logprobs is not None:
            logprobs = ChoiceLogprobs(content=self.logprobs, refusal=self.refusal_logprobs)
        function_call = None
        if self.function_call is not None:
            built = self.function_call.build()
            function_call = built.function
        extra, named = _named(self.message_extras, _MESSAGE_FIELDS)
        message = ChatCompletionMessage(
            role=self.role or "assistant",
            content=_joined(self.content),
            refusal=_joined(self.refusal),
            tool_calls=[call.build() for call in self.tool_calls] or None,
            reasoning_content=_joined(self.reasoning_content),
            function_call=function_call,
            **named,
        )
        choice = Choice(
            index=self.index,
            message=with_extras(message, extra),
            finish_reason=self.finish_reason,
            logprobs=logprobs,
            content_filter_results=self.content_filter_results,
        )
        return with_extras(choice, self.extras)


# Equal to nothing: `add_all`'s "no choice, no call yet".
_UNSET: Final = object()
# Where `add_all` starts, never written to: `_UNSET` makes it look up the real state first.
_UNUSED = _ChoiceState(0)


# Fields a delta does not name (so that chunks stay cheap) but the assembled objects do:
# merged as unnamed fields, by the delta rule, then set on the typed field.
# A custom tool's call streams as `{"type": "custom", "custom": {"name", "input"}}`.
_MESSAGE_FIELDS: Final = {"reasoning": Any, "reasoning_details": Any}
_CALL_FIELDS: Final = {"extra_content": Any, "custom": CustomCall}


def _named(merged: dict[str, Any], names: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split merged unnamed fields into those still unnamed and those the target names,
    converted to the target's type."""
    if not merged or not any(name in merged for name in names):
        return merged, {}
    named = {name: msgspec.convert(merged[name], names[name]) for name in names if name in merged}
    return {k: v for k, v in merged.items() if k not in named}, named


def _watch(
    watched: list[AddedArguments],
    chunk: ChatCompletionChunk,
    choice: int,
    call: _ToolCallState,
    fragment: ChoiceDeltaToolCall,
    named: bool,
) -> None:
    """Record the argument text `fragment` added to `call`, once the call has a name."""
    if named:
        text = "".join(call.arguments)  # with any that came before the name
    elif not call.name or fragment.function is None:
        return  # a call counts from its name (see `StartedCall`)
    else:
        text = fragment.function.arguments or ""
    if text:
        watched.append(
            AddedArguments(chunk, choice, call.position, call.id or "", call.name or "", text)
        )


def _extended(tokens: list[TokenLogprob] | None, more: list[TokenLogprob]) -> list[TokenLogprob]:
    if tokens is None:
        return list(more)
    tokens.extend(more)
    return tokens


def _joined(parts: list[str]) -> str | None:
    return "".join(parts) if parts else None


class ChatCompletionAccumulator:
    """Feed it every chunk of a stream with `add`; read the completion with `completion()`.

    Pure: no I/O, no awaiting. `completion()` may be called at any time, for a snapshot of
    what arrived so far, and does not disturb later `add` calls.
    """

    __slots__ = (
        "_choices",
        "_created",
        "_extras",
        "_id",
        "_model",
        "_prompt_filter_results",
        "_service_tier",
        "_system_fingerprint",
        "_usage",
        "added_arguments",
        "failed",
        "started_calls",
    )

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self._id = ""
        self._model = ""
        self._created = 0
        self._system_fingerprint: str | None = None
        self._service_tier: str | None = None
        self._usage: Usage | None = None
        self._prompt_filter_results: list[PromptFilterResult] | None = None
        self._extras: dict[str, Any] = {}  # the chunks' unnamed fields
        self.failed = False
        """A choice ended with `finish_reason: "error"`: the provider gave up part way."""
        self.started_calls: list[StartedCall] = []
        """Every tool call named so far, in the order of the fragments that named them."""
        self.added_arguments: list[AddedArguments] | None = None
        """With `watch_arguments`, the argument text of every fragment, by call, in order."""

    def watch_arguments(self) -> None:
        """Record which call each argument fragment goes to from now on (`added_arguments`).

        Off by default: every fragment then takes the slower way through `call_for`, which a
        stream that nobody watches call by call should not pay for.
        """
        if self.added_arguments is None:
            self.added_arguments = []

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Merge one chunk into the completion."""
        self.add_all((chunk,))

    def add_all(self, chunks: Sequence[ChatCompletionChunk], lossless: bool = False) -> None:
        """Merge chunks into the completion, in order: one call for a batch of a stream.

        This runs once per token, so it is written for the common chunk, one choice adding
        content or one tool call's arguments. The choice's state, and the call its last
        fragment went to, are looked up again only when they change. A fragment that goes on
        with a call whose id, type and name are known only appends its arguments; any other
        goes through `call_for` and `merge`. The rarely sent fields are checked in one
        condition and merged by `_ChoiceState.merge_uncommon_fields`. The content and arguments this
        call added are settled into one string each. With `lossless`, every fragment goes
        through `merge` and its unnamed fields are merged too (`add_lossless`).
        """
        if not self._id:
            for chunk in chunks:
                self._take_metadata(chunk)
                if self._id:
                    break
        choices = self._choices
        # The state of the last chunk's choice, and the call its last fragment went to, by
        # index; `_UNSET` equals no index, so both are set before they are first used.
        state_index: object = _UNSET
        state = _UNUSED
        add_content = _UNUSED.content.append
        call_index: object = _UNSET  # only while the call's id, type and name are known
        add_arguments = _UNUSED.content.append
        watched = self.added_arguments
        touched: list[_Fragments] = []  # the texts to settle at the end
        for chunk in chunks:
            for choice in chunk.choices:
                if choice.index != state_index:
                    state_index = choice.index
                    state = choices.get(choice.index) or self._new_choice(choice.index)
                    add_content = state.content.append
                    touched.append(state.content)
                    call_index = _UNSET
                delta = choice.delta
                if (content := delta.content) is not None:
                    add_content(content)
                if (fragments := delta.tool_calls) is not None:
                    for fragment in fragments:
                        if fragment.index == call_index and fragment.id is None:
                            function = fragment.function
                            if function is not None and function.arguments:
                                add_arguments(function.arguments)
                            continue
                        call = state.call_for(fragment)
                        named = call.merge(fragment)
                        if named:
                            self.started_calls.append(
                                StartedCall(
                                    chunk,
                                    state.index,
                                    call.id or "",
                                    call.name or "",
                                    call.position,
                                )
                            )
                        touched.append(call.arguments)
                        if watched is not None:
                            _watch(watched, chunk, state.index, call, fragment, named)
                        if lossless:
                            call.merge_extras(fragment)
                        elif (
                            watched is not None
                            or call.id is None
                            or call.type is None
                            or call.name is None
                        ):
                            # Watched, every fragment is recorded here; else a provider's
                            # quirk: the id, type or name may come later.
                            call_index = _UNSET
                        else:
                            call_index, add_arguments = call.index, call.arguments.append
                if (
                    delta.role is not None
                    or choice.finish_reason is not None
                    or delta.refusal is not None
                    or delta.reasoning_content is not None
                    or delta.function_call is not None
                    or choice.logprobs is not None
                    or choice.content_filter_results is not None
                ):
                    state.merge_uncommon_fields(choice)
                    if choice.finish_reason == "error":
                        self.failed = True
            if chunk.usage is not None or chunk.prompt_filter_results is not None:
                self._take_rare(chunk)
        for text in touched:
            text.settle()
        # Most chunks repeat these; the last one sent is what counts, so look from the end.
        for chunk in reversed(chunks):
            if chunk.system_fingerprint is not None:
                self._system_fingerprint = chunk.system_fingerprint
                break
        for chunk in reversed(chunks):
            if chunk.service_tier is not None:
                self._service_tier = chunk.service_tier
                break

    def add_lossless(self, chunks: Sequence[ChatCompletionChunk]) -> None:
        """Merge chunks that may carry fields asynctool does not name, keeping those too.

        Each tool-call fragment's unnamed fields go to the call `add_all` finds for it, the
        rest by choice index.
        """
        self.add_all(chunks, lossless=True)
        for chunk in chunks:
            if extras(chunk):
                merged_extras(self._extras, chunk, merge_snapshot)
            for choice in chunk.choices:
                self._choices[choice.index].merge_extras(choice)

    def tool_call(self, choice: int, position: int) -> ToolCall:
        """One call as it stands, built alone (the whole completion is not)."""
        return self._choices[choice].tool_calls[position].build()

    def _new_choice(self, index: int) -> _ChoiceState:
        state = self._choices[index] = _ChoiceState(index)
        return state

    def _take_rare(self, chunk: ChatCompletionChunk) -> None:
        if chunk.usage is not None:
            self._usage = chunk.usage
        if chunk.prompt_filter_results is not None:
            self._prompt_filter_results = chunk.prompt_filter_results

    def _take_metadata(self, chunk: ChatCompletionChunk) -> None:
        # Azure's first chunk carries only prompt filter results and an empty id.
        self._id = chunk.id
        self._model = self._model or chunk.model
        self._created = self._created or chunk.created

    @property
    def finished(self) -> bool:
        """True when at least one choice arrived and every choice has a finish reason."""
        return bool(self._choices) and all(
            state.finish_reason is not None for state in self._choices.values()
        )

    def unfinished_choices(self) -> list[int]:
        """Indexes of the choices that have no finish reason yet."""
        return sorted(i for i, state in self._choices.items() if state.finish_reason is None)

    def completion(self) -> ChatCompletion:
        """The completion assembled from every chunk added so far."""
        completion = ChatCompletion(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[self._choices[i].build() for i in sorted(self._choices)],
            usage=self._usage,
            system_fingerprint=self._system_fingerprint,
            service_tier=self._service_tier,
            prompt_filter_results=self._prompt_filter_results,
        )
        return with_extras(completion, self._extras)
