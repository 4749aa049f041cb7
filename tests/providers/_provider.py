"""Provider-faithful fakes: a real server on 127.0.0.1 that answers as one provider does.

A `ProviderModel` plays a provider's recorded answers, field for field: the JSON body of a
plain request and the chunks of a streamed one, taken from the provider's documentation or a
public recording. Before it answers a request it applies the provider's *rules*, the checks
the real service makes on what a client sends back (Gemini 3 wants its thought signatures,
DeepSeek its `reasoning_content`, Mistral nine-character tool call ids...). A request that
breaks a rule gets the provider's own status and error body instead of an answer, so an agent
run that drops what the provider needs fails the way it fails in production.

It is a `Model` for `asynctool.testing.ModelServer`: the server records every request (the
assertions are on what the provider received) and checks the body the way OpenAI does before
the provider's rules run. `ModelServer` has no turn for "this exact body, streamed or not,
depending on the request", so each answer becomes a `RawResponse` here: the whole body in one
write, an event stream for a streamed request and JSON otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import msgspec

from asynctool import Agent, ChatCompletion, RunCompleted, RunResult, tool
from asynctool.testing import ModelServer, RawResponse, RecordedRequest

JSON: TypeAlias = dict[str, Any]
Rule: TypeAlias = Callable[["ProviderModel", RecordedRequest], RawResponse | None]
"""A provider's check of a request: `None` when it passes, else the provider's error answer."""

SSE_CONTENT_TYPE = "text/event-stream"
API_KEY = "sk-provider-fake"  # the fake's key; never a real one


@dataclass(frozen=True)
class Answer:
    """One answer of a provider, in both of the forms it sends it.

    Attributes:
        completion: the `chat.completion` body of a plain request.
        chunks: the events of a streamed request: a dict is sent as a `data:` JSON event, a
            string as it is (comments, raw `data:` lines, leading whitespace).
        done: end the stream with `data: [DONE]`, as most providers do.
        body_prefix: bytes sent before the JSON of a plain answer (OpenRouter sends
            whitespace while the model works).
    """

    completion: JSON
    chunks: Sequence[JSON | str] = ()
    done: bool = True
    body_prefix: bytes = b""

    @property
    def message(self) -> JSON:
        """The assistant message of the first choice, as the provider means it."""
        message: JSON = self.completion["choices"][0]["message"]
        return message

    def response(self, stream: bool) -> RawResponse:
        """This answer as the provider sends it to a streamed or a plain request."""
        if not stream:
            body = self.body_prefix + msgspec.json.encode(self.completion)
            return RawResponse(status=200, body=body, content_type="application/json")
        return RawResponse(
            status=200, body=sse(self.chunks, done=self.done), content_type=SSE_CONTENT_TYPE
        )


def sse(events: Sequence[JSON | str], *, done: bool = True) -> bytes:
    """An event stream: dicts become `data:` JSON events, strings are sent as they are."""
    out = []
    for event in events:
        if isinstance(event, str):
            out.append(event.encode())
        else:
            out.append(b"data: " + msgspec.json.encode(event) + b"\n\n")
    if done:
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def reject(status: int, body: Any) -> RawResponse:
    """A provider's error answer: `body` (an object, a list, a string) as JSON."""
    return RawResponse(status=status, body=msgspec.json.encode(body))


class ProviderModel:
    """A provider: its recorded answers in order, and the rules it applies to each request.

    Attributes:
        answers: what it answers, one per accepted request.
        rules: its checks, in order; the first broken one answers instead.
        served: how many answers went out.
        rejections: the error answers it gave, in order.
    """

    def __init__(self, answers: Sequence[Answer], rules: Sequence[Rule] = ()) -> None:
        self.answers = list(answers)
        self.rules = list(rules)
        self.served = 0
        self.rejections: list[RawResponse] = []

    def respond(self, request: RecordedRequest) -> RawResponse:
        for rule in self.rules:
            rejection = rule(self, request)
            if rejection is not None:
                self.rejections.append(rejection)
                return rejection
        if self.served >= len(self.answers):
            return reject(500, {"error": {"message": "the fake has no answer left"}})
        answer = self.answers[self.served]
        self.served += 1
        return answer.response(request.stream)

    @property
    def issued(self) -> list[JSON]:
        """The assistant messages it answered with so far, as it meant them."""
        return [answer.message for answer in self.answers[: self.served]]

    def issued_calls(self) -> dict[str, tuple[JSON, JSON]]:
        """Every tool call it issued, by id: the call, and the message that carried it."""
        calls: dict[str, tuple[JSON, JSON]] = {}
        for message in self.issued:
            for call in message.get("tool_calls") or ():
                calls[call["id"]] = (call, message)
        return calls


