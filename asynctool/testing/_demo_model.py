"""`DemoModel`: a deterministic local planner that answers like a tool-calling model.

No network, no weights. For a request with tools it scores each tool against the user's
latest message (stems of the message against stems of the tool's name, parameter names and
description, plus a point per required argument the message supplies by shape), calls every
tool that scores enough (one call per place when one place parameter gets several), and once
tool results follow the last user message, answers by quoting them. Every text answer says it
comes from a local stand-in. The same request always gets the same answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec

from ._arguments import Filled, fill_arguments, placeholder
from ._extract import Candidates, find_candidates, stems, words
from ._request import RecordedRequest, text_of
from ._turns import Call, Reply
from ._wire import estimate_tokens

__all__ = ["NOTICE", "DemoModel"]

NOTICE = "(Answered by asynctool's DemoModel, a deterministic local stand-in, not an LLM.)"
_PIECE = re.compile(r"\s*\S+|\s+")
_LOWER_WORD = re.compile(r"(?<![A-Za-z])[a-z]+(?![A-Za-z])")
_QUOTE_LIMIT = 300
_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class _Scored:
    """A tool with its match score and where the message first mentions it."""

    function: dict[str, Any]
    score: int
    position: int
    filled: Filled


class DemoModel:
    """A deterministic stand-in for a tool-calling model; needs no network and no weights.

    Example:
        ```python
        async with ModelServer(DemoModel()) as server:
            ...  # "What's the weather in Boston?" + a get_weather tool
                 # -> get_weather({"location": "Boston"}); after the tool message,
                 # an answer quoting its result.
        ```

    It honours `tool_choice` (`none`, `auto`, `required`, a forced function),
    `parallel_tool_calls: false`, `max_tokens` / `max_completion_tokens` (cutting the text,
    with `finish_reason: "length"`), and the server honours `stream` and `n`.

    Args:
        threshold: the score a tool needs to be called; a word of its name counts 3, of a
            parameter name 2, of its description 1, and each required argument found 1.
        max_calls: the most tool calls in one turn.
    """

    def __init__(self, *, threshold: int = 3, max_calls: int = 8) -> None:
        self.threshold = threshold
        self.max_calls = max_calls
        # Answers are a function of the body, and benchmarks send the same bodies again.
        self._answers: dict[bytes, Reply] = {}

    def __repr__(self) -> str:
        return f"DemoModel(threshold={self.threshold}, max_calls={self.max_calls})"

    def respond(self, request: RecordedRequest) -> Reply:
        """Plan tool calls for the latest user message, or answer in text."""
        key = request.raw_body
        reply = self._answers.get(key) if key else None
        if reply is None:
            reply = self._respond(request)
            if key:
                if len(self._answers) >= _CACHE_SIZE:
                    del self._answers[next(iter(self._answers))]
                self._answers[key] = reply
        return reply

    def _respond(self, request: RecordedRequest) -> Reply:
        messages = request.messages
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        user_text = text_of(messages[last_user].get("content")) if last_user >= 0 else ""
        after = messages[last_user + 1 :]
        choice = request.json.get("tool_choice")
        forced = choice == "required" or isinstance(choice, dict)
        schema = _response_schema(request.json)
        if any(m.get("role") == "tool" for m in after) and not forced:
            if schema is not None:
                return _structured(schema, " ".join([user_text, *map(_content, after)]))
            return self._text(_results_answer(after), request)
        functions = _functions(request.tools) if choice != "none" else []
        if not functions:
            if schema is not None:
                return _structured(schema, user_text)
            return self._text(_plain_answer(user_text, request.tools, choice), request)
        parallel = request.json.get("parallel_tool_calls") is not False
        calls, missing = self._plan(user_text, functions, choice, parallel)
        if not calls:
            return self._text(_missing_answer(missing) or _no_match(user_text, functions), request)
        salt = f"{len(messages)}|{request.model}"
        return Reply(tool_calls=tuple(_with_id(c, salt, k) for k, c in enumerate(calls)))

    def _plan(
        self, text: str, functions: list[dict[str, Any]], choice: Any, parallel: bool
    ) -> tuple[list[Call], list[tuple[str, list[str]]]]:
        """The calls to make, and the tools left out for want of required arguments."""
        found = find_candidates(text, _vocabulary(functions))
        forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        placeholders = forced is not None or choice == "required"
        query = stems(text)
        scored = [_score(f, query, found, placeholders) for f in functions]
        if forced is not None:
            chosen = [s for s in scored if s.function.get("name") == forced][:1]
        else:
            chosen = [s for s in scored if s.score >= self.threshold]
            if not chosen and choice == "required":
                chosen = [max(scored, key=lambda s: s.score)]
        if not parallel:
            chosen = sorted(chosen, key=lambda s: -s.score)[:1]
        chosen.sort(key=lambda s: s.position)
        calls: list[Call] = []
        missing: list[tuple[str, list[str]]] = []
        for item in chosen:
            name = str(item.function.get("name"))
            if item.filled.missing and not placeholders:
                missing.append((name, item.filled.missing))
                continue
            calls.extend(_calls(name, item.filled, parallel))
        return calls[: self.max_calls], missing

    def _text(self, content: str, request: RecordedRequest) -> Reply:
        """A text reply, cut to the request's token limit like a real model would."""
        body = request.json
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if not isinstance(limit, int) or limit <= 0:
            return Reply(content=content)
        kept: list[str] = []
        total = 0
        for piece in _PIECE.findall(content):
            total += estimate_tokens(piece)
            if total > limit:
                return Reply(content="".join(kept), finish_reason="length")
            kept.append(piece)
        return Reply(content=content)


