"""What the server received: `RecordedRequest`, and the checks a chat request must pass.

Every request is recorded as it arrived, before authentication and validation, so a test can
assert on headers a client should not have sent (credentials after a cross-host redirect) as
well as on bodies that were rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy, MultiMapping

from .._redact import REDACTED, is_credential_header

__all__ = ["InvalidRequestBody", "RecordedRequest", "text_of", "validate_chat_body"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TOOL_CHOICES = frozenset({"none", "auto", "required"})
_OTHER_CHOICE_TYPES = frozenset({"allowed_tools", "custom"})
_MAX_N = 128


@dataclass(frozen=True, slots=True, repr=False)
class RecordedRequest:
    """One request as the server received it.

    Its `repr` (what `pytest -vv` prints for a failed assertion) shows the value of every
    credential header (`Authorization`, `x-api-key`, `Cookie`, ...) as `[redacted]`, so a key
    picked up from `OPENAI_API_KEY` does not land in a test log; `headers` holds them as sent.

    Attributes:
        method: the HTTP method.
        path: the URL path, e.g. `/v1/chat/completions`.
        headers: the request headers (case-insensitive lookup).
        body: the parsed JSON body; `None` when there was none or it was not JSON.
        raw_body: the body bytes as received.
        request_id: the `x-request-id` the server answered with.
        query: the URL's query parameters (`extra_query`, Azure's `api-version`); left out
            of the `repr`, as a query may carry a key (`?key=` for Gemini).
    """

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: Any
    raw_body: bytes
    request_id: str
    query: MultiMapping[str] = field(default_factory=lambda: MultiDictProxy(MultiDict()))

    def __repr__(self) -> str:
        # The whole value goes, not the key inside it: the server does not know which part of
        # `Bearer <key>` or of a cookie is the secret.
        headers = {
            name: REDACTED if is_credential_header(name) else value
            for name, value in self.headers.items()
        }
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, headers={headers!r}, "
            f"body={self.body!r}, raw_body=<{len(self.raw_body)} bytes>, "
            f"request_id={self.request_id!r})"
        )

    @property
    def json(self) -> dict[str, Any]:
        """The body when it is a JSON object, else an empty dict."""
        return self.body if isinstance(self.body, dict) else {}

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's `messages` (an empty list when absent)."""
        value = self.json.get("messages")
        return value if isinstance(value, list) else []

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The request's `tools` (an empty list when absent)."""
        value = self.json.get("tools")
        return value if isinstance(value, list) else []

    @property
    def stream(self) -> bool:
        """Whether the client asked for a stream."""
        return self.json.get("stream") is True

    @property
    def n(self) -> int:
        """How many choices the client asked for."""
        value = self.json.get("n")
        return value if isinstance(value, int) and value > 0 else 1

    @property
    def model(self) -> str:
        """The requested model name."""
        return str(self.json.get("model", ""))


def text_of(content: Any) -> str:
    """The text of a message's `content`: a string, or the `text` of its parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


class InvalidRequestBody(Exception):
    """A chat request body the real API would reject with a 400; `param` names the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def validate_chat_body(body: Any) -> None:
    """Check what the real API checks before generating anything.

    Raises:
        InvalidRequestBody: the first problem found, with the offending parameter.
    """
    if not isinstance(body, dict):
        raise InvalidRequestBody("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestBody("You must provide a model parameter.", "model")
    _check_messages(body.get("messages"))
    _check_options(body)
    names = _check_tools(body.get("tools"))
    _check_tool_choice(body.get("tool_choice"), names)


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestBody("'messages' must be a non-empty array.", "messages")
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in _ROLES:
            raise InvalidRequestBody(
                f"Invalid value for 'messages[{i}].role': expected one of "
                f"{', '.join(sorted(_ROLES))}.",
                f"messages[{i}].role",
            )
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequestBody(
                f"Missing required parameter: 'messages[{i}].tool_call_id'.",
                f"messages[{i}].tool_call_id",
            )


def _check_options(body: dict[str, Any]) -> None:
    n = body.get("n", 1)
    if n is not None and (type(n) is not int or not 1 <= n <= _MAX_N):
        raise InvalidRequestBody(f"'n' must be an integer from 1 to {_MAX_N}.", "n")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequestBody("'stream' must be a boolean.", "stream")
    if body.get("stream_options") is not None and stream is not True:
        raise InvalidRequestBody(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )


def _check_tools(tools: Any) -> set[str]:
    """Validate `tools` and return the function names it defines."""
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise InvalidRequestBody("'tools' must be an array.", "tools")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        # A custom tool (openai-python's ChatCompletionCustomToolParam) is named in `custom`.
        kind = "custom" if isinstance(tool, dict) and tool.get("type") == "custom" else "function"
        definition = tool.get(kind) if isinstance(tool, dict) else None
        name = definition.get("name") if isinstance(definition, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidRequestBody(
                f"Missing required parameter: 'tools[{i}].{kind}.name'.", f"tools[{i}].{kind}.name"
            )
        if kind == "function":
            names.add(name)
    return names


def _check_tool_choice(choice: Any, names: set[str]) -> None:
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        return
    # The other object forms (openai-python's ChatCompletionToolChoiceOptionParam:
    # `allowed_tools`, `custom`) name no function of `tools`; they are the model's to read.
    if isinstance(choice, dict) and choice.get("type") in _OTHER_CHOICE_TYPES:
        return
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise InvalidRequestBody(
            "'tool_choice' must be 'none', 'auto', 'required' or a function.", "tool_choice"
        )
    if name not in names:
        raise InvalidRequestBody(
            f"Invalid value for 'tool_choice': no function named '{name}' in 'tools'.",
            "tool_choice",
        )
