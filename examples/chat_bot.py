"""A chat-bot handler in the style of Discord or Telegram bots: a history per chat, one reply each.

No bot library is needed to see the pattern: `ChatBot.on_message` is what a framework's message
callback would call. Each chat keeps its own conversation (the last run's `result.messages`), a
lock per chat keeps two quick messages of one chat in order, and different chats run at once.
"""

import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass

from asynctool import Agent, AsyncClient, Message, UserMessage
from asynctool.demo import TOOLS, run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")


@dataclass(frozen=True)
class MessageEvent:  # what a bot framework hands over for each incoming message
    chat_id: int
    user: str
    text: str


class ChatBot:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.history: dict[int, list[Message]] = defaultdict(list)
        self.locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def on_message(self, event: MessageEvent) -> str:
        async with self.locks[event.chat_id]:  # one run at a time per chat, in arrival order
            message = UserMessage(content=event.text, name=event.user)
            result = await self.agent.run([*self.history[event.chat_id], message])
            self.history[event.chat_id] = result.messages
            return result.output or "Sorry, I have no answer to that."


async def main(base_url: str | None = None) -> ChatBot:
    events = [
        MessageEvent(chat_id=1, user="ana", text="Where is my package order_12345?"),
        MessageEvent(chat_id=2, user="bo", text="What's the weather in Oslo?"),
        MessageEvent(chat_id=1, user="ana", text="And what time is it in Tokyo?"),
    ]
    async with AsyncClient(base_url) as client:
        bot = ChatBot(Agent(client, model=MODEL, tools=TOOLS, instructions="Be brief."))
        async with asyncio.TaskGroup() as group:  # messages arrive while others are answered
            replies = [group.create_task(bot.on_message(event)) for event in events]
    for event, reply in zip(events, replies, strict=True):
        print(f"[chat {event.chat_id}] {event.user}: {event.text}\n{reply.result()}\n")
    return bot


if __name__ == "__main__":
    run_example(main)
