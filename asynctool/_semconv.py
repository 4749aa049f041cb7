"""What the OpenTelemetry semantic conventions for generative AI call each thing we trace.

Plain functions from requests, completions and URLs to attribute dicts: no OpenTelemetry
import, no I/O, so `_tracing` stays about when spans start and end, and this module about what
they say. The names and values are those of semantic-conventions v1.41.0, the last release
that holds the GenAI conventions before they moved to their own repository:
https://github.com/open-telemetry/semantic-conventions/blob/v1.41.0/docs/gen-ai/gen-ai-spans.md
(spans), gen-ai-agent-spans.md (`invoke_agent`), gen-ai-metrics.md (the two histograms), and
gen-ai-input-messages.json / gen-ai-output-messages.json (what captured content looks like).
Where the conventions name nothing (retries, stalls, a provider's cost), the names are ours,
under `asynctool.`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
from yarl import URL

from ._exceptions import APIStatusError
from ._types import ChatCompletion, Usage

__all__ = [
    "SCHEMA_URL",
    "Endpoint",
    "capture_content",
    "content_json",
    "endpoint_of",
    "error_attributes",
    "input_messages",
    "output_messages",
    "request_attributes",
    "response_attributes",
    "usage_attributes",
]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"

# Hosts and the `gen_ai.provider.name` the conventions give them (their list of well-known
# values; notes [20] and [22] name the Google hosts). A host not listed speaks OpenAI's API,
# the only one this client sends, and `gen_ai.provider.name` is the discriminator of the
# telemetry flavour ("the instrumentation's best knowledge"), so it is `openai`: a local
# llama.cpp or vLLM server included. `server.address` still says which host it was.
_PROVIDER_HOSTS = (
    ("openai.azure.com", "azure.ai.openai"),
    ("services.ai.azure.com", "azure.ai.inference"),
    ("models.inference.ai.azure.com", "azure.ai.inference"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.cohere.ai", "cohere"),
    ("api.cohere.com", "cohere"),
    ("api.deepseek.com", "deepseek"),
    ("api.groq.com", "groq"),
    ("ml.cloud.ibm.com", "ibm.watsonx.ai"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.x.ai", "x_ai"),
)
# The request fields with a `gen_ai.request.*` attribute of their own.
_REQUEST_FIELDS = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
)
# OpenTelemetry's GenAI instrumentations read this variable; `true` is the old boolean form,
# the enum values those of opentelemetry-util-genai (SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT,
# NO_CONTENT: opentelemetry-python-contrib util/opentelemetry-util-genai/README.rst). asynctool
# records content on spans only, so EVENT_ONLY records none.
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CAPTURE_ON_SPANS = frozenset({"true", "span_only", "span_and_event"})
_to_json = msgspec.json.Encoder().encode


class Endpoint(msgspec.Struct, frozen=True):
    """Where requests go, as the conventions name it."""

    provider: str
    address: str
    port: int | None


@functools.lru_cache(maxsize=64)
def endpoint_of(url: URL) -> Endpoint:
    """The provider and server of a base URL; the URL's credentials and path are not kept."""
    host = (url.host or "").lower()
    provider = next((name for suffix, name in _PROVIDER_HOSTS if _under(host, suffix)), "openai")
    # Bedrock's endpoints are per region: bedrock-runtime.us-east-1.amazonaws.com, ...
    if host.startswith("bedrock") and host.endswith(".amazonaws.com"):
        provider = "aws.bedrock"
    return Endpoint(provider=provider, address=host, port=url.port)


def _under(host: str, suffix: str) -> bool:
    # Vertex AI's regional hosts are `{region}-aiplatform.googleapis.com`.
    return host == suffix or host.endswith(("." + suffix, "-" + suffix))


