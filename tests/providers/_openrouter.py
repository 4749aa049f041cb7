"""What OpenRouter's answers look like, shared by its tests (Anthropic and Gemini models).

Every builder writes the fields the recorded exchanges have, in their order: the top-level
`provider`, `native_finish_reason` and `logprobs` on choices, and usage with `cost`,
`is_byok`, `cost_details` and `cache_write_tokens`. Recordings:
https://github.com/charmbracelet/fantasy/tree/main/providertests/testdata/TestOpenRouterThinking
"""

from __future__ import annotations

from typing import Any

import msgspec

from tests.providers._provider import JSON, Answer, reject

CLAUDE = "anthropic/claude-sonnet-4"
GEMINI = "google/gemini-3-pro-preview"
# Asked for as the recordings ask: reasoning on, usage accounting on.
EXTRA = {"reasoning": {"effort": "medium"}, "usage": {"include": True}}
# OpenRouter writes whitespace while the model works, before the JSON of a plain answer.
WAITING = b"\n         \n\n         \n\n         \n"
PROCESSING = ": OPENROUTER PROCESSING\n\n"


def usage(prompt: int, output: int, cost: float, cache_write: int = 0) -> JSON:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "cost": cost,
        "is_byok": False,
        "prompt_tokens_details": {
            "cached_tokens": 0,
            "cache_write_tokens": cache_write,
            "audio_tokens": 0,
            "video_tokens": 0,
        },
        "cost_details": {
            "upstream_inference_cost": cost,
            "upstream_inference_prompt_cost": round(cost * 0.4, 6),
            "upstream_inference_completions_cost": round(cost * 0.6, 6),
        },
        "completion_tokens_details": {"reasoning_tokens": 61, "image_tokens": 0, "audio_tokens": 0},
    }


def completion(
    model: str, provider: str, message: JSON, finish: str, native: str, used: JSON
) -> JSON:
    return {
        "id": "gen-1773326261-pUI5KeUN113EFRmnGRdE",
        "object": "chat.completion",
        "created": 1773326261,
        "model": model,
        "provider": provider,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": finish,
                "native_finish_reason": native,
                "message": message,
            }
        ],
        "usage": used,
    }


def chunk(model: str, provider: str, delta: JSON, finish: str | None = None, **top: Any) -> JSON:
    native = top.pop("native", finish)
    return {
        "id": "gen-1758886222-GCs7FInUrjLNXlZuOEsF",
        "provider": provider,
        "model": model,
        "object": "chat.completion.chunk",
        "created": 1758886222,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", **delta},
                "finish_reason": finish,
                "native_finish_reason": native,
                "logprobs": None,
            }
        ],
        **top,
    }


def weather_call(id: str, location: str) -> JSON:
    arguments = msgspec.json.encode({"location": location}).decode()
    return {
        "type": "function",
        "index": 0,
        "id": id,
        "function": {"name": "get_weather", "arguments": arguments},
    }


def text_step(model: str, provider: str, text: str, cost: float, native: str = "stop") -> Answer:
    message = {"role": "assistant", "content": text, "refusal": None, "reasoning": None}
    used = usage(549, 36, cost)
    half = len(text) // 2
    return Answer(
        completion=completion(model, provider, message, "stop", native, used),
        chunks=[
            chunk(model, provider, {"content": "", "reasoning": None, "reasoning_details": []}),
            chunk(model, provider, {"content": text[:half]}),
            chunk(model, provider, {"content": text[half:]}),
            chunk(model, provider, {"content": ""}, "stop", native=native),
            chunk(model, provider, {"content": ""}, usage=used),
        ],
        body_prefix=WAITING,
    )


def openrouter_error(raw: str, provider_name: str) -> Any:
    return reject(
        400,
        {
            "error": {
                "message": "Provider returned error",
                "code": 400,
                "metadata": {"raw": raw, "provider_name": provider_name},
            },
            "user_id": "user_2yZp0Kq9fSx1",
        },
    )
