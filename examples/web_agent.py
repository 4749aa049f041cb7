"""A browser chat with an agent: aiohttp streams each run as the AI SDK's UI message stream.

`GET /` is web_agent.html, a plain JavaScript page that draws the answer as it streams (text,
tool calls with input and output). `POST /api/chat` takes what the AI SDK's `useChat` posts
(`{"messages": [UIMessage...]}`, read by `ui_messages_to_chat`) and answers with
`asynctool.web.ui_message_response`.
`--serve` serves it on port 8080; `main` asks one question as the page does, and prints the answer.
"""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from asynctool import Agent, AsyncClient, InvalidRequestError
from asynctool.demo import build_agent, run_example
from asynctool.web import ui_message_response, ui_messages_to_chat

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")


def make_app(agent: Agent[Any]) -> web.Application:
    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(Path(__file__).with_name("web_agent.html"))

    async def chat(request: web.Request) -> web.StreamResponse:
        try:  # the conversation, tool calls and results too
            messages = ui_messages_to_chat((await request.json())["messages"])
        except InvalidRequestError as error:  # it names what is wrong: messages[1].parts...
            raise web.HTTPBadRequest(text=str(error)) from None
        return await ui_message_response(request, agent.run_stream(messages))

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/api/chat", chat)
    return app


async def ask(base: str, question: str) -> str:
    """What the page does with a question: post it, join the `text-delta` chunks' text."""
    body = {"messages": [{"role": "user", "parts": [{"type": "text", "text": question}]}]}
    parts = []
    async with ClientSession() as session, session.post(f"{base}/api/chat", json=body) as resp:
        async for line in resp.content:  # each event is one `data:` line and a blank one
            data = line.decode().removeprefix("data: ").strip()
            if data not in ("", "[DONE]") and (chunk := json.loads(data))["type"] == "text-delta":
                parts.append(chunk["delta"])
    return "".join(parts)


async def main(base_url: str | None = None, port: int = 0) -> str:
    async with AsyncClient(base_url) as client:
        runner = web.AppRunner(make_app(build_agent(client, MODEL)))
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            if port:  # --serve: until Ctrl-C
                print(f"open {base}/")
                await asyncio.Event().wait()
            answer = await ask(base, "What's the weather in Boston?")
        finally:
            await runner.cleanup()
    print(answer)
    return answer


if __name__ == "__main__":
    run_example(lambda url: main(url, 8080 if "--serve" in sys.argv else 0))
