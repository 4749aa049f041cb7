"""The demo's agent and its tools: two stand-ins for remote services, one that computes locally.

`get_delivery_date` and `get_weather` are the two functions of the OpenAI function-calling
guide. They answer with made-up sample data (derived from their arguments, so the same question
gets the same answer) after a short pause that stands in for a network round trip, which makes
the concurrent execution of one turn's calls visible. `get_local_time` does real work: it finds
the city's IANA time zone and reads the clock there with `zoneinfo`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import Agent, AsyncClient, tool

__all__ = [
    "DEFAULT_PROMPT",
    "INSTRUCTIONS",
    "TOOLS",
    "build_agent",
    "find_zone",
    "get_delivery_date",
    "get_local_time",
    "get_weather",
]

DEFAULT_PROMPT = "When will order_12345 arrive, and what's the weather in Boston?"
INSTRUCTIONS = (
    "You are a helpful customer support assistant for an online shop. Use the supplied tools "
    "to answer questions about deliveries, the weather and the local time; answer briefly."
)
SIMULATED_LATENCY = 0.2
"""Seconds each stand-in for a remote service waits before it answers."""

_SKIES = ("sunny", "partly cloudy", "overcast", "light rain", "windy", "clear")
# Cities whose zone is not named after them; any other city is tried as `<Area>/<City>`.
_CITY_ZONES = {
    "boston": "America/New_York",
    "washington": "America/New_York",
    "miami": "America/New_York",
    "atlanta": "America/New_York",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "austin": "America/Chicago",
    "dallas": "America/Chicago",
    "beijing": "Asia/Shanghai",
    "mumbai": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "munich": "Europe/Berlin",
    "barcelona": "Europe/Madrid",
    "milan": "Europe/Rome",
}
_AREAS = ("America", "Europe", "Asia", "Africa", "Australia", "Pacific", "Atlantic", "Indian")


@tool
async def get_delivery_date(order_id: str) -> str:
    """Get the delivery date for a customer's order. Call this whenever you need to know
    the delivery date, for example when a customer asks 'Where is my package'.

    Args:
        order_id: The customer's order ID.
    """
    await asyncio.sleep(SIMULATED_LATENCY)
    arrival = date.today() + timedelta(days=1 + _digest(order_id) % 5)
    return f"Order {order_id} is in transit, expected on {arrival:%A %d %B %Y} (sample data)."


@tool
async def get_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA.
        unit: Temperature unit.
    """
    await asyncio.sleep(SIMULATED_LATENCY)
    seed = _digest(location.strip().lower())
    celsius = seed % 30 - 2
    sky = _SKIES[seed // 30 % len(_SKIES)]
    degrees = f"{celsius} °C" if unit == "celsius" else f"{round(celsius * 9 / 5 + 32)} °F"
    return f"{location}: {degrees}, {sky} (sample data)."


@tool
def get_local_time(city: str) -> str:
    """Get the current local time in a city, from the IANA time zone database.

    Args:
        city: A city such as Tokyo or New York, or an IANA time zone such as Europe/Paris.
    """
    zone = find_zone(city)
    now = datetime.now(zone)
    return f"It is {now:%H:%M} on {now:%A %d %B} in {city} ({zone.key}, UTC{_offset(now)})."


TOOLS = (get_delivery_date, get_weather, get_local_time)
"""The demo's tools, in the order they are offered to the model."""


def build_agent(
    client: AsyncClient, model: str, *, extra_tools: Sequence[Any] = (), **options: Any
) -> Agent[Any]:
    """The demo's agent: its instructions and `TOOLS` (and `extra_tools`, such as MCP
    servers); `options` go to `Agent`."""
    tools = [*TOOLS, *extra_tools]
    return Agent(client, model=model, tools=tools, instructions=INSTRUCTIONS, **options)


def find_zone(place: str) -> ZoneInfo:
    """The time zone of a city (`Tokyo`, `New York, NY`) or an IANA key (`Europe/Paris`).

    Raises:
        ValueError: no zone is known for `place`; the message says what would work.
    """
    name = place.split(",")[0].strip()
    keys = [name] if "/" in name or name.upper() == "UTC" else []
    keys += [_CITY_ZONES.get(name.lower(), "")]
    keys += [f"{area}/{name.title().replace(' ', '_')}" for area in _AREAS]
    for key in filter(None, keys):
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, unreadable
            continue
    raise ValueError(
        f"no time zone is known for {place!r}; give a bigger city nearby or an IANA time "
        "zone such as Europe/Paris"
    )


def _offset(moment: datetime) -> str:
    """`+09:00`, `-04:00`, `+05:30`: the UTC offset in the form people read."""
    minutes = int((moment.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def _digest(text: str) -> int:
    """A number stable across runs (unlike `hash`, which is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")
