"""When to retry a failed request, and how long to wait first.

A POST the server may not have acted on is safe to retry after a connection error, a timeout
before the response started, or a 408, 409, 429 or 5xx; `x-should-retry` from the server
overrides the status. The wait is the server's `retry-after-ms` or `Retry-After` (seconds or an
HTTP date) when it is sane, else exponential backoff with jitter.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

__all__ = ["retry_after", "retry_delay", "should_retry"]

_RETRY_STATUSES = frozenset({408, 409, 429})
_INITIAL_BACKOFF = 0.5
_MAX_BACKOFF = 8.0
# A server may ask for a long pause; past this we fall back to our own backoff rather than
# leave the caller waiting on a header nobody can audit.
_MAX_RETRY_AFTER = 60.0


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a failed response may be retried: the server's `x-should-retry`, else by status."""
    should = headers.get("x-should-retry")
    if should == "true":
        return True
    if should == "false":
        return False
    return status in _RETRY_STATUSES or status >= 500


def retry_delay(headers: Mapping[str, str] | None, attempt: int) -> float:
    """The server's `retry-after-ms` / `Retry-After` when sane, else backoff with jitter."""
    asked = retry_after(headers) if headers is not None else None
    if asked is not None and 0 <= asked <= _MAX_RETRY_AFTER:
        return asked
    backoff = min(_INITIAL_BACKOFF * 2.0**attempt, _MAX_BACKOFF)
    # Up to a quarter less, so that clients that failed together do not retry together.
    return backoff * (1.0 - 0.25 * random.random())


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait, from `retry-after-ms` or `Retry-After`."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000.0
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()
