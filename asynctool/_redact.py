"""What counts as a credential, how to take one out of what a server echoed, and how a
server's text is quoted.

One rule, used by the transport for every error it raises and by `asynctool.testing` for the
requests it records:

- a *credential header* is one whose name says it carries one (`Authorization`, `Cookie`,
  `Proxy-Authorization`, `x-api-key`, Azure's `api-key`, `Helicone-Auth`,
  `Ocp-Apim-Subscription-Key`, ...); its whole value is a secret, and so is the token after
  the scheme (`Bearer <token>`) and each cookie's value;
- a secret is replaced by `[redacted]` where it stands as a token of its own. A long one (16
  characters or more, as every provider's key is) is replaced wherever it occurs, even glued
  to other text (`%20sk-...` in a URL-encoded echo): no word contains it by chance. A short one
  is replaced only where no letter or digit touches it, so that a key `k` does not turn
  `chunk` into `chun[redacted]` (issue 16, item 10).

A server's text quoted in a message or a log line (a `Location`, an error's text) is escaped
and cut short by `quoted`: a line break in it would forge a log line (CWE-117), a megabyte of
it would fill the log.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from ._exceptions import PREVIEW_CHARS, APIError

__all__ = [
    "REDACTED",
    "credentials_in",
    "is_credential_header",
    "quoted",
    "redact",
    "redact_text",
]

REDACTED = "[redacted]"

_E = TypeVar("_E", bound=APIError)

# Names that always carry a credential, and words that make any name one: `x-portkey-api-key`,
# `cf-aig-authorization`, `X-Amz-Security-Token`. The one header of ours whose name says
# "key" is an idempotency key, which is no secret and which a test wants to read.
_CREDENTIAL_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "api-key"})
_CREDENTIAL_WORDS = ("auth", "key", "token", "secret", "cookie", "passw", "signature", "credent")
_NOT_CREDENTIALS = frozenset({"idempotency-key"})
# Below this length a secret could be part of a word, so only whole tokens are replaced.
_LONG_SECRET = 16
_WORD = "A-Za-z0-9"


def is_credential_header(name: str) -> bool:
    """Whether a header of this name carries a credential."""
    lowered = name.lower()
    if lowered in _NOT_CREDENTIALS:
        return False
    return lowered in _CREDENTIAL_NAMES or any(word in lowered for word in _CREDENTIAL_WORDS)


def credentials_in(headers: Mapping[str, str]) -> Iterator[str]:
    """The secrets in these headers: the values of credential headers, the token after a
    scheme (`Bearer <token>`), and the value of each cookie."""
    for name, value in headers.items():
        if not is_credential_header(name):
            continue
        yield value
        _, _, token = value.strip().partition(" ")
        if token:
            yield token
        if "cookie" in name.lower():
            for pair in value.split(";"):
                yield pair.partition("=")[2]


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `[redacted]` (see the module docstring)."""
    pattern = _pattern(_key(secrets))
    return text if pattern is None else pattern.sub(REDACTED, text)


def redact(error: _E, secrets: Iterable[str]) -> _E:
    """`error` with the secrets taken out of its message, arguments, body, fields and headers,
    in place."""
    pattern = _pattern(_key(secrets))
    if pattern is None:
        return error
    error.message = pattern.sub(REDACTED, error.message)
    error.args = tuple(_redacted(arg, pattern) for arg in error.args)
    error.body = _redacted(error.body, pattern)
    for name in ("code", "type", "param", "data", "headers"):
        value = getattr(error, name, None)
        if isinstance(value, str | dict):
            setattr(error, name, _redacted(value, pattern))
    return error


def quoted(text: str) -> str:
    """`text` as a bounded, escaped literal: no line break or control character gets through."""
    if len(text) <= PREVIEW_CHARS:
        return repr(text)
    return f"{text[:PREVIEW_CHARS]!r}... ({len(text) - PREVIEW_CHARS} more characters)"


def _key(secrets: Iterable[str]) -> tuple[str, ...]:
    # Longest first, so that `Bearer <key>` is replaced whole before `<key>` alone.
    return tuple(sorted({s.strip() for s in secrets if s and s.strip()}, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for all the secrets, built once per set (errors are rare, sets are few)."""
    if not secrets:
        return None
    return re.compile("|".join(map(_alternative, secrets)))


def _alternative(secret: str) -> str:
    escaped = re.escape(secret)
    if len(secret) >= _LONG_SECRET:
        return escaped
    # A boundary only where the secret itself starts or ends with a letter or digit: a key
    # ending in `=` is still replaced in `key=...` text, whatever follows it.
    before = f"(?<![{_WORD}])" if _is_word(secret[0]) else ""
    after = f"(?![{_WORD}])" if _is_word(secret[-1]) else ""
    return f"{before}{escaped}{after}"


def _is_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _redacted(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, list):
        return [_redacted(item, pattern) for item in value]
    if isinstance(value, dict):
        return {_redacted(k, pattern): _redacted(v, pattern) for k, v in value.items()}
    return value
