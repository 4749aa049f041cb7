"""A local OpenAI-compatible server that is never the bottleneck.

It runs in its own process (`python -m benchmarks.server --sizes JSON`, started by
`benchmarks.processes.running_server`), builds every scenario's
complete HTTP response once at start-up, and answers a request with one `transport.write` of
those bytes: no JSON encoding, no per-chunk writes, no framework, so its CPU cost per request is
a dictionary lookup. The scenario is the first path segment of the base URL
(`http://127.0.0.1:PORT/text_stream/v1`), so clients need nothing unusual in their requests.
Only the agent scenarios read the body, to know which turn they are answering.

The latency scenario is the exception to "one write": it plays a script in time, each write
of the tool-call turn at its moment (`loop.call_at`, measured from the request's arrival), and
records what every request of a run carried (the run's key is the second path segment:
`/agent_latency/KEY/v1`), so that `GET /_received/KEY` shows the runner whether the client
really sent back the result of every call.

Streams are sent with `Transfer-Encoding: chunked` like real providers, in HTTP chunks of
`HTTP_CHUNK` bytes that cut events at arbitrary points, so clients must buffer as they would on
a real network. `GET /_stats` returns the server's own CPU time, which the runner records to show
the server stayed idle enough.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import msgspec

from benchmarks import scenarios
from benchmarks.scenarios import Sizes

HTTP_CHUNK = 16 * 1024
# Well above the 200 simultaneous connects of the concurrency scenario: a short accept queue
# would drop SYNs and make clients time out for reasons of the server's.
BACKLOG = 2048
_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)

# A whole response, or (seconds after the request arrived, bytes) writes of a scripted one.
Response: TypeAlias = bytes | list[tuple[float, bytes]]


@dataclass
class _Request:
    target: str
    body: bytes
    close: bool
    arrived: float = field(default_factory=time.monotonic)


Responder = Callable[[_Request], Response]


class _Role(msgspec.Struct):
    role: str


class _AgentRequest(msgspec.Struct):
    messages: list[_Role]
    stream: bool = False


_agent_request = msgspec.json.Decoder(_AgentRequest)


# --------------------------------------------------------------------------- HTTP framing


def stream_response(body: bytes) -> bytes:
    """A complete `text/event-stream` response, chunk-encoded."""
    head = _head("text/event-stream; charset=utf-8", ["Transfer-Encoding: chunked"])
    parts = [head]
    for start in range(0, len(body), HTTP_CHUNK):
        piece = body[start : start + HTTP_CHUNK]
        parts += [b"%x\r\n" % len(piece), piece, b"\r\n"]
    return b"".join([*parts, b"0\r\n\r\n"])


def json_response(body: bytes, status: str = "200 OK") -> bytes:
    """A complete `application/json` response."""
    head = _head("application/json", [f"Content-Length: {len(body)}"], status)
    return head + body


def _head(content_type: str, extra: list[str], status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", *extra]
    lines += ["x-request-id: req_benchmark", "openai-processing-ms: 1"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --------------------------------------------------------------------------- routes


def build_routes(sizes: Sizes, received: dict[str, list[dict[str, Any]]]) -> dict[str, Responder]:
    """Every scenario's responder, with its bytes built now; the latency scenario's record
    what they were sent in `received`."""
    streams = {
        "text_stream": scenarios.text_chunks(sizes.text_chunks),
        "tool_call_stream": scenarios.tool_call_chunks(1, sizes.tool_fragments),
        "parallel_tool_calls": scenarios.tool_call_chunks(
            sizes.parallel_calls, sizes.parallel_fragments
        ),
        "concurrent_streams": scenarios.text_chunks(sizes.concurrent_chunks),
        scenarios.WARM_STREAM: scenarios.text_chunks(scenarios.WARM_CHUNKS),
    }
    routes = {name: _fixed(stream_response(scenarios.sse(c))) for name, c in streams.items()}
    small = json_response(scenarios.dumps(scenarios.small_completion()))
    large = scenarios.large_completion(sizes.large_bytes)
    routes["small_requests"] = routes[scenarios.WARM_REQUEST] = _fixed(small)
    routes["large_response"] = _fixed(json_response(scenarios.dumps(large)))
    routes["agent_loop"] = _agent_responder(sizes.agent_turns)
    routes[scenarios.WARM_AGENT] = _agent_responder(scenarios.WARM_TURNS)
    routes["agent_latency"] = _latency_responder(sizes, received, timed=True)
    routes[scenarios.WARM_LATENCY] = _latency_responder(sizes, None, timed=False)
    return routes


def _fixed(response: bytes) -> Responder:
    return lambda _request: response


def _agent_responder(turns: int) -> Responder:
    """Answer turn N (N tool results sent so far) with a tool call, the last turn with text."""
    plain, streamed = [], []
    for turn in range(turns):
        last = turn == turns - 1
        message = scenarios.agent_message(turn, last)
        body = scenarios.completion(message, "stop" if last else "tool_calls")
        plain.append(json_response(scenarios.dumps(body)))
        streamed.append(stream_response(scenarios.sse(scenarios.agent_chunks(turn, last))))

    def respond(http: _Request) -> bytes:
        request = _agent_request.decode(http.body)
        turn = min(sum(m.role == "tool" for m in request.messages), turns - 1)
        return (streamed if request.stream else plain)[turn]

    return respond


def _latency_responder(
    sizes: Sizes, received: dict[str, list[dict[str, Any]]] | None, *, timed: bool
) -> Responder:
    """The tool-call turn in time to a request without tool results, the answer to one with;
    each request's summary is kept in `received` under its run's key (the warm-up's nowhere)."""
    head = _head("text/event-stream; charset=utf-8", ["Transfer-Encoding: chunked"])
    turn = [(at, _http_chunk(events)) for at, events in scenarios.latency_stream(sizes, timed)]
    turn = [(0.0, head), *turn, (turn[-1][0], b"0\r\n\r\n")]
    answer = scenarios.latency_answer_chunks()
    streamed = stream_response(scenarios.sse(answer))
    message = {"role": "assistant", "content": scenarios.LATENCY_ANSWER, "refusal": None}
    plain = json_response(scenarios.dumps(scenarios.completion(message, "stop")))
    refusal = {"error": {"message": "this scenario streams", "type": "invalid_request_error"}}
    not_streamed = json_response(scenarios.dumps(refusal), "400 Bad Request")

    def respond(http: _Request) -> Response:
        seen = _summary(http)
        if received is not None:
            received.setdefault(http.target.split("/")[2], []).append(seen)
        if not seen["tool_results"]:
            return turn if seen["stream"] else not_streamed
        return streamed if seen["stream"] else plain

    return respond


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _summary(http: _Request) -> dict[str, Any]:
    """What a latency request carried that the check looks at: the calls it repeats and the
    tool results it sends back (text parts joined, for clients that send a list of parts)."""
    request = json.loads(http.body)
    messages = request.get("messages") or []
    calls = [
        {"id": c.get("id"), "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for m in messages
        if m.get("role") == "assistant"
        for c in m.get("tool_calls") or ()
    ]
    results = [
        {"tool_call_id": m.get("tool_call_id"), "content": _text(m.get("content"))}
        for m in messages
        if m.get("role") == "tool"
    ]
    stream = bool(request.get("stream"))
    return {"at": http.arrived, "stream": stream, "tool_calls": calls, "tool_results": results}


def _text(content: Any) -> Any:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content


def _not_found(target: str) -> bytes:
    error = {"error": {"message": f"no scenario at {target}", "type": "invalid_request_error"}}
    return json_response(scenarios.dumps(error), "404 Not Found")


# --------------------------------------------------------------------------- connections


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests carry `Content-Length` bodies."""

    def __init__(
        self, routes: dict[str, Responder], received: dict[str, list[dict[str, Any]]]
    ) -> None:
        self._routes = routes
        self._received = received
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        # When the last scripted write is due: a response to a request sent before then
        # follows it, in order, as HTTP/1.1 requires.
        self._busy_until = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        # Each pass consumes one whole request from the buffer, so the loop ends.
        while (request := self._take_request()) is not None:
            response = self._respond(request)
            if isinstance(response, list) or self._busy_until:
                self._play(response, request.close)
            else:
                self._transport.write(response)
            if request.close:
                if not self._busy_until:
                    self._transport.close()
                return

    def _play(self, response: Response, close: bool) -> None:
        """Play a scripted response (or one that must wait for it) write by write, each at its
        moment. Each write schedules the next: timers due at the same moment run in no set
        order."""
        loop = asyncio.get_running_loop()
        start = max(loop.time(), self._busy_until)
        writes = response if isinstance(response, list) else [(0.0, response)]
        self._busy_until = start + writes[-1][0]
        self._next_write(start, iter(writes), close)

    def _next_write(
        self,
        start: float,
        writes: Iterator[tuple[float, bytes]],
        close: bool,
        due: bytes = b"",
    ) -> None:
        """Write `due` and every write whose moment has come, then wait for the next one."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        if due and not self._transport.is_closing():
            self._transport.write(due)
        for at, data in writes:
            if start + at > loop.time():
                loop.call_at(start + at, self._next_write, start, writes, close, data)
                return
            if not self._transport.is_closing():
                self._transport.write(data)
        if self._busy_until <= loop.time():
            self._busy_until = 0.0
        if close:
            self._transport.close()

    def _take_request(self) -> _Request | None:
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            return None
        head = bytes(self._buffer[:end])
        match = _CONTENT_LENGTH.search(head)
        body_end = end + len(_HEAD_END) + (int(match.group(1)) if match else 0)
        if len(self._buffer) < body_end:
            return None
        body = bytes(self._buffer[end + len(_HEAD_END) : body_end])
        del self._buffer[:body_end]
        target = head.split(b" ", 2)[1].decode()
        return _Request(target, body, _CLOSE.search(head) is not None)

    def _respond(self, request: _Request) -> Response:
        if request.target == "/_stats":
            stats = {"cpu_s": time.process_time(), "pid": os.getpid()}
            return json_response(json.dumps(stats).encode())
        if request.target.startswith("/_received/"):
            runs = self._received.pop(request.target.rsplit("/", 1)[1], [])
            return json_response(json.dumps(runs).encode())
        scenario = request.target.lstrip("/").split("/", 1)[0]
        route = self._routes.get(scenario)
        return _not_found(request.target) if route is None else route(request)


async def serve(sizes: Sizes, port: int = 0) -> None:
    """Build the routes, listen on 127.0.0.1 and print `PORT <n>`; serve until killed."""
    received: dict[str, list[dict[str, Any]]] = {}
    routes = build_routes(sizes, received)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(routes, received), "127.0.0.1", port, backlog=BACKLOG
    )
    async with server:
        bound = server.sockets[0].getsockname()[1]
        print(f"PORT {bound}", flush=True)
        await server.serve_forever()


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m benchmarks.server --sizes JSON [--port N]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=Sizes().to_json(), help="Sizes as JSON")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(Sizes.from_json(args.sizes), args.port))


if __name__ == "__main__":
    main()