@dataclass
class Fake:
    """A running provider fake and a client pointed at it."""

    server: ModelServer
    client: Any  # asynctool.AsyncClient
    model: ProviderModel
    calls: list[str] = field(default_factory=list)  # the locations `get_weather` ran for

    @property
    def bodies(self) -> list[JSON]:
        """The JSON body of every request the provider received, in order."""
        return [request.json for request in self.server.requests]

    def followup(self, n: int = 1) -> JSON:
        """The body of the n-th request after the first."""
        return self.bodies[n]

    def weather_agent(self, model: str, **options: Any) -> Agent[str | None]:
        """An agent with one tool, `get_weather`, whose calls are logged in `calls`."""
        return Agent(self.client, model=model, tools=[self.weather_tool()], **options)

    def weather_tool(self) -> Any:
        calls = self.calls

        @tool
        async def get_weather(location: str) -> str:
            """Get the current weather in a given location.

            Args:
                location: The city, e.g. Florence, Italy.
            """
            calls.append(location)
            return f"18 C and clear in {location}"

        return get_weather


StartFake = Callable[..., Awaitable[Fake]]


async def complete(client: Any, *, stream: bool, **request: Any) -> ChatCompletion:
    """One request, plain or streamed; a stream is read to its final completion."""
    if not stream:
        completion: ChatCompletion = await client.chat.completions.create(**request)
        return completion
    async with client.chat.completions.stream(**request) as chat_stream:
        async for _ in chat_stream:
            pass
        final: ChatCompletion = await chat_stream.get_final_completion()
        return final


async def run_agent(agent: Agent[Any], prompt: Any, *, stream: bool) -> RunResult[Any]:
    """`agent.run`, or `agent.run_stream` read to its end, for the same input."""
    if not stream:
        return await agent.run(prompt)
    async with agent.run_stream(prompt) as events:
        async for event in events:
            if isinstance(event, RunCompleted):
                return event.result
    raise AssertionError("run_stream ended without RunCompleted")


# --------------------------------------------------------------------------- reading requests


def assistant_messages(body: Mapping[str, Any]) -> list[JSON]:
    """The assistant messages of a request body, in order."""
    return [m for m in body.get("messages", []) if m.get("role") == "assistant"]


def tool_messages(body: Mapping[str, Any]) -> list[JSON]:
    """The tool messages of a request body, in order."""
    return [m for m in body.get("messages", []) if m.get("role") == "tool"]


def calls_of(body: Mapping[str, Any]) -> list[JSON]:
    """Every tool call of every assistant message of a request body, in order."""
    return [c for m in assistant_messages(body) for c in m.get("tool_calls") or ()]


def same_call(sent: Mapping[str, Any], issued: Mapping[str, Any], *extra: str) -> bool:
    """Whether a call sent back is the one issued: id, type, function, and `extra` keys.

    `index` and other streaming bookkeeping are not compared: a provider sends it on some
    answers and not others, and no provider asks for it back.
    """
    keys = ("id", "type", "function", *extra)
    return all(sent.get(key) == issued.get(key) for key in keys)


def sent_message_for(body: Mapping[str, Any], call_id: str) -> JSON | None:
    """The assistant message of a request that carries the tool call `call_id`."""
    for message in assistant_messages(body):
        if any(c.get("id") == call_id for c in message.get("tool_calls") or ()):
            return message
    return None
