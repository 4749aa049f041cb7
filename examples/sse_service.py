"""An aiohttp web service that streams an agent's answer to its own clients as server-sent events.

`POST /chat` with `{"message": "..."}` answers `text/event-stream`: a `tool` event per tool call,
`delta` events carrying the answer as the model writes it, then `done` (or `error`). `main` runs
the service on a free port and reads one answer back with an aiohttp client.
"""

import json
import os

from aiohttp import ClientSession, web

from asynctool import Agent, AsyncClient, AsyncToolError, TextDelta, ToolCallReady
from asynctool.demo import build_agent, run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")


def make_app(agent: Agent) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        message = (await request.json())["message"]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            async with agent.run_stream(message) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        await send(response, "delta", {"text": event.text})
                    elif isinstance(event, ToolCallReady):
                        await send(response, "tool", {"name": event.call.function.name})
            await send(response, "done", {})
        except AsyncToolError as error:  # the 200 is sent already: report it in the stream
            await send(response, "error", {"message": str(error)})
        return response

    app = web.Application()
    app.router.add_post("/chat", chat)
    return app


async def send(response: web.StreamResponse, event: str, data: object) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


async def read_answer(url: str, message: str) -> str:
    """A client of the service: the text of the `delta` events, joined."""
    parts, event = [], ""
    async with ClientSession() as session, session.post(url, json={"message": message}) as resp:
        async for line in resp.content:  # enough for this server's one-line fields
            field, _, value = line.decode().rstrip("\r\n").partition(": ")
            event = value if field == "event" else event
            if field == "data" and event == "delta":
                parts.append(json.loads(value)["text"])
    return "".join(parts)


async def main(base_url: str | None = None) -> str:
    async with AsyncClient(base_url) as client:
        runner = web.AppRunner(make_app(build_agent(client, MODEL)))
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/chat"
            answer = await read_answer(url, "What's the weather in Boston?")
        finally:
            await runner.cleanup()
    print(answer)
    return answer


if __name__ == "__main__":
    run_example(main)
