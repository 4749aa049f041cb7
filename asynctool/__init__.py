"""asynctool: an asyncio-native client for OpenAI-compatible chat completions with tools.

The client, its types and its errors are imported with the package. The tool and agent stack
(signature introspection, docstring parsing, JSON Schema generation, anyio) is imported on first
use of one of its names, so a program that only sends requests never pays for it.
"""

import typing as _typing

from ._client import AsyncClient as AsyncClient
from ._exceptions import AgentError as AgentError
from ._exceptions import APIConnectionError as APIConnectionError
from ._exceptions import APIError as APIError
from ._exceptions import APIResponseValidationError as APIResponseValidationError
from ._exceptions import APIStatusError as APIStatusError
from ._exceptions import APITimeoutError as APITimeoutError
from ._exceptions import AsyncToolError as AsyncToolError
from ._exceptions import AuthenticationError as AuthenticationError
from ._exceptions import BadRequestError as BadRequestError
from ._exceptions import BudgetExceeded as BudgetExceeded
from ._exceptions import ConflictError as ConflictError
from ._exceptions import ContentFilterFinishReasonError as ContentFilterFinishReasonError
from ._exceptions import FinishReasonError as FinishReasonError
from ._exceptions import IncompleteStreamError as IncompleteStreamError
from ._exceptions import InternalServerError as InternalServerError
from ._exceptions import InvalidRequestError as InvalidRequestError
from ._exceptions import LengthFinishReasonError as LengthFinishReasonError
from ._exceptions import MaxTurnsExceeded as MaxTurnsExceeded
from ._exceptions import NotFoundError as NotFoundError
from ._exceptions import OutputError as OutputError
from ._exceptions import OutputValidationError as OutputValidationError
from ._exceptions import PermissionDeniedError as PermissionDeniedError
from ._exceptions import RateLimitError as RateLimitError
from ._exceptions import RefusalError as RefusalError
from ._exceptions import RequestBudgetExceeded as RequestBudgetExceeded
from ._exceptions import SchemaError as SchemaError
from ._exceptions import StreamDecodeError as StreamDecodeError
from ._exceptions import TimeBudgetExceeded as TimeBudgetExceeded
from ._exceptions import TokenBudgetExceeded as TokenBudgetExceeded
from ._exceptions import ToolArgumentsError as ToolArgumentsError
from ._exceptions import ToolCallLimitExceeded as ToolCallLimitExceeded
from ._exceptions import ToolCallsTruncatedError as ToolCallsTruncatedError
from ._exceptions import ToolDefinitionError as ToolDefinitionError
from ._exceptions import ToolError as ToolError
from ._exceptions import ToolErrorLimitExceeded as ToolErrorLimitExceeded
from ._exceptions import ToolTimeoutError as ToolTimeoutError
from ._exceptions import UnknownToolError as UnknownToolError
from ._exceptions import UnprocessableEntityError as UnprocessableEntityError
from ._stream import ChatStream as ChatStream
from ._stream import ChatStreamManager as ChatStreamManager
from ._stream import ParsedChatStream as ParsedChatStream
from ._transport import Timeout as Timeout
from ._types import AssistantMessage as AssistantMessage
from ._types import AudioContentPart as AudioContentPart
from ._types import ChatCompletion as ChatCompletion
from ._types import ChatCompletionAudio as ChatCompletionAudio
from ._types import ChatCompletionChunk as ChatCompletionChunk
from ._types import ChatCompletionMessage as ChatCompletionMessage
from ._types import ChatCompletionTool as ChatCompletionTool
from ._types import Choice as Choice
from ._types import ChoiceDelta as ChoiceDelta
from ._types import ChoiceDeltaToolCall as ChoiceDeltaToolCall
from ._types import ChoiceDeltaToolCallFunction as ChoiceDeltaToolCallFunction
from ._types import ChoiceLogprobs as ChoiceLogprobs
from ._types import ChunkChoice as ChunkChoice
from ._types import CompletionTokensDetails as CompletionTokensDetails
from ._types import ContentFilterResult as ContentFilterResult
from ._types import ContentPart as ContentPart
from ._types import CustomCall as CustomCall
from ._types import DeveloperMessage as DeveloperMessage
from ._types import FileContentPart as FileContentPart
from ._types import FunctionCall as FunctionCall
from ._types import FunctionDefinition as FunctionDefinition
from ._types import ImageContentPart as ImageContentPart
from ._types import ImageURL as ImageURL
from ._types import InputAudio as InputAudio
from ._types import InputFile as InputFile
from ._types import Message as Message
from ._types import ParsedChatCompletion as ParsedChatCompletion
from ._types import ParsedChatCompletionMessage as ParsedChatCompletionMessage
from ._types import ParsedChoice as ParsedChoice
from ._types import ParsedFunctionCall as ParsedFunctionCall
from ._types import ParsedToolCall as ParsedToolCall
from ._types import PromptFilterResult as PromptFilterResult
from ._types import PromptTokensDetails as PromptTokensDetails
from ._types import RefusalContentPart as RefusalContentPart
from ._types import SystemMessage as SystemMessage
from ._types import TextContentPart as TextContentPart
from ._types import TokenLogprob as TokenLogprob
from ._types import ToolCall as ToolCall
from ._types import ToolMessage as ToolMessage
from ._types import TopLogprob as TopLogprob
from ._types import URLCitation as URLCitation
from ._types import Usage as Usage
from ._types import UserMessage as UserMessage
from ._version import __version__ as __version__

