"""What a value sent as a string looks like: the format a model is told, and the exact pattern.

A `format` alone does not make a schema refuse what the decoder refuses. JSON Schema 2020-12
makes `format` an annotation unless a validator opts in (section 7.2 of the validation
vocabulary), the formats that exist do not cover every type (no format names a naive
date-time, a decimal number or base64 text), and where one exists it admits values Python
cannot hold: RFC 3339 allows year 0000 and the leap second `23:59:60`, `datetime` has neither.
So each schema below also carries a `pattern` (ECMA-262, which OpenAI's strict mode keeps) that
matches exactly the text the decoders accept, where a regular expression can say it, and
otherwise a subset of it. msgspec and pydantic were measured to accept everything each pattern
matches (tests/test_schema_agreement.py generates from these schemas and decodes); what a
pattern cannot say is listed in the README ("What the schema cannot say").

Digits are `[0-9]`, never `\\d`: Python's `re` (and so jsonschema) reads `\\d` as any Unicode
digit, ECMA-262 as ASCII only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BASE64_PATTERN",
    "DECIMAL",
    "DURATION",
    "INTEGER_KEY_PATTERN",
    "date",
    "date_time",
    "time",
]

# RFC 3339 section 5.6, less what Python's datetime cannot hold: year 0000 and second 60.
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
# Day 31 of a 30-day month, or 29 February of a common year, is left to `format` where there is
# one, which keeps the pattern short.
_DATE = f"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
# Where there is none (a naive date-time), the calendar itself: the days of each month, and 29
# February in the years the Gregorian rule makes leap years (divisible by 4, centuries by 400).
_LEAP = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_CALENDAR_DATE = (
    f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    f"|{_LEAP}-02-29)"
)
# Any number of fraction digits: both decoders keep the first six and drop the rest.
_CLOCK = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?"
_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
# Digits bounded so that no sum of them passes timedelta's 999,999,999 days (10**8 days,
# 10**9 hours, 10**10 minutes and 10**11 seconds make 1.5 * 10**8 days): longer durations,
# some 270,000 years, are refused by the pattern rather than by the decoder.
_H, _M, _S = "[0-9]{1,9}H", "[0-9]{1,10}M", "[0-9]{1,11}S"
_DURATION_TIME = f"(?:{_H}(?:{_M})?(?:{_S})?|{_M}(?:{_S})?|{_S})"

DURATION: dict[str, Any] = {
    "type": "string",
    "format": "duration",
    # RFC 3339 appendix A, less years, months and weeks, which have no fixed length and which
    # msgspec refuses ("Only units 'D', 'H', 'M', and 'S' are supported").
    "pattern": f"^P(?:[0-9]{{1,8}}D|(?:[0-9]{{1,8}}D)?T{_DURATION_TIME})$",
}
DECIMAL: dict[str, Any] = {
    "type": "string",
    # Not a JSON Schema format: it tells the model what the string holds; the pattern checks it.
    "format": "decimal",
    # Python's decimal syntax (the `decimal` module's documentation, "numeric-string") in ASCII,
    # finite numbers only. The decoder also takes NaN, Infinity, spaces around the number, `_`
    # between digits and non-ASCII digits, none of which a model needs to be told. An exponent
    # of 19 digits or more is refused by the decoder (msgspec: "Invalid decimal string").
    "pattern": "^[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?$",
}
# RFC 4648 section 4, with its padding, which msgspec requires.
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# How msgspec reads an integer key of a JSON object: no sign but `-`, no leading zero.
INTEGER_KEY_PATTERN = "^-?(?:0|[1-9][0-9]*)$"


def date_time(*, naive: bool) -> dict[str, Any]:
    """A `datetime`: RFC 3339 `date-time`, which requires an offset, or a naive one.

    No format names a date-time without an offset (RFC 3339 has none), so a naive one is only
    a pattern, calendar included. Both decoders also take a space for the `T` there.
    """
    if naive:
        return {"type": "string", "pattern": f"^{_CALENDAR_DATE}[Tt ]{_CLOCK}$"}
    return {"type": "string", "format": "date-time", "pattern": f"^{_DATE}[Tt]{_CLOCK}{_OFFSET}$"}


def time(*, naive: bool) -> dict[str, Any]:
    """A `time`: RFC 3339 `time` (full-time, with an offset), or `partial-time` without one."""
    if naive:
        # `partial-time` is RFC 3339's name, not a JSON Schema format: the pattern checks it.
        return {"type": "string", "format": "partial-time", "pattern": f"^{_CLOCK}$"}
    return {"type": "string", "format": "time", "pattern": f"^{_CLOCK}{_OFFSET}$"}


def date() -> dict[str, Any]:
    """A `date`: RFC 3339 `date` (full-date)."""
    return {"type": "string", "format": "date", "pattern": f"^{_DATE}$"}
