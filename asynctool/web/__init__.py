"""Agent runs as the event streams web front ends read.

```python
from aiohttp import web
from asynctool.web import ui_message_response, ui_messages_to_chat

async def chat(request: web.Request) -> web.StreamResponse:
    messages = ui_messages_to_chat((await request.json())["messages"])
    return await ui_message_response(request, agent.run_stream(messages))
```

Two formats, each an encoder from `AgentEvent`s to the bytes of a server-sent event stream:
`ui_message_stream` writes the Vercel AI SDK's UI message stream (what `useChat` reads), and
`agui_stream` writes AG-UI's events (what AG-UI clients read). Both are written here with
msgspec; neither format's package is needed to serve them. The encoders work under any ASGI
or aiohttp server; `ui_message_response` and `agui_response` serve them from an aiohttp
handler with the headers each format needs, and import `aiohttp.web` on first use. The other
way, `ui_messages_to_chat` and `agui_messages_to_chat` turn the conversation each client posts
into the chat messages a run takes.
"""

import typing as _typing

from ._agui import AGUI_HEADERS as AGUI_HEADERS
from ._agui import agui_stream as agui_stream
from ._frames import error_text_of as error_text_of
from ._input import agui_messages_to_chat as agui_messages_to_chat
from ._input import ui_messages_to_chat as ui_messages_to_chat
from ._ui_message import UI_MESSAGE_STREAM_HEADERS as UI_MESSAGE_STREAM_HEADERS
from ._ui_message import tool_result_text as tool_result_text
from ._ui_message import ui_message_stream as ui_message_stream

if _typing.TYPE_CHECKING:
    from ._aiohttp import agui_response as agui_response
    from ._aiohttp import ui_message_response as ui_message_response

_LAZY = {"agui_response": "_aiohttp", "ui_message_response": "_aiohttp"}

__all__ = sorted([*(name for name in globals() if not name.startswith("_")), *_LAZY])


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