if _typing.TYPE_CHECKING:
    from ._agent import Agent as Agent
    from ._agent import AgentOptions as AgentOptions
    from ._agent import AgentStream as AgentStream
    from ._docstrings import DocstringWarning as DocstringWarning
    from ._events import AgentEvent as AgentEvent
    from ._events import ReasoningDelta as ReasoningDelta
    from ._events import RunCompleted as RunCompleted
    from ._events import RunResult as RunResult
    from ._events import TextDelta as TextDelta
    from ._events import ToolCallArgumentsDelta as ToolCallArgumentsDelta
    from ._events import ToolCallReady as ToolCallReady
    from ._events import ToolCallStarted as ToolCallStarted
    from ._events import ToolResult as ToolResult
    from ._events import TurnCompleted as TurnCompleted
    from ._execute import Deny as Deny
    from ._execute import Rewrite as Rewrite
    from ._history import HistoryContext as HistoryContext
    from ._history import keep_last_turns as keep_last_turns
    from ._history import keep_within_tokens as keep_within_tokens
    from ._overflow import is_context_overflow as is_context_overflow
    from ._overflow import summarize_oldest as summarize_oldest
    from ._pause import Answer as Answer
    from ._pause import Approve as Approve
    from ._pause import Defer as Defer
    from ._pause import PausedRun as PausedRun
    from ._pause import PendingCall as PendingCall
    from ._tools import Tool as Tool
    from ._tools import ToolContext as ToolContext
    from ._tools import ToolRegistry as ToolRegistry
    from ._tools import tool as tool

# Imported on first use (PEP 562): each name and the module that defines it.
_LAZY = {
    "Agent": "_agent",
    "AgentOptions": "_agent",
    "AgentStream": "_agent",
    "DocstringWarning": "_docstrings",
    "AgentEvent": "_events",
    "RunCompleted": "_events",
    "RunResult": "_events",
    "ReasoningDelta": "_events",
    "TextDelta": "_events",
    "ToolCallArgumentsDelta": "_events",
    "ToolCallReady": "_events",
    "ToolCallStarted": "_events",
    "ToolResult": "_events",
    "TurnCompleted": "_events",
    "Deny": "_execute",
    "Rewrite": "_execute",
    "HistoryContext": "_history",
    "keep_last_turns": "_history",
    "keep_within_tokens": "_history",
    "is_context_overflow": "_overflow",
    "summarize_oldest": "_overflow",
    "Answer": "_pause",
    "Approve": "_pause",
    "Defer": "_pause",
    "PausedRun": "_pause",
    "PendingCall": "_pause",
    "Tool": "_tools",
    "ToolContext": "_tools",
    "ToolRegistry": "_tools",
    "tool": "_tools",
}

# Every public name once: the eager ones are the imports above, the lazy ones `_LAZY`'s keys.
# (The TYPE_CHECKING imports repeat the lazy ones for type checkers, which cannot run this.)
__all__ = sorted([*(name for name in globals() if not name.startswith("_")), *_LAZY])


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
