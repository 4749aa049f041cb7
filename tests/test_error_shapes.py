"""Error bodies of every shape a provider answers with: the message, type, code and param read.

Each case replays a body the way a provider sends it, through a real server on 127.0.0.1, and
cites where that shape was seen. The same rule (`error_fields`) reads error events in a
stream, so it is also checked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from asynctool import APIStatusError, AsyncClient
from asynctool._exceptions import error_fields, error_message
from tests.conftest import Serve, reply

MESSAGES = [{"role": "user", "content": "hi"}]


@dataclass(frozen=True)
class Shape:
    status: int
    body: Any  # a dict or list is sent as JSON, a str as text/plain
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None


SHAPES = {
    # OpenAI's error object, every field set; the official SDK reads it from `body["error"]`
    # (openai-python, `_client.py`, `_make_status_error`). Seen verbatim from an
    # OpenAI-compatible gateway in skye-harris/hass_local_openai_llm#89.
    "openai-object": Shape(
        400,
        {
            "error": {
                "message": "Error from provider (Console Go): Upstream request failed",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_request_error",
            }
        },
        "Error from provider (Console Go): Upstream request failed",
        type="invalid_request_error",
        code="invalid_request_error",
    ),
    # OpenAI's object with a `param`, as OpenAI answers an invalid parameter.
    "openai-param": Shape(
        400,
        {
            "error": {
                "message": "Invalid type for 'user': expected a string, but got an integer.",
                "type": "invalid_request_error",
                "param": "user",
                "code": "invalid_type",
            }
        },
        "Invalid type for 'user': expected a string, but got an integer.",
        type="invalid_request_error",
        code="invalid_type",
        param="user",
    ),
    # Gemini's OpenAI-compatible endpoint answers a list of Google error objects:
    # `Error code: 400 - [{'error': {'code': 400, 'message': ..., 'status': 'INVALID_ARGUMENT'}}]`
    # (Simpleyyt/ai-manus#101, SuzumiyaAkizuki/ComfyUI-NewBie-LLM-Formatter#3).
    "gemini-list": Shape(
        400,
        [
            {
                "error": {
                    "code": 400,
                    "message": "Function calling with a response mime type: 'application/json' is unsupported",
                    "status": "INVALID_ARGUMENT",
                }
            }
        ],
        "Function calling with a response mime type: 'application/json' is unsupported",
        type="INVALID_ARGUMENT",
        code="400",
    ),
    # Google's native shape, one object with `details` (gera2ld/ai.nvim#13).
    "google-object": Shape(
        400,
        {
            "error": {
                "code": 400,
                "message": "Invalid JSON payload received. Unknown name \"role\" at 'contents[0].parts'.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest"}],
            }
        },
        "Invalid JSON payload received. Unknown name \"role\" at 'contents[0].parts'.",
        type="INVALID_ARGUMENT",
        code="400",
    ),
    # FastAPI's `HTTPException`: `{"detail": "..."}` (FastAPI docs, "Handling Errors"); Mistral
    # answers a bad key this way (agent0ai/agent-zero#539), Open WebUI a missing model
    # (open-webui/open-webui#11906).
    "detail-text": Shape(401, {"detail": "Unauthorized"}, "Unauthorized"),
    # FastAPI's request validation error, a list of `{"type", "loc", "msg", "input"}`
    # (Alishahryar1/free-claude-code#1041, microsoft/autogen#1829).
    "detail-list": Shape(
        422,
        {
            "detail": [
                {
                    "type": "literal_error",
                    "loc": ["body", "messages", 1, "role"],
                    "msg": "Input should be 'user' or 'assistant'",
                    "input": "system",
                    "ctx": {"expected": "'user' or 'assistant'"},
                }
            ]
        },
        "messages.1.role: Input should be 'user' or 'assistant'",
        type="literal_error",
        param="messages.1.role",
    ),
    # gpt4free's 422 says `message` where FastAPI says `msg` (xtekky/gpt4free#1989).
    "detail-list-message": Shape(
        422,
        {"detail": [{"loc": ["body", "messages"], "message": "Field required", "type": "missing"}]},
        "messages: Field required",
        type="missing",
        param="messages",
    ),
    # vLLM's error at the top level, `"object": "error"` (vllm-project/vllm#1351,
    # QwenLM/Qwen3#998).
    "vllm-top-level": Shape(
        400,
        {
            "object": "error",
            "message": "max_tokens must be at least 1, got -53.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        "max_tokens must be at least 1, got -53.",
        type="BadRequestError",
        code="400",
    ),
    # Mistral's `{"message": ..., "request_id": ...}` (cline/cline#1734).
    "message-only": Shape(
        401,
        {"message": "Unauthorized", "request_id": "c61f2f15feca71626a990e3740f99245"},
        "Unauthorized",
    ),
    # Ollama's native API: `{"error": "model 'x' not found, try pulling it first"}`
    # (ollama/ollama-python#149, TheBlewish/Automated-AI-Web-Researcher-Ollama#42).
    "error-text": Shape(
        404,
        {"error": "model 'llama2' not found, try pulling it first"},
        "model 'llama2' not found, try pulling it first",
    ),
    # OpenRouter's wrapper around the upstream provider's error: its own message says only
    # "Provider returned error"; the provider's body is text in `metadata.raw`
    # (https://openrouter.ai/docs/api/reference/errors-and-debugging; the Anthropic case seen
    # in hotovo/aider-desk#513).
    "openrouter-upstream": Shape(
        400,
        {
            "error": {
                "message": "Provider returned error",
                "code": 400,
                "metadata": {
                    "raw": '{"type":"error","error":{"type":"invalid_request_error",'
                    '"message":"prompt is too long: 209353 tokens > 199999 maximum"}}',
                    "provider_name": "Anthropic",
                },
            }
        },
        "Provider returned error (Anthropic: prompt is too long: 209353 tokens > 199999 maximum)",
        code="400",
    ),
    # Plain text from a proxy in front of the API: Envoy's 503 (openai/openai-python#1626).
    "plain-text": Shape(
        503,
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
        "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    ),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
async def test_every_error_shape_gives_its_message_and_fields(serve: Serve, shape: Shape) -> None:
    body = msgspec.json.encode(shape.body) if isinstance(shape.body, list) else shape.body
    ctype = "application/json" if isinstance(shape.body, list) else None
    headers = {"x-request-id": "req_7"}
    server, _ = await serve(reply(body, status=shape.status, content_type=ctype, headers=headers))
    async with AsyncClient(base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(APIStatusError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    error = info.value
    assert len(server.requests) == 1
    assert error.message == shape.message
    assert (error.type, error.code, error.param) == (shape.type, shape.code, shape.param)
    assert str(error) == f"Error code: {shape.status} - {shape.message} (request id: req_7)"
    assert error.body == shape.body  # parsed, as the SDK keeps it


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_the_stream_reads_error_events_with_the_same_rule(shape: Shape) -> None:
    fields = error_fields(shape.body)
    assert fields.message == shape.message
    assert error_message(shape.body, "fallback") == shape.message


async def test_an_html_error_page_has_no_message_of_its_own(serve: Serve) -> None:
    page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
    server, _ = await serve(reply(page, status=502, content_type="text/html"))
    async with AsyncClient(base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(APIStatusError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.message == "HTTP 502 Bad Gateway"
    assert info.value.body == page


@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "   ",
        {},
        [],
        [1, "x"],
        {"error": {}},
        {"error": None, "detail": None},
        {"detail": [1, {"loc": ["body"]}]},
        {"message": 42},
        [["a list of lists is no error shape"]],
        {"error": {"error": {"error": {"error": {"error": {"message": "nested too deep"}}}}}},
    ],
    ids=repr,
)
def test_bodies_without_a_message_give_the_fallback(body: object) -> None:
    assert error_message(body, "HTTP 500 Internal Server Error") == "HTTP 500 Internal Server Error"


def test_a_long_plain_text_body_is_cut() -> None:
    assert error_message("x" * 10_000, "fallback") == "x" * 500


def test_a_long_validation_list_shows_the_first_errors_and_the_count() -> None:
    detail = [
        {"loc": ["body", f"f{i}"], "msg": "Field required", "type": "missing"} for i in range(5)
    ]
    fields = error_fields({"detail": detail})
    assert fields.message == (
        "f0: Field required; f1: Field required; f2: Field required; (5 errors in all)"
    )
    assert fields.param == "f0"


def test_a_location_outside_the_body_keeps_its_path() -> None:
    fields = error_fields({"detail": [{"loc": ["api_version"], "msg": "bad", "type": "value"}]})
    assert (fields.message, fields.param) == ("api_version: bad", "api_version")
    assert error_fields({"detail": [{"msg": "bad"}]}) == ("bad", None, None, None)


def test_a_detail_object_is_read_as_an_error_object() -> None:
    # FastAPI's `HTTPException(detail=...)` takes a dict as well as a string (FastAPI docs,
    # "Handling Errors"); servers put an OpenAI-style object there.
    body = {"detail": {"message": "model is loading", "type": "unavailable", "code": 503}}
    assert error_fields(body) == ("model is loading", "unavailable", "503", None)


def test_a_gemini_list_skips_entries_that_say_nothing() -> None:
    body = [{"status": "x"}, {"error": {"message": "second", "status": "UNAVAILABLE"}}]
    assert error_fields(body)[:2] == ("second", "UNAVAILABLE")


def test_an_error_object_without_a_message_still_gives_its_fields() -> None:
    fields = error_fields({"error": {"type": "server_error", "code": 17}})
    assert fields == (None, "server_error", "17", None)
    assert error_message({"error": {"code": 17}}, "HTTP 500") == "HTTP 500"


def test_an_upstream_error_in_plain_text_or_without_a_provider_is_read_too() -> None:
    def wrapped(metadata: dict[str, Any]) -> dict[str, Any]:
        return {"error": {"message": "Provider returned error", "metadata": metadata}}

    assert error_message(wrapped({"raw": "Rate limit exceeded"}), "") == (
        "Provider returned error (Rate limit exceeded)"
    )
    raw_object = {"error": {"message": "quota exhausted"}}
    assert error_message(wrapped({"raw": raw_object, "provider_name": "Venice"}), "") == (
        "Provider returned error (Venice: quota exhausted)"
    )
    # Metadata that says nothing readable (moderation's `reasons`, an HTML page) adds nothing.
    assert error_message(wrapped({"reasons": ["violence"]}), "") == "Provider returned error"
    assert error_message(wrapped({"raw": "<html><body>502</body></html>"}), "") == (
        "Provider returned error"
    )


async def test_an_upstream_error_that_echoes_the_key_does_not_show_it(serve: Serve) -> None:
    key = "sk-or-v1-0123456789abcdef0123456789abcdef"
    raw = msgspec.json.encode({"error": {"message": f"Invalid API key: {key}"}}).decode()
    body = {"error": {"message": "Provider returned error", "metadata": {"raw": raw}}}
    server, _ = await serve(reply(body, status=401))
    async with AsyncClient(base_url=server.base_url, api_key=key, max_retries=0) as client:
        with pytest.raises(APIStatusError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES)
    assert server.requests[0].headers["Authorization"] == f"Bearer {key}"
    assert info.value.message.startswith("Provider returned error (Invalid API key: ")
    assert key not in str(info.value) and key not in repr(info.value.body)
