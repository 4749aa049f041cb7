"""What a run sends of its transcript: the user's `history` function, and the pairing rule.

`Agent(history=...)` is called before each request with the messages about to be sent and
returns the messages to send instead; the run's transcript (`result.messages`) keeps
everything. Two ready ones are here: `keep_last_turns(n)` and `keep_within_tokens(limit)`.

The one rule asynctool holds a history function to: an assistant message with `tool_calls`
is sent with one tool message per call right after it, or not at all, and a tool message
only right after the assistant message that made its call. Providers refuse a request that
breaks it: OpenAI answers 400, "Invalid parameter: messages with role 'tool' must be a
response to a preceeding message with 'tool_calls'", the bug users of pydantic-ai's history
processors hit when they keep only the latest messages
(https://github.com/pydantic/pydantic-ai/issues/2050).

A broken list is refused, not repaired: `InvalidRequestError` names the message and what is
missing, before anything is sent. Repairing would mean guessing what the function meant:
dropping the orphaned tool messages loses results it chose to keep, and putting the
assistant message back re-sends what it chose to drop. Either way the request would differ
from the one the user wrote, silently; the function is the user's code, so its bug is theirs
to see. The ready functions cut only between whole turns, so they never break the rule.

Tokens are estimated, not counted (a tokenizer per provider is out of reach): four
characters of JSON a token, OpenAI's rule of thumb for English ("one token generally
corresponds to ~4 characters of text", https://help.openai.com/en/articles/4936856), or,
once a request has been answered, the ratio of the tokens the provider reported for it to
the characters that request sent.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import msgspec

from ._exceptions import InvalidRequestError
from ._lossless import convert
from ._request import checked_messages
from ._types import (
    AssistantMessage,
    ChatCompletionMessage,
    DeveloperMessage,
    Message,
    SystemMessage,
    ToolMessage,
    Usage,
    UserMessage,
)

__all__ = [
    "History",
    "HistoryContext",
    "as_message",
    "check_pairs",
    "estimate_tokens",
    "history_hook",
    "is_instruction",
    "keep_last_turns",
    "keep_within_tokens",
    "shaped",
    "turn_starts",
]

CHARS_PER_TOKEN = 4.0
"""The estimate before the provider has reported a count (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class HistoryContext:
    """What a history function may want to know beside the messages.

    Attributes:
        turn: the request about to be sent, from 1.
        usage: the usage the provider reported for the previous request, if any.
        sent: the messages the previous request sent (after the history function).
    """

    turn: int = 1
    usage: Usage | None = None
    sent: Sequence[Message] = field(default_factory=tuple)

    def tokens_per_char(self) -> float:
        """Tokens per character of JSON, as the previous request measured them, else the
        rule of thumb. The reported prompt also counts the tool definitions and the chat
        template, so the estimate errs high: a budget is then kept, not overrun."""
        prompt = self.usage.prompt_tokens if self.usage is not None else 0
        chars = sum(_chars(m) for m in self.sent)
        if prompt <= 0 or chars <= 0:
            return 1 / CHARS_PER_TOKEN
        return prompt / chars


History: TypeAlias = Callable[..., "list[Any] | Awaitable[list[Any]]"]
"""`history(messages)` or `history(messages, context)`, sync or async: the messages to send."""

Shape: TypeAlias = Callable[[list[Message], HistoryContext], Awaitable[list[Message]]]
"""A history function as the run calls it (see `history_hook`)."""


def history_hook(fn: History | None) -> Shape | None:
    """`fn`, checked now and made into one shape: a function that cannot be called with the
    messages (and a context) fails when the agent is made, not on its first request."""
    if fn is None:
        return None
    if not callable(fn):
        raise InvalidRequestError("history", f"expected a function, got {type(fn).__name__}")
    takes_context = _takes_two(fn)

    async def shape(messages: list[Message], context: HistoryContext) -> list[Message]:
        returned = fn(list(messages), context) if takes_context else fn(list(messages))
        if inspect.isawaitable(returned):
            returned = await returned
        return shaped(returned)

    return shape


def _takes_two(fn: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without one: called with the messages only
        return False
    try:
        signature.bind(None, None)
        return True
    except TypeError:
        pass
    try:
        signature.bind(None)
    except TypeError as exc:
        raise InvalidRequestError(
            "history", f"expected a function taking (messages) or (messages, context): {exc}"
        ) from exc
    return False


def shaped(returned: Any, by: str = "history") -> list[Message]:
    """What a history function (or the function `by` names) returned, as message structs,
    checked against the pairing rule; `InvalidRequestError` naming the fault otherwise."""
    if not isinstance(returned, list | tuple):
        raise InvalidRequestError(by, f"returned {type(returned).__name__}, not a list of messages")
    try:
        messages = [as_message(m) for m in checked_messages(returned)]
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{by}: {exc.field}", exc.reason) from None
    check_pairs(messages, by)
    return messages


def as_message(message: Any) -> Message:
    """One message of a list `checked_messages` passed, as the wire struct a transcript holds:
    a dict keeps every field (a saved transcript may hold what a provider wants back)."""
    if isinstance(message, ChatCompletionMessage):
        return message.to_param()
    if isinstance(message, msgspec.Struct):
        return message  # type: ignore[return-value]  # checked_messages allows only messages
    converted: Message = convert(message, Message)
    return converted


def check_pairs(messages: Sequence[Message], by: str = "history") -> None:
    """Raise `InvalidRequestError` unless every assistant message with tool calls is followed
    by one tool message per call, and every tool message follows the call it answers; `by`
    names the function whose list it is."""
    i = 0
    while i < len(messages):
        message = messages[i]
        if isinstance(message, ToolMessage):
            raise InvalidRequestError(
                f"{by}: messages[{i}]",
                f"the tool message answering {message.tool_call_id!r} does not follow the "
                "assistant message that made the call; drop a call's tool messages together "
                "with its assistant message, or keep them all",
            )
        if isinstance(message, AssistantMessage) and message.tool_calls:
            i = _end_of_answers(messages, i, message, by)
        else:
            i += 1


def _end_of_answers(
    messages: Sequence[Message], at: int, assistant: AssistantMessage, by: str
) -> int:
    """The index after the tool messages answering `assistant`'s calls, all of them."""
    calls = [call.id for call in assistant.tool_calls or ()]
    answered: set[str] = set()
    end = at + 1
    while end < len(messages) and isinstance(answer := messages[end], ToolMessage):
        if answer.tool_call_id not in calls or answer.tool_call_id in answered:
            what = "a second time" if answer.tool_call_id in answered else "which it did not make"
            raise InvalidRequestError(
                f"{by}: messages[{end}]",
                f"the tool message answers the call {answer.tool_call_id!r} {what}: the "
                f"assistant message at messages[{at}] made the calls {calls}",
            )
        answered.add(answer.tool_call_id)
        end += 1
    missing = [call for call in calls if call not in answered]
    if missing:
        raise InvalidRequestError(
            f"{by}: messages[{at}]",
            f"the assistant message calls {missing} with no tool message answering them "
            "right after it; keep an assistant message with all its tool messages, or drop "
            "them together",
        )
    return end


# ------------------------------------------------------------------------ the ready ones


def estimate_tokens(messages: Sequence[Message], context: HistoryContext | None = None) -> int:
    """The tokens `messages` are likely to take (see the module docstring for how)."""
    ratio = (context or HistoryContext()).tokens_per_char()
    return round(sum(_chars(m) for m in messages) * ratio)


def _chars(message: Message) -> int:
    return len(msgspec.json.encode(message))


def is_instruction(message: Message) -> bool:
    return isinstance(message, SystemMessage | DeveloperMessage)


def turn_starts(messages: Sequence[Message]) -> list[int]:
    """Where each turn of the model begins: an assistant message, with the user messages
    just before it that it answered. Cutting only there never parts a call from its
    answers, which follow the assistant message."""
    starts = []
    for i, message in enumerate(messages):
        if isinstance(message, AssistantMessage):
            start = i
            while start > 0 and isinstance(messages[start - 1], UserMessage):
                start -= 1
            starts.append(start)
    return starts


def _kept(messages: Sequence[Message], cut: int) -> list[Message]:
    """The messages from `cut` on, after the instructions and the latest user message that
    come before it: the model keeps its orders and the question it is working on."""
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=-1)
    head = [m for i, m in enumerate(messages[:cut]) if is_instruction(m) or i == last_user]
    return head + list(messages[cut:])


@dataclass(frozen=True, slots=True)
class _LastTurns:
    turns: int

    def __call__(self, messages: list[Message], context: HistoryContext) -> list[Message]:
        starts = turn_starts(messages)
        if len(starts) <= self.turns:
            return messages
        return _kept(messages, starts[-self.turns])


def keep_last_turns(turns: int) -> History:
    """A history function that sends the model's last `turns` answers (each with its tool
    calls and results, and the user messages it answered), the system and developer
    messages, the latest user message, and whatever follows the last answer.

    A turn is one answer of the model, as in `max_turns`: in a run that calls tools ten times
    for one question, `keep_last_turns(3)` sends the question and the last three rounds.
    """
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise InvalidRequestError("keep_last_turns", f"expected an int >= 1, got {turns!r}")
    return _LastTurns(turns)


@dataclass(frozen=True, slots=True)
class _WithinTokens:
    limit: int

    def __call__(self, messages: list[Message], context: HistoryContext) -> list[Message]:
        # The oldest turns go first; the last one always stays, even alone over the limit
        # (a request of the instructions and a question alone says nothing to the model).
        kept = messages
        for cut in turn_starts(messages)[1:]:
            if estimate_tokens(kept, context) <= self.limit:
                break
            kept = _kept(messages, cut)
        return kept


def keep_within_tokens(limit: int) -> History:
    """A history function that drops the oldest turns until the estimate of what is sent is
    at most `limit` tokens. The system and developer messages, the latest user message and
    the last turn are always sent, so a request may still be over the limit.

    The estimate is four characters of JSON a token until the provider has reported a count,
    then that count's ratio (see the module docstring): give a limit with room to spare.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequestError("keep_within_tokens", f"expected an int >= 1, got {limit!r}")
    return _WithinTokens(limit)
