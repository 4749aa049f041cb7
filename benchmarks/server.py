"""A local OpenAI-compatible server that is never the bottleneck.

It runs in its own process (`python -m benchmarks.server --sizes JSON`, started by
`benchmarks.processes.running_server`), builds every scenario's
complete HTTP response once at start-up, and answers a request with one `transport.write` of
those bytes: no JSON encoding, no per-chunk writes, no framework, so its CPU cost per request is
a dictionary lookup. The scenario is the first path segment of the base URL
(`http://127.0.0.1:PORT/text_stream/v1`), so clients need nothing unusual in their requests.
Only the agent scenario reads the body, to know which turn it is answering.

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
from collections.abc import Callable
from dataclasses import dataclass

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

Responder = Callable[[bytes], bytes]


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


def build_routes(sizes: Sizes) -> dict[str, Responder]:
    """Every scenario's responder, with its bytes built now."""
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
    return routes


def _fixed(response: bytes) -> Responder:
    return lambda _body: response


def _agent_responder(turns: int) -> Responder:
    """Answer turn N (N tool results sent so far) with a tool call, the last turn with text."""
    plain, streamed = [], []
    for turn in range(turns):
        last = turn == turns - 1
        message = scenarios.agent_message(turn, last)
        body = scenarios.completion(message, "stop" if last else "tool_calls")
        plain.append(json_response(scenarios.dumps(body)))
        streamed.append(stream_response(scenarios.sse(scenarios.agent_chunks(turn, last))))

    def respond(body: bytes) -> bytes:
        request = _agent_request.decode(body)
        turn = min(sum(m.role == "tool" for m in request.messages), turns - 1)
        return (streamed if request.stream else plain)[turn]

    return respond


def _not_found(target: str) -> bytes:
    error = {"error": {"message": f"no scenario at {target}", "type": "invalid_request_error"}}
    return json_response(scenarios.dumps(error), "404 Not Found")


# --------------------------------------------------------------------------- connections


@dataclass
class _Request:
    target: str
    body: bytes
    close: bool


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests carry `Content-Length` bodies."""

    def __init__(self, routes: dict[str, Responder]) -> None:
        self._routes = routes
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        # Each pass consumes one whole request from the buffer, so the loop ends.
        while (request := self._take_request()) is not None:
            self._transport.write(self._respond(request))
            if request.close:
                self._transport.close()
                return

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

    def _respond(self, request: _Request) -> bytes:
        if request.target == "/_stats":
            stats = {"cpu_s": time.process_time(), "pid": os.getpid()}
            return json_response(json.dumps(stats).encode())
        scenario = request.target.lstrip("/").split("/", 1)[0]
        route = self._routes.get(scenario)
        return _not_found(request.target) if route is None else route(request.body)


async def serve(sizes: Sizes, port: int = 0) -> None:
    """Build the routes, listen on 127.0.0.1 and print `PORT <n>`; serve until killed."""
    routes = build_routes(sizes)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(routes), "127.0.0.1", port, backlog=BACKLOG
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
