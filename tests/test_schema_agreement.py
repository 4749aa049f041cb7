"""The rule behind every tool schema: what the schema admits, the tool accepts, and what the
tool refuses, the schema refuses wherever JSON Schema can say so.

For every supported type, in each way asynctool writes a schema (a parameter of a default
`@tool`, the same parameter with a default value, `@tool(strict=True)`, and a `parse()` response
format), two properties:

- arguments generated from the emitted schema by hypothesis-jsonschema, formats honoured, are
  accepted by the tool (generation and validation both read the schema with its formats);
- values near valid ones (one part replaced, a string edited, a key added or dropped) that the
  tool refuses are refused by the schema, read by jsonschema with a format checker.

What JSON Schema cannot say is listed in the README ("What the schema cannot say") and shown one
by one at the end of this module. The examples per case are few (`_SETTINGS`): this module
runs within its share of CI's budget.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import inspect
import json
import re
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple, TypedDict

import jsonschema
import msgspec
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from msgspec import Meta

from asynctool._exceptions import OutputValidationError, ToolArgumentsError, ToolDefinitionError
from asynctool._output import OutputSpec
from asynctool._schema import FunctionSchema, function_schema

# --------------------------------------------------------------------------- the types


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(msgspec.Struct):
    x: int
    y: Annotated[float, Meta(ge=0)] = 0.0


class Closed(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    first_name: str
    tags: list[str] = []


class Cat(msgspec.Struct, tag=True):
    lives: Annotated[int, Meta(ge=0, le=9)]


class Dog(msgspec.Struct, tag=True):
    good: bool


class Row(msgspec.Struct, array_like=True):
    key: str
    value: int = 0


@dataclasses.dataclass
class Size:
    width: float
    unit: Literal["cm", "in"] = "cm"


class Movie(TypedDict):
    title: Annotated[str, Meta(min_length=1)]
    year: int


class Pair(NamedTuple):
    key: str
    value: int


class Tree(msgspec.Struct):
    label: str
    children: list[Tree] = []


class Address(pydantic.BaseModel):
    city: str = pydantic.Field(min_length=2, max_length=20)
    zip_code: str = pydantic.Field(pattern="^[0-9]{5}$", alias="zip")


class PetCat(pydantic.BaseModel):
    kind: Literal["cat"]
    lives: int = pydantic.Field(ge=0, le=9)


class PetDog(pydantic.BaseModel):
    kind: Literal["dog"]


class Account(pydantic.BaseModel):
    """Account details."""

    age: int = pydantic.Field(ge=0, lt=150)
    color: Color | None = None
    home: Address
    pet: Annotated[PetCat | PetDog, pydantic.Field(discriminator="kind")]
    created: dt.datetime
    aware: pydantic.AwareDatetime
    naive: pydantic.NaiveDatetime
    day: dt.date
    at: dt.time
    wait: dt.timedelta
    ident: uuid.UUID
    amount: Decimal
    labels: set[str] = set()


class Loose(pydantic.BaseModel):
    """What only the default (non-strict) mode can describe."""

    pair: tuple[int, str]
    counts: dict[str, int] = {}


ACCOUNT = {
    "age": 36,
    "home": {"city": "London", "zip": "01234"},
    "pet": {"kind": "cat", "lives": 9},
    "created": "2024-05-01T10:00:00Z",
    "aware": "2024-05-01T10:00:00+01:00",
    "naive": "2024-05-01T10:00:00",
    "day": "2024-05-01",
    "at": "10:00:00Z",
    "wait": "PT1H",
    "ident": "12345678-1234-5678-1234-567812345678",
    "amount": "12.50",
}

# id, annotation, an example of its JSON, whether strict mode can describe it
SUBJECTS: list[tuple[str, Any, Any, bool]] = [
    ("str", str, "a", True),
    ("str-length", Annotated[str, Meta(min_length=3, max_length=8)], "abc", True),
    ("str-pattern", Annotated[str, Meta(pattern="^[a-z]+$")], "ab", True),
    ("int", int, 3, True),
    ("int-bounds", Annotated[int, Meta(ge=-5, lt=10, multiple_of=5)], 5, True),
    ("float", Annotated[float, Meta(gt=0, le=1, multiple_of=0.25)], 0.5, True),
    ("bool", bool, True, True),
    ("none", None, None, True),
    ("optional", int | None, None, True),
    ("union", int | str, "a", True),
    ("literal", Literal["a", "b"], "b", True),
    ("literal-int", Literal[3, 5], 3, True),
    ("enum", Color, "red", True),
    ("intenum", Level, 2, True),
    ("datetime", dt.datetime, "2024-05-01T10:00:00Z", True),
    ("datetime-aware", Annotated[dt.datetime, Meta(tz=True)], "2024-05-01T10:00:00+02:00", True),
    ("datetime-naive", Annotated[dt.datetime, Meta(tz=False)], "2024-05-01T10:00:00", True),
    ("date", dt.date, "2024-05-01", True),
    ("time", dt.time, "10:00:00Z", True),
    ("time-naive", Annotated[dt.time, Meta(tz=False)], "10:00:00", True),
    ("timedelta", dt.timedelta, "P1DT2H", True),
    ("uuid", uuid.UUID, "12345678-1234-5678-1234-567812345678", True),
    ("decimal", Decimal, "1.10", True),
    ("bytes", Annotated[bytes, Meta(max_length=6)], "YWJj", True),
    ("list", Annotated[list[int], Meta(min_length=1, max_length=3)], [1], True),
    ("set", set[str], ["a"], True),
    ("tuple", tuple[int, str], [1, "a"], False),
    ("tuple-variadic", tuple[float, ...], [1.5], True),
    ("dict", dict[str, int], {"a": 1}, False),
    ("dict-int-keys", dict[int, str], {"1": "a"}, False),
    ("dict-date-keys", dict[dt.date, int], {"2024-05-01": 1}, False),
    ("struct", Point, {"x": 1}, True),
    ("struct-closed", Closed, {"firstName": "a"}, True),
    ("tagged-union", Cat | Dog, {"type": "Cat", "lives": 3}, True),
    ("array-like", Row, ["k", 1], False),
    ("dataclass", Size, {"width": 1.5}, True),
    ("typeddict", Movie, {"title": "T", "year": 1999}, True),
    ("namedtuple", Pair, ["k", 1], False),
    ("recursive", Tree, {"label": "a", "children": [{"label": "b"}]}, True),
    ("pydantic", Account, ACCOUNT, True),
    ("pydantic-loose", Loose, {"pair": [1, "a"]}, False),
    ("pydantic-list", list[Address], [{"city": "Oslo", "zip": "01234"}], True),
]
IDS = [row[0] for row in SUBJECTS]
STRICT = [row for row in SUBJECTS if row[3]]

# --------------------------------------------------------------------------- how a schema is read


def _ecma(pattern: str) -> str:
    """A pattern read as ECMA-262 reads it (JSON Schema's dialect), for Python's `re`.

    `$` ends the text there; Python's `$` also matches before a final newline. jsonschema uses
    Python's `re` as it is, so without this it would admit `"YWJj\\n"` for `^...$`.
    """
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char in "[]":
            in_class = char == "["
            out.append(char)
        else:
            out.append("\\Z" if char == "$" and not in_class else char)
    return "".join(out)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and not re.search(_ecma(pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


def validator(schema: dict[str, Any]) -> Any:
    jsonschema.Draft202012Validator.check_schema(schema)
    return _Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@functools.cache
def _checked(subject: str, way: str) -> Any:
    return validator(case(subject, way).schema)


@functools.cache
def _generated(subject: str, way: str) -> st.SearchStrategy[Any]:
    return generated(case(subject, way).schema)


# --------------------------------------------------------------------------- generation


def _duration() -> st.SearchStrategy[str]:
    """Durations as RFC 3339 appendix A writes them (years, months and weeks included)."""

    def unit(letter: str) -> st.SearchStrategy[str]:
        return st.integers(0, 10**5).map(lambda n: f"{n}{letter}")

    def then(first: st.SearchStrategy[str], rest: st.SearchStrategy[str]) -> Any:
        return st.tuples(first, st.just("") | rest).map("".join)

    second = unit("S")
    minute = then(unit("M"), second)
    hour = then(unit("H"), minute)
    time = st.tuples(st.just("T"), hour | minute | second).map("".join)
    day = unit("D")
    month = then(unit("M"), day)
    year = then(unit("Y"), month)
    dated = then(day | month | year, time)
    return st.tuples(st.just("P"), dated | time | unit("W")).map("".join)


# Formats hypothesis-jsonschema does not know. `decimal` and `partial-time`'s text is what
# their patterns say; the generic decimal strategy is there so the pattern is not its own judge.
_CUSTOM_FORMATS = {
    "duration": _duration(),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False).map(str),
}


def _draft7(node: Any, defs: dict[str, Any], depth: int = 0) -> Any:
    """The schema as hypothesis-jsonschema reads it (draft 7: no `prefixItems`, no recursion).

    `$ref`s are written out, two levels deep: deeper, a recursive type can only be empty.
    """
    if isinstance(node, list):
        return [_draft7(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        if depth > 1:
            return {"not": {}}
        body = defs[node["$ref"].rpartition("/")[2]]
        return _draft7({**body, **{k: v for k, v in node.items() if k != "$ref"}}, defs, depth + 1)
    out = {
        k: _draft7(v, defs, depth) for k, v in node.items() if k not in ("$defs", "discriminator")
    }
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = False
    return out


def _without_formats(node: Any) -> Any:
    """The same schema with `format` left out, so that strings come from the patterns alone."""
    if isinstance(node, list):
        return [_without_formats(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: _without_formats(v) for k, v in node.items() if k != "format"}


def generated(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances of `schema`: from its formats, and from its patterns alone."""
    readable = _draft7(schema, schema.get("$defs", {}))
    return st.one_of(
        from_schema(readable, custom_formats=_CUSTOM_FORMATS),
        from_schema(_without_formats(readable), custom_formats=_CUSTOM_FORMATS),
    )


# --------------------------------------------------------------------------- the ways of writing


@dataclasses.dataclass(frozen=True)
class Case:
    """One type written one way: its schema, and the tool's (or parse's) verdict on a value."""

    schema: dict[str, Any]
    accepts: Callable[[Any], bool]


def _fn(annotation: Any, default: Any = inspect.Parameter.empty) -> Callable[..., Any]:
    def fn(x):  # type: ignore[no-untyped-def]
        return x

    fn.__annotations__ = {"x": annotation}
    if default is not inspect.Parameter.empty:
        fn.__defaults__ = (default,)
    return fn


def _tool_verdict(schema: FunctionSchema) -> Callable[[Any], bool]:
    def accepts(arguments: Any) -> bool:
        try:
            schema.decode(json.dumps(arguments), tool="t")
        except ToolArgumentsError:
            return False
        return True

    return accepts


def _output_verdict(spec: OutputSpec[Any]) -> Callable[[Any], bool]:
    def accepts(answer: Any) -> bool:
        try:
            spec.parse(json.dumps(answer))
        except OutputValidationError:
            return False
        return True

    return accepts


_SENTINEL = object()  # a default the schema does not show: any value of the type will do


@functools.cache
def case(subject: str, way: str) -> Case:
    annotation = next(row[1] for row in SUBJECTS if row[0] == subject)
    if way == "output":
        spec: OutputSpec[Any] = OutputSpec(annotation)
        return Case(spec.schema, _output_verdict(spec))
    fn = _fn(annotation, _SENTINEL) if way.endswith("defaulted") else _fn(annotation)
    schema = function_schema(fn, strict=way.startswith("strict"))
    return Case(schema.parameters, _tool_verdict(schema))


# A parameter with a default is written the same way whatever its type (`T | Unset`, nullable in
# strict mode), so a few types stand for all there.
DEFAULTED = {"str-length", "int-bounds", "datetime", "decimal", "struct", "tagged-union"}


def _ways(subject: str, strict_ok: bool) -> list[str]:
    ways = ["default", "strict", "output"] if strict_ok else ["default"]
    if subject in DEFAULTED:
        ways += [f"{way}-defaulted" for way in ways if way != "output"]
    return ways


PARAMS = [
    pytest.param(subject, way, id=f"{subject}-{way}")
    for subject, _, _, strict_ok in SUBJECTS
    for way in _ways(subject, strict_ok)
]

_SETTINGS = settings(
    max_examples=5,
    deadline=None,
    database=None,  # a failure is shrunk and printed; nothing to replay in CI's fresh clone
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_every_supported_type_is_covered_in_every_way() -> None:
    assert len(PARAMS) == 3 * len(STRICT) + (len(SUBJECTS) - len(STRICT)) + 2 * len(DEFAULTED)
    for subject, way in (p.values for p in PARAMS):
        validator(case(subject, way).schema)  # each a valid draft 2020-12 schema
    for subject, _, _, strict_ok in SUBJECTS:
        if not strict_ok:
            with pytest.raises(ToolDefinitionError, match="cannot be used with strict=True"):
                case(subject, "strict")


@pytest.mark.parametrize(("subject", "way"), PARAMS)
@_SETTINGS
@given(data=st.data())
def test_what_the_schema_admits_the_tool_accepts(subject: str, way: str, data: Any) -> None:
    tested = case(subject, way)
    instance = data.draw(_generated(subject, way))
    if not _checked(subject, way).is_valid(instance):
        return  # hypothesis-jsonschema drew outside the schema (a day 31 in April): not ours
    assert tested.accepts(instance), instance


# --------------------------------------------------------------------------- near misses

_OTHER_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    # Not an integral float: 1.0 for an int is the one value JSON Schema cannot tell from 1
    # (test_an_integral_float_for_an_int below).
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(max_size=6),
    st.sampled_from(
        [
            *("0000-01-01", "2024-02-30", "23:59:60Z", "2024-05-01T23:59:60Z", "P1Y", "P1W"),
            *("PT1.5S", "-P1D", "NaN", "Infinity", " 1", "1_000", "1e99999999999", "YWJ", "+1"),
            *("01", "-0", "10:00:00", "2024-05-01T10:00:00", "2024-05-01T10:00:00Z", "[]"),
        ]
    ),
    st.just([]),
    st.just({}),
)


@st.composite
def _edited(draw: Any, text: str) -> str:
    """A string one character off: inserted, deleted, replaced, or its case changed."""
    edit = draw(st.sampled_from(["insert", "delete", "replace", "case"]))
    if edit == "case" or not text:
        return text.swapcase() if text else draw(st.text(min_size=1, max_size=2))
    at = draw(st.integers(0, len(text) - 1))
    char = draw(st.sampled_from("09aZTtz:.-+ \n_é٣"))
    if edit == "insert":
        return text[:at] + char + text[at:]
    if edit == "delete":
        return text[:at] + text[at + 1 :]
    return text[:at] + char + text[at + 1 :]


def _parts(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    return [at, *(p for key, child in children for p in _parts(child, (*at, key)))]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _put(value[path[0]], path[1:], new)
    return copy


@st.composite
def near(draw: Any, value: Any) -> Any:
    """`value` changed in one place: a part replaced or edited, a key added or left out."""
    path = draw(st.sampled_from(_parts(value)))
    part = _at(value, path)
    kind = draw(st.sampled_from(["replace", "edit", "key"]))
    if kind == "edit" and isinstance(part, str):
        return _put(value, path, draw(_edited(part)))
    if kind == "edit" and isinstance(part, int) and not isinstance(part, bool):
        return _put(value, path, part + draw(st.sampled_from([-1, 1, 10**20])))
    if kind == "edit" and isinstance(part, float):
        return _put(value, path, draw(st.sampled_from([part / 2 + 0.25, -part - 0.5])))
    if kind == "key" and isinstance(part, dict):
        if part and draw(st.booleans()):
            gone = draw(st.sampled_from(sorted(part)))
            return _put(value, path, {k: v for k, v in part.items() if k != gone})
        return _put(value, path, {**part, draw(st.text(max_size=4)): draw(_OTHER_VALUES)})
    return _put(value, path, draw(_OTHER_VALUES))


@pytest.mark.parametrize(("subject", "way"), PARAMS)
@_SETTINGS
@given(data=st.data())
def test_what_the_tool_refuses_the_schema_refuses(subject: str, way: str, data: Any) -> None:
    tested = case(subject, way)
    check = _checked(subject, way)
    start = data.draw(_generated(subject, way))
    if not check.is_valid(start):
        return
    for _ in range(6):  # several near misses of one valid value: most are refused by both
        candidate = data.draw(near(start))
        if not tested.accepts(candidate):
            assert not check.is_valid(candidate), candidate


# --------------------------------------------------------------------------- known near misses
# Values that differ from valid ones in what a format alone leaves open; each is refused by the
# tool, and by the schema because of its pattern.

REFUSED = [
    ("datetime", "2024-05-01T23:59:60Z"),  # a leap second: RFC 3339 has it, Python has not
    ("datetime", "0000-01-01T00:00:00Z"),  # year 0000
    ("datetime-naive", "2024-05-01T10:00:00Z"),  # an offset on a naive one
    ("datetime-naive", "tomorrow"),
    ("datetime-naive", "2023-02-29T10:00:00"),  # no format says it: the pattern knows the calendar
    ("datetime-naive", "2024-04-31T10:00:00"),
    ("date", "0000-12-31"),
    ("time", "23:59:60Z"),
    ("time-naive", "noon"),
    ("timedelta", "P1Y"),  # years, months and weeks have no fixed length
    ("timedelta", "P1M"),
    ("timedelta", "P2W"),
    ("timedelta", "P1000000000D"),  # longer than a timedelta can be
    ("decimal", "one"),
    ("decimal", "1e9999999999999999999"),
    ("bytes", "YWJ"),  # base64 without its padding
    ("dict-int-keys", {"+1": "a"}),
    ("dict-int-keys", {"one": "a"}),
    ("str-length", "ab"),  # the issue's `min_length=3` username, also in strict mode
]


# Strict mode has no mappings (a `dict` type is a definition error there): those near misses
# are tried in default mode only.
NEAR_MISSES = [
    (subject, value, way)
    for subject, value in REFUSED
    for way in ("default", "strict", "output")
    if way == "default" or not subject.startswith("dict")
]


@pytest.mark.parametrize(("subject", "value", "way"), NEAR_MISSES)
def test_a_known_near_miss_is_refused_by_both(subject: str, value: Any, way: str) -> None:
    tested = case(subject, way)
    instance = {"value" if way == "output" else "x": value}  # parse() wraps what is no object
    assert not tested.accepts(instance)
    assert not validator(tested.schema).is_valid(instance)


def test_the_naive_date_time_pattern_knows_the_calendar() -> None:
    # Every day of a 400-year cycle and the centuries around it, the Gregorian rule's whole span.
    pattern = re.compile(
        function_schema(_fn(Annotated[dt.datetime, Meta(tz=False)])).parameters["properties"]["x"][
            "pattern"
        ]
    )
    for year in [*range(1, 410), 1700, 1800, 1900, 2000, 2100, 9996, 9999]:
        for month in range(1, 13):
            for day in range(1, 32):
                try:
                    exists = bool(dt.date(year, month, day))
                except ValueError:
                    exists = False
                text = f"{year:04d}-{month:02d}-{day:02d}T00:00:00"
                assert bool(pattern.match(text)) == exists, text


@pytest.mark.parametrize(("annotation", "example"), [row[1:3] for row in SUBJECTS], ids=IDS)
def test_each_example_is_admitted_and_accepted(annotation: Any, example: Any) -> None:
    schema = function_schema(_fn(annotation))
    assert validator(schema.parameters).is_valid({"x": example})
    assert "x" in schema.decode(json.dumps({"x": example}), tool="t")


# --------------------------------------------------------------------------- what cannot be said
# Each case the README lists under "What the schema cannot say": the schema admits the value,
# and the tool refuses it, because no JSON Schema keyword can tell the two apart.


def _both(annotation: Any, arguments: str) -> tuple[bool, bool]:
    """(schema admits, tool accepts) for JSON `arguments` of `fn(x: annotation)`."""
    schema = function_schema(_fn(annotation))
    admits = validator(schema.parameters).is_valid(json.loads(arguments))
    try:
        schema.decode(arguments, tool="t")
    except ToolArgumentsError:
        return admits, False
    return admits, True


def test_an_integral_float_for_an_int() -> None:
    # JSON Schema's data model has numbers, not ints and floats: 1.0 is an integer
    # (draft 2020-12 core, section 4.2.2); msgspec refuses a float for an int.
    assert _both(int, '{"x": 1.0}') == (True, False)


def test_a_number_beyond_a_double() -> None:
    # RFC 8259 section 6 lets implementations limit numbers to IEEE 754 doubles; msgspec does.
    schema = function_schema(_fn(float))
    with pytest.raises(ToolArgumentsError, match="number out of range"):
        schema.decode('{"x": 1e400}', tool="t")
    assert validator(schema.parameters).is_valid({"x": 10**400})


def test_a_fractional_multiple_of() -> None:
    # msgspec computes `multiple_of` in floating point; JSON Schema asks for exact arithmetic.
    assert _both(Annotated[float, Meta(multiple_of=0.1)], '{"x": 1.1}') == (True, False)


def test_a_pydantic_validator() -> None:
    class Even(pydantic.BaseModel):
        n: int

        @pydantic.field_validator("n")
        @classmethod
        def even(cls, n: int) -> int:
            if n % 2:
                raise ValueError("n must be even")
            return n

    schema = function_schema(_fn(Even))
    with pytest.raises(ToolArgumentsError, match=r"argument `x.n`: value error, n must be even"):
        schema.decode('{"x": {"n": 3}}', tool="t")
    assert validator(schema.parameters).is_valid({"x": {"n": 3}})


def test_bounds_of_a_pydantic_decimal_or_date_are_told_in_the_description() -> None:
    class Bounded(pydantic.BaseModel):
        price: Decimal = pydantic.Field(gt=0, max_digits=5)
        due: dt.date = pydantic.Field(ge=dt.date(2024, 1, 1))

    schema = function_schema(_fn(Bounded)).parameters["$defs"]["Bounded"]["properties"]
    assert schema["price"]["description"] == "gt: 0, max_digits: 5"
    assert schema["due"]["description"] == "ge: 2024-01-01"
    assert _both(Bounded, '{"x": {"price": "-1", "due": "2024-05-01"}}') == (True, False)


def test_import_asynctool_imports_no_pydantic() -> None:
    import subprocess

    # Nor does defining and running a tool, strict or not, or a response format.
    code = (
        "import asyncio, datetime, decimal, sys, asynctool\n"
        "from asynctool._output import OutputSpec\n"
        "def f(when: datetime.datetime, amount: decimal.Decimal) -> str:\n"
        "    return str(amount)\n"
        "t = asynctool.tool(strict=True)(f)\n"
        'asyncio.run(t.run(\'{"when": "2024-05-01T10:00:00Z", "amount": "1"}\'))\n'
        "OutputSpec(list[int])\n"
        "print('pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- pydantic at the edges


def test_a_pydantic_argument_that_does_not_fit_names_the_argument_and_why() -> None:
    schema = function_schema(_fn(list[Address]))
    with pytest.raises(ToolArgumentsError) as info:
        schema.decode(
            '{"x": [{"city": "Oslo", "zip": "01234"}, {"city": "O", "zip": "0123"}]}', tool="t"
        )
    assert str(info.value) == (  # pydantic's every reason for the first item that fails
        't: argument `x[1].city`: string should have at least 2 characters, got "O"; '
        "argument `x[1].zip`: string should match pattern '^[0-9]{5}$', got \"0123\""
    )
    assert info.value.path == "$.x[1].city"


def test_a_pydantic_response_format_is_parsed_by_pydantic() -> None:
    spec: OutputSpec[Any] = OutputSpec(Address)
    assert spec.response_format["json_schema"]["schema"]["properties"]["zip"] == {
        "pattern": "^[0-9]{5}$",
        "title": "Zip",
        "type": "string",
    }
    assert spec.parse('{"city": "Oslo", "zip": "01234"}') == Address(city="Oslo", zip="01234")
    with pytest.raises(OutputValidationError, match=r"fit Address: .* at `\$.city`") as info:
        spec.parse('{"city": "O", "zip": "01234"}')
    assert info.value.path == "$.city"


def test_a_pydantic_dataclass_is_refused_rather_than_built_without_its_validation() -> None:
    @pydantic.dataclasses.dataclass
    class Checked:
        n: int = pydantic.Field(ge=0)

    with pytest.raises(ToolDefinitionError, match=r"fn: parameter `x`: .*pydantic dataclass"):
        function_schema(_fn(Checked))


def test_a_pydantic_1_model_is_refused() -> None:
    import pydantic.v1

    class Old(pydantic.v1.BaseModel):
        n: int

    with pytest.raises(ToolDefinitionError, match=r"fn: parameter `x`: .*neither describe nor"):
        function_schema(_fn(Old))


def test_a_pattern_is_read_in_two_dialects() -> None:
    # msgspec checks `Meta(pattern=...)` with Python's `re`; JSON Schema reads it as ECMA-262,
    # whose `\s` includes U+FEFF (ECMA-262, WhiteSpace). The schema admits "\ufeff" there.
    schema = function_schema(_fn(Annotated[str, Meta(pattern="^\\s$")]))
    assert schema.parameters["properties"]["x"]["pattern"] == "^\\s$"
    with pytest.raises(ToolArgumentsError, match="matching regex"):
        schema.decode('{"x": "\\ufeff"}', tool="t")


def test_a_float_key_and_the_bounds_of_an_int_key() -> None:
    assert _both(dict[float, int], '{"x": {"a": 1}}') == (True, False)
    assert _both(dict[Annotated[int, Meta(ge=0)], int], '{"x": {"-1": 1}}') == (True, False)


def test_a_lone_surrogate() -> None:
    schema = function_schema(_fn(str))
    with pytest.raises(ToolArgumentsError):
        schema.decode('{"x": "\\ud800"}', tool="t")
    assert validator(schema.parameters).is_valid({"x": "\ud800"})


def test_pydantic_bytes_read_as_base64() -> None:
    if "val_json_bytes" not in pydantic.ConfigDict.__annotations__:
        pytest.skip(f"pydantic {pydantic.VERSION} reads bytes as UTF-8 only")

    class Blob(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(val_json_bytes="base64")
        data: bytes

    assert _both(Blob, '{"x": {"data": "*"}}') == (True, False)


def test_pydantic_definitions_share_the_signatures_names() -> None:
    def make() -> type[msgspec.Struct]:
        class Address(msgspec.Struct):  # the name of the pydantic model inside `Home`
            street: str

        return Address

    class Home(pydantic.BaseModel):
        address: Address

    def fn(mine, home, again):  # type: ignore[no-untyped-def]
        pass

    fn.__annotations__ = {"mine": make(), "home": Home, "again": list[Home]}
    schema = function_schema(fn).parameters
    assert list(schema["$defs"]) == ["Address", "Home", "Address_2"]
    assert schema["$defs"]["Address"]["properties"] == {"street": {"type": "string"}}
    assert schema["$defs"]["Home"]["properties"]["address"] == {"$ref": "#/$defs/Address_2"}
    assert schema["properties"]["again"]["items"] == {"$ref": "#/$defs/Home"}
    home = {"address": {"city": "Oslo", "zip": "01234"}}
    assert validator(schema).is_valid({"mine": {"street": "s"}, "home": home, "again": [home]})