def _response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a `json_schema` response format, if the request asks for one."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _structured(schema: dict[str, Any], text: str) -> Reply:
    """A JSON answer to a response format, its values read from `text` like tool arguments.

    Strict mode wants every property, so one not found is null where the schema allows it,
    else a placeholder of its type.
    """
    filled = fill_arguments(schema, find_candidates(text), placeholders=False)
    answer = dict(filled.arguments)
    for name, prop in (schema.get("properties") or {}).items():
        if name not in answer and isinstance(prop, dict):
            answer[name] = None if _allows_null(prop) else placeholder(prop)
    return Reply(content=_json(answer))


def _allows_null(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf") or []
    return schema.get("type") == "null" or any(
        isinstance(o, dict) and o.get("type") == "null" for o in options
    )


def _content(message: dict[str, Any]) -> str:
    return text_of(message.get("content"))


def _functions(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    functions = [t.get("function") for t in tools if isinstance(t, dict)]
    return [f for f in functions if isinstance(f, dict) and isinstance(f.get("name"), str)]


def _vocabulary(functions: list[dict[str, Any]]) -> frozenset[str]:
    """Words the tool definitions use in lower case: common words, not names of places."""
    texts = " ".join(str(f.get("description", "")) for f in functions)
    return _lower_words(texts, " ".join(str(f.get("name", "")) for f in functions))


@lru_cache(maxsize=256)
def _lower_words(descriptions: str, names: str) -> frozenset[str]:
    return frozenset(_LOWER_WORD.findall(descriptions)) | frozenset(words(names))


def _terms(function: dict[str, Any]) -> dict[str, int]:
    """Stems that point at a tool, weighted: name 3, parameter names 2, descriptions 1."""
    parameters = function.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    names = " ".join(properties) if isinstance(properties, dict) else ""
    return _weights(str(function.get("name", "")), names, str(function.get("description", "")))


@lru_cache(maxsize=1024)  # the same tools come back with every request of a conversation
def _weights(name: str, parameter_names: str, description: str) -> dict[str, int]:
    weights: dict[str, int] = {}
    for text, weight in ((description, 1), (parameter_names, 2), (name, 3)):
        for term in stems(text):
            weights[term] = max(weight, weights.get(term, 0))
    return weights


def _score(
    function: dict[str, Any], query: tuple[str, ...], found: Candidates, placeholders: bool
) -> _Scored:
    terms = _terms(function)
    hits = {term for term in query if term in terms}
    filled = fill_arguments(function.get("parameters"), found, placeholders=placeholders)
    position = min((i for i, term in enumerate(query) if term in hits), default=len(query))
    score = sum(terms[t] for t in hits) + filled.evidence
    return _Scored(function=function, score=score, position=position, filled=filled)


def _calls(name: str, filled: Filled, parallel: bool) -> list[Call]:
    """One call, or one per extra value of the only required parameter."""
    first = Call(name=name, arguments=_json(filled.arguments))
    if not parallel:
        return [first]
    extra = [
        Call(name=name, arguments=_json({**filled.arguments, filled.varies: value}))
        for value in filled.alternatives
    ]
    return [first, *extra]


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _with_id(call: Call, salt: str, index: int) -> Call:
    digest = hashlib.blake2b(
        f"{salt}|{index}|{call.name}|{call.arguments}".encode(), digest_size=12
    )
    return Call(name=call.name, arguments=call.arguments, id=f"call_{digest.hexdigest()}")


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f'"{text[:_QUOTE_LIMIT]}…"' if len(text) > _QUOTE_LIMIT else f'"{text}"'


def _describe_call(function: Any) -> str:
    if not isinstance(function, dict):
        return "a tool"
    try:
        arguments = msgspec.json.decode(str(function.get("arguments") or "{}"))
    except msgspec.DecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        return f"{function.get('name')}({function.get('arguments')})"
    shown = ", ".join(f"{k}={_json(v)}" for k, v in arguments.items())
    return f"{function.get('name')}({shown})"


def _results_answer(after: list[dict[str, Any]]) -> str:
    """An answer quoting every tool result that came after the last user message."""
    calls = {
        call.get("id"): call.get("function")
        for message in after
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict)
    }
    lines = [
        f"- {_describe_call(calls.get(m.get('tool_call_id')))} returned "
        f"{_quote(text_of(m.get('content')))}"
        for m in after
        if m.get("role") == "tool"
    ]
    return "Here is what the tools returned:\n" + "\n".join(lines) + "\n\n" + NOTICE


def _plain_answer(text: str, tools: list[dict[str, Any]], choice: Any) -> str:
    if tools and choice == "none":
        lead = 'Tools are off for this request (tool_choice is "none"), so I answer directly.'
    else:
        lead = "No tools were offered, so I have nothing to look up."
    return f"{lead} You said: {_quote(text)} {NOTICE}"


def _no_match(text: str, functions: list[dict[str, Any]]) -> str:
    names = ", ".join(str(f.get("name")) for f in functions)
    return (
        f"None of the tools I have ({names}) fits {_quote(text)}, so I answer without them. "
        + NOTICE
    )


def _missing_answer(missing: list[tuple[str, list[str]]]) -> str | None:
    if not missing:
        return None
    name, params = missing[0]
    needed = " and ".join(params)
    return f"To call {name} I need the {needed}. Could you tell me the {needed}? {NOTICE}"