def capture_content() -> bool:
    """Whether message contents go on spans (read per request, so it can change)."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _CAPTURE_ON_SPANS


def request_attributes(field: Callable[[str], Any]) -> dict[str, Any]:
    """The `gen_ai.request.*` attributes of the fields `field(name)` gives (None: not set)."""
    attributes: dict[str, Any] = {}
    for name, key in _REQUEST_FIELDS:
        value = field(name)
        if value is not None:
            attributes[key] = value
    # `max_completion_tokens` replaced `max_tokens` in OpenAI's API; either is the bound.
    max_tokens = field("max_completion_tokens") or field("max_tokens")
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    stop = field("stop")
    if stop is not None:
        attributes["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else stop
    n = field("n")
    if n is not None and n != 1:  # "if available, in the request, and !=1"
        attributes["gen_ai.request.choice.count"] = n
    response_format = field("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") != "text":
        attributes["gen_ai.output.type"] = "json"
    return attributes


def response_attributes(completion: ChatCompletion, provider: str) -> dict[str, Any]:
    """What a completion (or the part of one that arrived) says about the response."""
    attributes: dict[str, Any] = {"gen_ai.response.finish_reasons": _finish_reasons(completion)}
    if completion.id:
        attributes["gen_ai.response.id"] = completion.id
    if completion.model:
        attributes["gen_ai.response.model"] = completion.model
    if provider == "openai":  # the conventions' openai.md: openai.* go with provider openai
        attributes["openai.api.type"] = "chat_completions"
        if completion.system_fingerprint:
            attributes["openai.response.system_fingerprint"] = completion.system_fingerprint
        if completion.service_tier:
            attributes["openai.response.service_tier"] = completion.service_tier
    if completion.usage is not None:
        attributes.update(usage_attributes(completion.usage))
    return attributes


def _finish_reasons(completion: ChatCompletion) -> list[str]:
    return [choice.finish_reason or "" for choice in completion.choices]


def usage_attributes(usage: Usage) -> dict[str, Any]:
    """Token counts, and what providers add to them: cache tokens, reasoning tokens, cost.

    Cache reads are OpenAI's `prompt_tokens_details.cached_tokens` or DeepSeek's
    `prompt_cache_hit_tokens`; cache writes OpenRouter's `cache_write_tokens`; both are already
    part of `prompt_tokens`, as the conventions ask of `gen_ai.usage.input_tokens`. OpenRouter's
    `cost` (in credits) has no name in the conventions.
    """
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
    }
    prompt = usage.prompt_tokens_details
    cache_read = (prompt.cached_tokens if prompt else 0) or usage.prompt_cache_hit_tokens
    if cache_read:
        attributes["gen_ai.usage.cache_read.input_tokens"] = cache_read
    if prompt is not None and prompt.cache_write_tokens:
        attributes["gen_ai.usage.cache_creation.input_tokens"] = prompt.cache_write_tokens
    details = usage.completion_tokens_details
    if details is not None and details.reasoning_tokens:
        attributes["gen_ai.usage.reasoning.output_tokens"] = details.reasoning_tokens
    if usage.cost is not None:
        attributes["asynctool.usage.cost"] = usage.cost
    return attributes


def error_attributes(error: BaseException) -> dict[str, Any]:
    """`error.type`: the exception's class (the conventions' "canonical name of exception"),
    and the HTTP status when the server answered with one."""
    attributes: dict[str, Any] = {"error.type": type(error).__qualname__}
    if isinstance(error, APIStatusError):
        attributes["http.response.status_code"] = error.status_code
    return attributes


# ------------------------------------------------------------------------------ content


def content_json(value: Any) -> str:
    """A captured value as the JSON text spans carry (the Python SDK has no structured
    attributes; the conventions then ask for a JSON string)."""
    try:
        return _to_json(value).decode()
    except TypeError:
        return _to_json(str(value)).decode()


def input_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """The messages of a request in the conventions' input schema: a role and parts each."""
    return [_message_parts(_as_dict(message)) for message in messages]


def output_messages(completion: ChatCompletion) -> list[dict[str, Any]]:
    """One output message per choice, with its finish reason."""
    return [
        {
            **_message_parts(_as_dict(choice.message)),
            "finish_reason": choice.finish_reason or "",
        }
        for choice in completion.choices
    ]


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, Mapping):
        return dict(message)
    value = msgspec.to_builtins(message)
    return value if isinstance(value, dict) else {}


def _message_parts(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role") or "assistant"
    parts: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append({"type": "reasoning", "content": reasoning})
    if role == "tool":
        parts.append(
            {
                "type": "tool_call_response",
                "id": message.get("tool_call_id"),
                "response": message.get("content"),
            }
        )
    else:
        parts += _content_parts(message.get("content"))
    if message.get("refusal"):
        parts.append({"type": "text", "content": message["refusal"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": _decoded(function.get("arguments")),
            }
        )
    out: dict[str, Any] = {"role": role, "parts": parts}
    if message.get("name"):
        out["name"] = message["name"]
    return out


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            parts.append({"type": "uri", "modality": "image", "uri": url})
        else:
            parts.append({"type": str(kind)})
    return parts


def _decoded(arguments: Any) -> Any:
    """Tool arguments as an object, as the conventions ask, when they are JSON."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return msgspec.json.decode(arguments)
    except (msgspec.DecodeError, RecursionError):
        return arguments
