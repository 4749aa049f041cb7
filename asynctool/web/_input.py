"""The other direction: the conversation a front end posts, as the chat messages a run takes.

`useChat` posts `{"messages": [UIMessage...]}`: each message a role and its parts (text, files,
`step-start`, and per tool call a `tool-<name>` or `dynamic-tool` part with its `state`, `input`
and `output` or `errorText`; vercel/ai packages/ai/src/ui/ui-messages.ts). An assistant
message is a whole run: each step (the parts after a `step-start`) was one model request, so
it becomes one assistant message, with the step's answered calls as `tool_calls`, and a tool
message per call, as the SDK's own `convertToModelMessages` reads them. A call without an
outcome (still streaming, awaiting approval) is left out, so every call in the transcript is
answered.

An AG-UI client posts a `RunAgentInput` whose `messages` are already shaped like the API's:
`toolCalls` and `toolCallId` in camelCase, a user's content a string or a list of parts
(https://docs.ag-ui.com/concepts/messages). Its `reasoning` and `activity` messages are the
page's record of the run, not the model's input, and are left out.

Both keep text and images (by URL or data URL); other media are left out. A message that is
not of the format's shape raises `InvalidRequestError` naming where (`messages[2].parts`),
before anything is sent, so a handler can answer 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from .._exceptions import InvalidRequestError

__all__ = ["agui_messages_to_chat", "ui_messages_to_chat"]

_OUTCOMES = {"output-available", "output-error"}  # the states of a call that has its result


def ui_messages_to_chat(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`useChat`'s UIMessages (the `messages` it posts) as chat messages for a run.

    Raises:
        InvalidRequestError: a message or part is not of the UIMessage shape.
    """
    chat: list[dict[str, Any]] = []
    for i, message in enumerate(_sequence(messages, "messages")):
        where = f"messages[{i}]"
        role = _field(message, "role", where)
        parts = _sequence(_field(message, "parts", where), f"{where}.parts")
        for j, part in enumerate(parts):
            _field(part, "type", f"{where}.parts[{j}]")
        if role == "assistant":
            chat += _steps(parts, where)
        elif role in ("user", "system"):
            content = _content(parts)
            if content:
                chat.append({"role": role, "content": content})
        else:
            raise InvalidRequestError(
                f"{where}.role", f"expected user, assistant or system, got {role!r}"
            )
    return chat


def _steps(parts: Sequence[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    steps: list[list[Mapping[str, Any]]] = [[]]
    for part in parts:
        if part["type"] == "step-start":
            steps.append([])
        else:
            steps[-1].append(part)
    chat: list[dict[str, Any]] = []
    for step in steps:
        text = "".join(p.get("text", "") for p in step if p["type"] == "text")
        calls = [p for p in step if _is_tool(p) and p.get("state") in _OUTCOMES]
        if not (text or calls):
            continue
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [_call(p, where) for p in calls]
        chat.append(message)
        chat += [_result(p) for p in calls]
    return chat


def _is_tool(part: Mapping[str, Any]) -> bool:
    kind: str = part["type"]
    return kind.startswith("tool-") or kind == "dynamic-tool"


def _call(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = part["type"]
    name = part.get("toolName") if kind == "dynamic-tool" else kind.removeprefix("tool-")
    call_id = part.get("toolCallId")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise InvalidRequestError(f"{where}.parts", f"a {kind} part needs a toolCallId and a name")
    arguments = msgspec.json.encode(part.get("input", {})).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _result(part: Mapping[str, Any]) -> dict[str, Any]:
    if part["state"] == "output-error":
        content = str(part.get("errorText", ""))
    else:
        output = part.get("output")
        content = output if isinstance(output, str) else msgspec.json.encode(output).decode()
    return {"role": "tool", "tool_call_id": part["toolCallId"], "content": content}


def _content(parts: Sequence[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
    """A user's or system's parts: their text, or text and image parts when there are images."""
    images = [
        {"type": "image_url", "image_url": {"url": p["url"]}}
        for p in parts
        if p["type"] == "file" and str(p.get("mediaType", "")).startswith("image/") and "url" in p
    ]
    text = "".join(str(p.get("text", "")) for p in parts if p["type"] == "text")
    if not images:
        return text
    return [{"type": "text", "text": text}, *images] if text else images


def agui_messages_to_chat(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """AG-UI's messages (a `RunAgentInput`'s `messages`) as chat messages for a run.

    Raises:
        InvalidRequestError: a message is not of AG-UI's shape.
    """
    chat: list[dict[str, Any]] = []
    for i, message in enumerate(_sequence(messages, "messages")):
        where = f"messages[{i}]"
        role = _field(message, "role", where)
        if role == "tool":
            call_id = _field(message, "toolCallId", where)
            chat.append(
                {"role": "tool", "tool_call_id": call_id, "content": message.get("content", "")}
            )
        elif role == "assistant":
            assistant = _agui_assistant(message, where)
            if assistant["content"] or "tool_calls" in assistant:  # an empty one says nothing
                chat.append(assistant)
        elif role in ("user", "system", "developer"):
            chat.append({"role": role, "content": _agui_content(message.get("content", ""), where)})
        elif role not in ("reasoning", "activity"):
            raise InvalidRequestError(f"{where}.role", f"not a role of AG-UI's messages: {role!r}")
    return chat


def _agui_assistant(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    calls = message.get("toolCalls")
    if calls:
        out["tool_calls"] = [
            _agui_call(call, f"{where}.toolCalls[{k}]")
            for k, call in enumerate(_sequence(calls, f"{where}.toolCalls"))
        ]
    return out


def _agui_call(call: Any, where: str) -> dict[str, Any]:
    function = _field(call, "function", where)
    name, arguments = _field(function, "name", where), _field(function, "arguments", where)
    return {"id": _field(call, "id", where), "type": "function",
            "function": {"name": name, "arguments": arguments}}  # fmt: skip


def _agui_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for k, part in enumerate(_sequence(content, f"{where}.content")):
        kind = _field(part, "type", f"{where}.content[{k}]")
        if kind == "text":
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image" and isinstance(source := part.get("source"), Mapping):
            url = _image_url(source)
            if url:
                parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def _image_url(source: Mapping[str, Any]) -> str | None:
    """An image part's source as a URL the API takes: a URL, or its data as a data URL."""
    if source.get("type") == "url":
        return str(source.get("value", ""))
    if source.get("type") == "data":
        return f"data:{source.get('mimeType', 'image/png')};base64,{source.get('value', '')}"
    return None  # a provider's file handle: only that provider can resolve it


def _sequence(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvalidRequestError(where, f"expected a list, got {type(value).__name__}")
    return value


def _field(message: Any, name: str, where: str) -> Any:
    if not isinstance(message, Mapping):
        raise InvalidRequestError(where, f"expected an object, got {type(message).__name__}")
    if name not in message:
        raise InvalidRequestError(f"{where}.{name}", "missing")
    return message[name]
