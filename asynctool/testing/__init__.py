"""An embedded OpenAI-compatible model server for tests, demos and benchmarks.

```python
from asynctool.testing import ModelServer, ScriptedModel, call, status, text, tool_calls

model = ScriptedModel([
    tool_calls(call("get_weather", {"location": "Boston"})),
    status(429, retry_after=1),
    text("It is sunny in Boston."),
])
async with ModelServer(model) as server:
    ...  # point any OpenAI-compatible client at server.base_url
    assert server.requests[0].json["tools"][0]["function"]["name"] == "get_weather"
```

`ModelServer` speaks the wire format of `POST /v1/chat/completions` (JSON and SSE streams) and
`GET /v1/models`. A *model* decides each answer: `ScriptedModel` plays a list of turns (replies,
tool calls, HTTP errors, delivery faults, exact bytes, and an aiohttp `Handler` for the rest),
`DemoModel` plans tool calls from the request's text without any network or weights.
`python -m asynctool.testing --port 8000` serves a `DemoModel` from the command line.
"""

from .._types import Usage as Usage
from ._demo_model import NOTICE as NOTICE
from ._demo_model import DemoModel as DemoModel
from ._faults import bad_data as bad_data
from ._faults import drop_after as drop_after
from ._faults import error_body as error_body
from ._faults import error_chunk as error_chunk
from ._faults import error_event as error_event
from ._faults import garbage as garbage
from ._faults import hang_up as hang_up
from ._faults import html_error as html_error
from ._faults import html_page as html_page
from ._faults import no_done as no_done
from ._faults import raw_bytes as raw_bytes
from ._faults import raw_stream as raw_stream
from ._faults import redirect as redirect
from ._faults import stall as stall
from ._faults import status as status
from ._faults import trickle as trickle
from ._faults import truncated as truncated
from ._request import RecordedRequest as RecordedRequest
from ._scripted import ScriptedModel as ScriptedModel
from ._scripted import ScriptStep as ScriptStep
from ._server import ModelServer as ModelServer
from ._turns import Call as Call
from ._turns import Choices as Choices
from ._turns import Fault as Fault
from ._turns import Handler as Handler
from ._turns import Model as Model
from ._turns import RawResponse as RawResponse
from ._turns import Reply as Reply
from ._turns import Turn as Turn
from ._turns import call as call
from ._turns import choices as choices
from ._turns import refusal as refusal
from ._turns import text as text
from ._turns import tool_calls as tool_calls

__all__ = [
    "NOTICE",
    "Call",
    "Choices",
    "DemoModel",
    "Fault",
    "Handler",
    "Model",
    "ModelServer",
    "RawResponse",
    "RecordedRequest",
    "Reply",
    "ScriptStep",
    "ScriptedModel",
    "Turn",
    "Usage",
    "bad_data",
    "call",
    "choices",
    "drop_after",
    "error_body",
    "error_chunk",
    "error_event",
    "garbage",
    "hang_up",
    "html_error",
    "html_page",
    "no_done",
    "raw_bytes",
    "raw_stream",
    "redirect",
    "refusal",
    "stall",
    "status",
    "text",
    "tool_calls",
    "trickle",
    "truncated",
]
