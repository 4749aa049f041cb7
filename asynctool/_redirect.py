"""Where a redirect may lead: the checks a `Location` passes before anything is sent to it.

A `Location` is whatever the server sent. The transport follows redirects by hand and asks
`redirect_target` where each leads; a redirect that is not to be followed raises
`RedirectRefused`, which the transport raises as an `APIConnectionError` without a retry: the
server would answer the same again. Which headers go along is the transport's rule (another
origin gets only asynctool's own).
"""

from __future__ import annotations

from yarl import URL

from ._redact import quoted

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "RedirectRefused", "redirect_target"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


class RedirectRefused(Exception):
    """A redirect that is not followed; its text says why."""


def redirect_target(current: URL, location: str) -> URL:
    """Where a redirect from `current` to `location` leads.

    Raises:
        RedirectRefused: the redirect is not to be followed; the `Location` is quoted only
            escaped and cut short.
    """
    try:
        target = current.join(URL(location))
    except ValueError as exc:  # yarl: a port out of range, a broken IPv6 literal, ...
        raise RedirectRefused(
            f"Refusing to follow a redirect to a Location that is not a URL ({exc}): "
            f"{quoted(location)}"
        ) from None
    if target.scheme not in ("http", "https") or not target.host:
        raise RedirectRefused(f"Refusing to follow a redirect to a {quoted(target.scheme)} URL")
    if target.user is not None or target.password is not None:
        # Credentials in a Location are the server's, not the caller's; aiohttp would send
        # them, or fail on them beside ours with a bare ValueError. WHATWG Fetch refuses such
        # a redirect too (HTTP-redirect fetch).
        raise RedirectRefused(
            "Refusing to follow a redirect to a URL with credentials (user:password@)"
        )
    if current.scheme == "https" and target.scheme == "http":
        # The whole request, prompt included, would go out unencrypted. Java's HttpClient
        # (Redirect.NORMAL: "Always redirect, except from HTTPS URLs to HTTP URLs") and .NET's
        # HttpClient (dotnet/runtime#21446) do not follow such a redirect either.
        raise RedirectRefused(
            f"Refusing to follow a redirect from https to http ({quoted(str(target))}): "
            "the request would be sent unencrypted; use the https URL as base_url, or the "
            "http one if that is really meant"
        )
    return target
