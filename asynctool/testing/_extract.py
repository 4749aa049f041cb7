"""Reading a request's text the way the demo planner needs: words, stems, and argument values.

Nothing here is clever, on purpose: tokens are runs of letters and digits (snake_case and
camelCase names split too), stems drop one common English suffix, and argument values are
found by shape (quoted strings, ids such as `order_12345`, numbers, capitalised place names,
dates, e-mail addresses, URLs, enum values named in the text). The same input always gives the
same output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["Candidates", "find_candidates", "stems", "words"]

_WORD = re.compile(r"[A-Za-z]+|\d+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SUFFIXES = ("ations", "ation", "ings", "ies", "ing", "ed", "es", "al", "ly", "s", "e", "y")
# Words that point at the same tool as another word, stemmed at import like any other word.
_SYNONYM_WORDS = {
    "forecast": "weather", "temperature": "weather", "rain": "weather", "sunny": "weather",
    "snow": "weather", "wind": "weather", "climate": "weather", "humid": "weather",
    "warm": "weather", "hot": "weather", "cold": "weather",
    "arrive": "delivery", "ship": "delivery", "package": "delivery", "parcel": "delivery",
    "track": "delivery", "find": "search", "look": "search", "lookup": "search",
    "cost": "price", "much": "price", "mail": "email",
}  # fmt: skip
STOP = frozenset(
    "a an the is are was were be been what whats when where who whom which how will would "
    "can could should please me my i you your it its in on at for of to and or with this that "
    "these those do does did get tell give know need want call use whenever example current "
    "given some like about s t there here any from by as into if so than then us we our "
    "let lets show check just also".split()
)
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|(?<!\w)'([^']{2,})'(?!\w)")
_ID = re.compile(r"\b(?:[A-Za-z]+[_-])+[A-Za-z]*\d[\w-]*\b|\b[A-Z]{2,}\d+\b|#\d{3,}\b")
_NUMBER = re.compile(r"(?<![\w.#-])-?\d+(?:\.\d+)?(?![\w-]|\.\d)")
_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b(?:today|tomorrow|yesterday|tonight)\b|"
    r"\b(?:next |this )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL = re.compile(r"\bhttps?://[^\s\"'<>]+")
_CAPITALISED = r"[A-Z][\w'.-]*[\w]"
# A ", XX" state code or a ", Country" belongs to the place, unless a list goes on after it:
# "Paris, France" is one place, "Paris, London and Tokyo" three. The atomic group keeps the
# lookahead from accepting "Paris, New" out of "Paris, New York and Tokyo".
_PLACE = re.compile(
    rf"{_CAPITALISED}(?:\s+(?:de |del |of |la )?{_CAPITALISED})*"
    r"(?:,\s*(?:[A-Z]{2}\b|(?>[A-Z][a-z]+(?:\s[A-Z][a-z]+)*)(?!\s*,|\s+(?:and|or)\b)))?"
)
_NOT_PLACES = frozenset(
    "i compare find search tell show give check list get book send what when where why how "
    "is are can could will would please hi hello thanks monday tuesday wednesday thursday "
    "friday saturday sunday january february march april may june july august september "
    "october november december celsius fahrenheit".split()
)


@lru_cache(maxsize=4096)  # tool names and descriptions come back with every request
def words(text: str) -> tuple[str, ...]:
    """Lower-case words of `text`; `get_delivery_date` and `getDeliveryDate` give three."""
    return tuple(w.lower() for w in _WORD.findall(_CAMEL.sub(" ", text)))


def _strip(word: str) -> str:
    """Drop one common suffix, then a doubled final consonant (`shipping` -> `ship`)."""
    for suffix in _SUFFIXES:
        # Four letters at least stay, or `local` and `location` would share the stem `loc`.
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


_SYNONYMS = {_strip(k): _strip(v) for k, v in _SYNONYM_WORDS.items()}


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """The stem of a lower-case word, with a few synonyms mapped to one stem."""
    word = _strip(word)
    return _SYNONYMS.get(word, word)


@lru_cache(maxsize=4096)
def stems(text: str) -> tuple[str, ...]:
    """The stems of the meaningful words of `text`, in order (stop words and numbers out)."""
    return tuple(stem(w) for w in words(text) if w not in STOP and not w.isdigit())


@dataclass(slots=True)
class Candidates:
    """Values found in a text, by shape, in the order they appear."""

    text: str
    quoted: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


def find_candidates(text: str, known: frozenset[str] = frozenset()) -> Candidates:
    """Every value of every shape in `text`.

    Args:
        text: the user's message.
        known: lower-case words of the tool definitions; a capitalised one (`Weather in
            Boston`) starts a sentence, it does not name a place.
    """
    quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]
    emails = _EMAIL.findall(text)
    urls = _URL.findall(text)
    rest = _URL.sub(" ", _EMAIL.sub(" ", text))  # their digits and names are not values
    return Candidates(
        text=text,
        quoted=quoted,
        ids=[m.group().lstrip("#") for m in _ID.finditer(rest)],
        numbers=[m.group() for m in _NUMBER.finditer(rest)],
        places=_places(rest, _NOT_PLACES | STOP | known),
        dates=[m.group() for m in _DATE.finditer(rest)],
        emails=emails,
        urls=urls,
    )


def _places(text: str, common: frozenset[str]) -> list[str]:
    """Capitalised names such as `Boston` or `San Francisco, CA`, minus common leading words."""
    found = []
    for match in _PLACE.finditer(text):
        name = match.group().rstrip(".'")
        parts = name.split()
        while parts and _plain_word(parts[0]) in common:
            parts.pop(0)
        if parts and not _ID.fullmatch(parts[0]):
            found.append(" ".join(parts))
    return found


def _plain_word(word: str) -> str:
    return re.sub(r"'s$|[^\w]", "", word.lower())
