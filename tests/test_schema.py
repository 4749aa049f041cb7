"""Signature -> msgspec type -> JSON Schema: every supported type, docstrings, strict mode."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, NamedTuple, Optional, TypedDict, TypeVar

import jsonschema
import msgspec
import pytest
from msgspec import Meta

import asynctool._schema
from asynctool._docstrings import DocstringWarning, parse_docstring
from asynctool._exceptions import (
    AsyncToolError,
    SchemaError,
    ToolArgumentsError,
    ToolDefinitionError,
)
from asynctool._schema import FunctionSchema, function_schema, schema_for_type
from asynctool._strict import to_strict_schema

# --------------------------------------------------------------------------- helpers

T = TypeVar("T")


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"
    SLOW = "slow"


class Point(msgspec.Struct):
    """A point on the grid."""

    x: int
    y: int = 0


@dataclasses.dataclass
class Size:
    width: float
    height: float = 1.0


class Movie(TypedDict):
    title: str
    year: int


class MovieFilter(TypedDict, total=False):
    title: str
    year: int


class Pair(NamedTuple):
    key: str
    value: int


class Tree(msgspec.Struct):
    label: str
    children: list[Tree] = []


def make_fn(annotation: Any = inspect.Parameter.empty, default: Any = inspect.Parameter.empty):
    """A function `fn(x)` with the given annotation and default."""

    def fn(x):  # type: ignore[no-untyped-def]
        return x

    if annotation is not inspect.Parameter.empty:
        fn.__annotations__ = {"x": annotation}
    if default is not inspect.Parameter.empty:
        fn.__defaults__ = (default,)
    return fn


def check_valid_schema(schema: dict[str, Any], instance: Any = inspect.Parameter.empty) -> None:
    """Valid draft 2020-12, with every `$ref` resolvable inside the schema itself."""
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for node in walk(schema):
        if "$ref" in node:
            assert node["$ref"].removeprefix("#/$defs/") in schema["$defs"], node["$ref"]
    if instance is not inspect.Parameter.empty:
        validator.validate(instance)


def walk(schema: Any) -> Iterator[dict[str, Any]]:
    """Every subschema of a schema."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("properties", "$defs"):
        for sub in schema.get(key, {}).values():
            yield from walk(sub)
    for key in ("items", "additionalProperties"):
        yield from walk(schema.get(key))
    for key in ("anyOf", "prefixItems"):
        for sub in schema.get(key, []):
            yield from walk(sub)


def prop(fn: Callable[..., Any], name: str = "x", **options: Any) -> dict[str, Any]:
    return function_schema(fn, **options).parameters["properties"][name]


# --------------------------------------------------------------------------- every type

UTC = dt.UTC
TYPES = [
    # id, annotation, part of the property schema, valid JSON, its value, an invalid JSON
    ("str", str, {"type": "string"}, '"a"', "a", "1"),
    ("int", int, {"type": "integer"}, "3", 3, '"3"'),
    ("float", float, {"type": "number"}, "1.5", 1.5, '"x"'),
    ("bool", bool, {"type": "boolean"}, "true", True, "1"),
    ("none", None, {"type": "null"}, "null", None, "0"),
    (
        "optional",
        Optional[int],  # noqa: UP045 - the spelling under test
        {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "null",
        None,
        '"1"',
    ),
    ("union-none", int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "2", 2, "[]"),
    ("union", int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}, '"a"', "a", "1.5"),
    ("literal", Literal["a", "b"], {"enum": ["a", "b"]}, '"b"', "b", '"c"'),
    ("enum", Color, {"$ref": "#/$defs/Color"}, '"red"', Color.RED, '"blue"'),
    ("intenum", Level, {"$ref": "#/$defs/Level"}, "2", Level.HIGH, "3"),
    ("strenum", Mode, {"$ref": "#/$defs/Mode"}, '"fast"', Mode.FAST, '"quick"'),
    (
        "list",
        list[int],
        {"type": "array", "items": {"type": "integer"}},
        "[1, 2]",
        [1, 2],
        '[1, "2"]',
    ),
    (
        "tuple",
        tuple[int, str],
        {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
        '[1, "a"]',
        (1, "a"),
        "[1]",
    ),
    (
        "tuple-variadic",
        tuple[int, ...],
        {"type": "array", "items": {"type": "integer"}},
        "[1, 2]",
        (1, 2),
        '["a"]',
    ),
    ("set", set[int], {"type": "array", "uniqueItems": True}, "[1, 2]", {1, 2}, "[[1]]"),
    (
        "frozenset",
        frozenset[str],
        {"type": "array", "uniqueItems": True},
        '["a"]',
        frozenset({"a"}),
        "[1]",
    ),
    (
        "dict",
        dict[str, int],
        {"type": "object", "additionalProperties": {"type": "integer"}},
        '{"a": 1}',
        {"a": 1},
        '{"a": "b"}',
    ),
    ("struct", Point, {"$ref": "#/$defs/Point"}, '{"x": 1}', Point(1, 0), '{"y": 1}'),
    ("dataclass", Size, {"$ref": "#/$defs/Size"}, '{"width": 2}', Size(2.0, 1.0), '{"width": "w"}'),
    (
        "typeddict",
        Movie,
        {"$ref": "#/$defs/Movie"},
        '{"title": "T", "year": 1}',
        {"title": "T", "year": 1},
        '{"title": "T"}',
    ),
    ("typeddict-partial", MovieFilter, {"$ref": "#/$defs/MovieFilter"}, "{}", {}, '{"year": "x"}'),
    ("namedtuple", Pair, {"$ref": "#/$defs/Pair"}, '["k", 1]', Pair("k", 1), '["k"]'),
    (
        "ge-le",
        Annotated[int, Meta(ge=1, le=5)],
        {"type": "integer", "minimum": 1, "maximum": 5},
        "5",
        5,
        "6",
    ),
    (
        "gt-lt",
        Annotated[float, Meta(gt=0, lt=1)],
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "0.5",
        0.5,
        "1",
    ),
    ("multiple-of", Annotated[int, Meta(multiple_of=5)], {"multipleOf": 5}, "10", 10, "11"),
    (
        "str-length",
        Annotated[str, Meta(min_length=2, max_length=3)],
        {"type": "string", "minLength": 2, "maxLength": 3},
        '"ab"',
        "ab",
        '"abcd"',
    ),
    (
        "pattern",
        Annotated[str, Meta(pattern="^[a-z]+$")],
        {"pattern": "^[a-z]+$"},
        '"ab"',
        "ab",
        '"AB"',
    ),
    (
        "list-length",
        Annotated[list[int], Meta(min_length=1, max_length=2)],
        {"type": "array", "minItems": 1, "maxItems": 2},
        "[1]",
        [1],
        "[]",
    ),
    (
        "examples",
        Annotated[str, Meta(examples=["Paris"], description="A city.")],
        {"type": "string", "examples": ["Paris"], "description": "A city."},
        '"Rome"',
        "Rome",
        "1",
    ),
    (
        "datetime",
        dt.datetime,
        {"type": "string", "format": "date-time"},
        '"2024-05-01T10:00:00Z"',
        dt.datetime(2024, 5, 1, 10, tzinfo=UTC),
        '"tomorrow"',
    ),
    (
        "datetime-aware",
        Annotated[dt.datetime, Meta(tz=True)],
        {"type": "string", "format": "date-time"},
        '"2024-05-01T10:00:00+00:00"',
        dt.datetime(2024, 5, 1, 10, tzinfo=UTC),
        '"2024-05-01T10:00:00"',
    ),
    (
        "date",
        dt.date,
        {"type": "string", "format": "date"},
        '"2024-05-01"',
        dt.date(2024, 5, 1),
        '"May 1"',
    ),
    (
        "time",
        dt.time,
        {"type": "string", "format": "time"},
        '"10:30:00Z"',  # the schema asks for an offset (the decoder also takes a naive time)
        dt.time(10, 30, tzinfo=UTC),
        '"noon"',
    ),
    (
        "timedelta",
        dt.timedelta,
        {"format": "duration"},
        '"PT1M"',
        dt.timedelta(minutes=1),
        '"1 min"',
    ),
    (
        "uuid",
        uuid.UUID,
        {"type": "string", "format": "uuid"},
        '"12345678-1234-5678-1234-567812345678"',
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        '"nope"',
    ),
    (
        "decimal",
        Decimal,
        {"type": "string", "format": "decimal"},
        '"1.10"',
        Decimal("1.10"),
        '"one"',
    ),
    (
        "recursive",
        Tree,
        {"$ref": "#/$defs/Tree"},
        '{"label": "a", "children": [{"label": "b"}]}',
        Tree("a", [Tree("b")]),
        '{"label": "a", "children": [{}]}',
    ),
    ("any", Any, {}, '{"a": [1]}', {"a": [1]}, None),
    ("unannotated", inspect.Parameter.empty, {}, "[null]", [None], None),
]
TYPE_IDS = [row[0] for row in TYPES]


@pytest.mark.parametrize(("annotation", "expected"), [row[1:3] for row in TYPES], ids=TYPE_IDS)
def test_type_gives_schema(annotation: Any, expected: dict[str, Any]) -> None:
    schema = prop(make_fn(annotation))
    assert {key: schema[key] for key in expected} == expected
    if not expected:
        assert schema == {}


@pytest.mark.parametrize(
    ("annotation", "text", "value"), [row[1:2] + row[3:5] for row in TYPES], ids=TYPE_IDS
)
def test_type_decodes_arguments(annotation: Any, text: str, value: Any) -> None:
    schema = function_schema(make_fn(annotation))
    assert schema.decode(f'{{"x": {text}}}', tool="t") == {"x": value}


@pytest.mark.parametrize(
    ("annotation", "bad"), [(r[1], r[5]) for r in TYPES if r[5]], ids=[r[0] for r in TYPES if r[5]]
)
def test_type_rejects_wrong_arguments(annotation: Any, bad: str) -> None:
    schema = function_schema(make_fn(annotation))
    with pytest.raises(ToolArgumentsError) as info:
        schema.decode(f'{{"x": {bad}}}', tool="t")
    assert info.value.path.startswith("$.x")
    assert info.value.tool == "t"


@pytest.mark.parametrize(
    ("annotation", "text"), [row[1:2] + row[3:4] for row in TYPES], ids=TYPE_IDS
)
@pytest.mark.parametrize("strict", [False, True])
def test_every_schema_is_valid_draft_2020_12(annotation: Any, text: str, strict: bool) -> None:
    try:
        schema = function_schema(make_fn(annotation), strict=strict).parameters
    except ToolDefinitionError:
        assert strict  # types strict mode cannot express: tested below
        return
    # Strict mode requires the fields a nested type defaults, so the example may not fit it.
    check_valid_schema(schema, *([] if strict else [msgspec.json.decode(f'{{"x": {text}}}')]))


def test_parameters_is_an_object_schema_closed_at_the_top() -> None:
    def fn(a: int, b: str = "x") -> None:
        pass

    assert function_schema(fn).parameters == {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string", "default": "x"}},
        "required": ["a"],
        "additionalProperties": False,
    }


def test_no_parameters() -> None:
    schema = function_schema(lambda: None)
    assert schema.parameters["properties"] == {}
    assert schema.decode("{}", tool="t") == {} == schema.decode("", tool="t")


def test_defaults_are_the_functions_own() -> None:
    marker = object()

    def fn(items: list[int] = [1, 2], other: Any = marker) -> None:  # noqa: B006
        pass

    schema = function_schema(fn)
    assert schema.parameters["properties"]["items"]["default"] == [1, 2]
    assert "default" not in schema.parameters["properties"]["other"]  # no JSON form
    assert schema.decode("{}", tool="t") == {}  # left out: the call uses the defaults


class fn_arguments(msgspec.Struct):
    a: int


def test_type_names_colliding_with_the_argument_struct() -> None:
    schema = function_schema(make_fn(fn_arguments)).parameters
    check_valid_schema(schema, {"x": {"a": 1}})


def test_schema_is_built_once_and_never_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = function_schema(make_fn(int))
    monkeypatch.setattr(asynctool._schema, "json_schema", None)
    monkeypatch.setattr(msgspec, "defstruct", None)
    assert schema.decode('{"x": 1}', tool="t") == {"x": 1}


# --------------------------------------------------------------------------- rejections


def _args(*args: int) -> None:
    pass


def _kwargs(**kwargs: int) -> None:
    pass


def _positional(x: int, /) -> None:
    pass


def _dunder(__x: int) -> None:
    pass


def _method(self, x: int) -> None:  # type: ignore[no-untyped-def]
    pass


class Opaque:
    pass


def _opaque(x: Opaque) -> None:
    pass


def _unresolved(x: Missing) -> None:  # type: ignore[name-defined] # noqa: F821
    pass


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (_args, r"_args: `\*args` cannot be described"),
        (_kwargs, r"_kwargs: `\*\*kwargs` cannot be described"),
        (_positional, "_positional: parameter `x` is positional-only"),
        (_dunder, "_dunder: parameter `__x` is reserved"),
        (_method, "_method: parameter `self` is reserved"),
        (_opaque, "_opaque: parameter `x`: its type cannot be described as JSON"),
        (_unresolved, "_unresolved: its annotations cannot be resolved"),
        (len, "len: parameter `obj` is positional-only"),
        (next, "next: its signature cannot be read"),
    ],
)
def test_rejected_at_decoration(fn: Callable[..., Any], message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        function_schema(fn)


def test_bad_constraint_names_the_parameter() -> None:
    with pytest.raises(ToolDefinitionError, match="parameter `x`"):
        function_schema(make_fn(Annotated[int, Meta(pattern="a")]))


# --------------------------------------------------------------------------- descriptions

DOCSTRINGS = [
    (
        "google",
        """Get the weather.

        Args:
            city (str): The city,
                e.g. Paris.
            unit: The unit.

        Returns:
            The weather.
        """,
        "Get the weather.",
        {"city": "The city, e.g. Paris.", "unit": "The unit."},
    ),
    (
        "google-no-blank-line",
        """Get the weather.
        Args:
            city: The city.
            unit: The unit.
        """,
        "Get the weather.",
        {"city": "The city.", "unit": "The unit."},
    ),
    (
        "google-starts-with-args",
        """Args:
            city: The city.
            unit: The unit.
        """,
        "",
        {"city": "The city.", "unit": "The unit."},
    ),
    (
        "google-starts-with-args-then-returns",
        """Args:
            city: The city.

        Returns:
            The weather.
        """,
        "",
        {"city": "The city."},
    ),
    (
        "google-arguments-and-raises",
        """Get it.

        Arguments:
            city: The city.

        Raises:
            ValueError: never.
        """,
        "Get it.",
        {"city": "The city."},
    ),
    (
        "numpy",
        """Get the weather.

        Parameters
        ----------
        city : str
            The city.
        unit
            The unit.
        """,
        "Get the weather.",
        {"city": "The city.", "unit": "The unit."},
    ),
    (
        "sphinx",
        """Get the weather.

        :param city: The city.
        :type city: str
        :param str unit: The unit.
        :returns: the weather
        """,
        "Get the weather.",
        {"city": "The city.", "unit": "The unit."},
    ),
    (
        "epydoc",
        "Get the weather.\n\n@param city: The city.\n",
        "Get the weather.",
        {"city": "The city."},
    ),
    (
        "summary-over-two-lines",
        """Get the weather
        of a city.

        More text that is not the summary.
        """,
        "Get the weather of a city.",
        {},
    ),
    ("summary-only", "Get the weather.", "Get the weather.", {}),
    ("none", None, "", {}),
    ("blank", "   ", "", {}),
]


@pytest.mark.parametrize(
    ("doc", "summary", "params"), [r[1:] for r in DOCSTRINGS], ids=[r[0] for r in DOCSTRINGS]
)
def test_docstring_styles(doc: str | None, summary: str, params: dict[str, str]) -> None:
    parsed = parse_docstring(doc)
    assert (parsed.summary, parsed.params, parsed.problems) == (summary, params, ())

    def fn(city: str, unit: str = "c") -> None:
        pass

    fn.__doc__ = doc
    schema = function_schema(fn)
    assert schema.description == summary
    for name, text in params.items():
        assert schema.parameters["properties"][name]["description"] == text


def test_annotated_description_wins_over_the_docstring() -> None:
    def fn(
        city: Annotated[str, Meta(description="From Annotated.", min_length=1)],
        unit: str = "c",
    ) -> None:
        """Summary.

        Args:
            city: From the docstring.
            unit: Unit from the docstring.
        """

    properties = function_schema(fn).parameters["properties"]
    assert properties["city"] == {
        "description": "From Annotated.",
        "type": "string",
        "minLength": 1,
    }
    assert properties["unit"]["description"] == "Unit from the docstring."


@pytest.mark.parametrize(
    ("doc", "warning"),
    [
        (
            "S.\n\nArgs:\n    x: fine\n    country: not a parameter\n",
            r"fn: docstring documents parameter `country`, which is not in the signature",
        ),
        (
            "S.\n\nArgs:\n    x The colon is missing\n",
            r"fn: docstring: its parameter section could not be read \(Expected a colon",
        ),
        (
            "S.\n\nArgs:\n    x:\n",
            r"fn: docstring: parameter `x` is documented without a description",
        ),
        (
            "S.\n\nArgs:\n\nReturns:\n    y\n",
            r"fn: docstring: its parameter section could not be read",
        ),
        (
            "S.\n\nParameters\n----------\n",
            r"fn: docstring: it has a parameter section, but no parameter could be read",
        ),
    ],
)
def test_docstring_problems_warn_at_decoration(doc: str, warning: str) -> None:
    def fn(x: int) -> None:
        pass

    fn.__doc__ = doc
    with pytest.warns(DocstringWarning, match=warning) as record:
        function_schema(fn)
    ours = [w for w in record if issubclass(w.category, DocstringWarning)]
    assert ours[0].filename == __file__  # points at the function, not into asynctool


@pytest.mark.parametrize(
    "doc",
    [
        "Get it.\n\nArgs:\n    x The colon is missing\n",
        "Get it.\nArgs:\n    x The colon is missing\n",
        "Get it.\n:param x",
        "Get it.\n@param x",
        "Get it.\nParameters\n----------\nx The colon is missing\n",
    ],
)
def test_unreadable_section_keeps_the_summary(doc: str) -> None:
    parsed = parse_docstring(doc)
    assert parsed.summary == "Get it."
    assert parsed.params == {}
    assert parsed.problems


def test_documenting_a_parameter_bound_by_partial_is_fine() -> None:
    import functools

    def fn(api_key: str, city: str) -> None:
        """Summary.

        Args:
            api_key: The key.
            city: The city.
        """

    schema = function_schema(functools.partial(fn, "secret"))  # no warning: filterwarnings=error
    assert list(schema.parameters["properties"]) == ["city"]


# --------------------------------------------------------------------------- context parameters


class Context:
    pass


class SubContext(Context):
    pass


@pytest.mark.parametrize(
    "annotation",
    [Context, SubContext, Optional[Context], Context | None, Annotated[Context, "note"]],  # noqa: UP045
)
def test_context_parameters_are_left_out(annotation: Any) -> None:
    def fn(city: str, ctx: Any) -> None:
        pass

    fn.__annotations__["ctx"] = annotation
    schema = function_schema(fn, context_type=Context)
    assert list(schema.parameters["properties"]) == ["city"]
    assert dict(schema.context_params) == {"ctx": True}
    with pytest.raises(ToolArgumentsError, match="unknown argument `ctx`"):
        schema.decode('{"city": "x", "ctx": 1}', tool="t")


def test_optional_context_parameter_is_not_required() -> None:
    def fn(ctx: Context | None = None) -> None:
        pass

    assert dict(function_schema(fn, context_type=Context).context_params) == {"ctx": False}


def test_context_type_is_ignored_without_a_marker() -> None:
    assert function_schema(make_fn(str), context_type=None).context_params == {}


# --------------------------------------------------------------------------- strict mode

STRICT_KEYWORDS = {
    *("type", "properties", "required", "additionalProperties", "items", "anyOf", "enum"),
    *("const", "$ref", "$defs", "description", "title", "pattern", "format", "multipleOf"),
    *("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems"),
    *("minLength", "maxLength"),
}
STRICT_FORMATS = {
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
}


def assert_strict(schema: dict[str, Any]) -> None:
    """Every rule of OpenAI's strict subset, on every subschema."""
    check_valid_schema(schema)
    assert schema["type"] == "object"
    for node in walk(schema):
        assert set(node) <= STRICT_KEYWORDS, set(node) - STRICT_KEYWORDS
        if "$defs" in node:
            assert node is schema  # definitions live at the root only
        assert node.keys() & {"type", "enum", "const", "anyOf", "$ref"}  # no "any value"
        if "$ref" in node:
            assert set(node) == {"$ref"}  # no sibling keywords next to a reference
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert node["required"] == list(node["properties"])
        if "format" in node:
            assert node["format"] in STRICT_FORMATS


STRICT_OK = [
    row for row in TYPES if row[0] not in {"dict", "tuple", "namedtuple", "any", "unannotated"}
]


@pytest.mark.parametrize(
    ("annotation", "text", "value"),
    [r[1:2] + r[3:5] for r in STRICT_OK],
    ids=[r[0] for r in STRICT_OK],
)
def test_strict_schema_follows_every_rule(annotation: Any, text: str, value: Any) -> None:
    schema = function_schema(make_fn(annotation), strict=True)
    assert_strict(schema.parameters)
    assert schema.decode(f'{{"x": {text}}}', tool="t") == {"x": value}


def test_strict_default_becomes_nullable_and_null_means_default() -> None:
    def fn(city: str, days: Annotated[int, Meta(ge=1)] = 3, note: str | None = "n") -> None:
        """Forecast.

        Args:
            city: The city.
            days: How many days.
            note: A note.
        """

    schema = function_schema(fn, strict=True)
    properties = schema.parameters["properties"]
    assert schema.parameters["required"] == ["city", "days", "note"]
    assert properties["days"] == {
        "description": "How many days. (default: 3)",
        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}],
    }
    args = schema.decode('{"city": "Oslo", "days": null, "note": null}', tool="t")
    assert args == {"city": "Oslo"}  # left to the function's defaults
    assert schema.decode('{"city": "Oslo", "days": 5, "note": "x"}', tool="t")["days"] == 5
    assert schema.decode('{"city": "Oslo"}', tool="t") == {"city": "Oslo"}  # lenient on omission


def test_non_strict_keeps_optional_parameters() -> None:
    def fn(city: str, days: int = 3) -> None:
        pass

    schema = function_schema(fn)
    assert schema.parameters["required"] == ["city"]
    assert schema.parameters["properties"]["days"] == {"type": "integer", "default": 3}
    with pytest.raises(ToolArgumentsError):
        schema.decode('{"city": "x", "days": null}', tool="t")


def test_strict_nested_objects_are_closed_and_fully_required() -> None:
    def fn(point: Point, size: Size, movie: MovieFilter) -> None:
        pass

    schema = function_schema(fn, strict=True).parameters
    assert_strict(schema)
    assert schema["$defs"]["Point"]["required"] == ["x", "y"]
    assert schema["$defs"]["MovieFilter"]["required"] == ["title", "year"]


@pytest.mark.parametrize(
    ("annotation", "dropped"),
    [
        (set[int], "uniqueItems: true"),
        (Annotated[str, Meta(examples=["a"])], 'examples: ["a"]'),
        (Decimal, 'format: "decimal"'),
        (bytes, 'contentEncoding: "base64"'),
        (Annotated[dt.time, Meta(tz=False)], 'format: "partial-time"'),
    ],
)
def test_strict_drops_unsupported_keywords_into_the_description(
    annotation: Any, dropped: str
) -> None:
    schema = function_schema(make_fn(annotation), strict=True).parameters
    assert_strict(schema)
    assert schema["properties"]["x"]["description"] == dropped


def test_strict_keeps_supported_keywords() -> None:
    annotation = Annotated[
        list[Annotated[str, Meta(pattern="^a")]], Meta(min_length=1, max_length=4)
    ]
    prop_schema = prop(make_fn(annotation), strict=True)
    assert prop_schema == {
        "type": "array",
        "items": {"type": "string", "pattern": "^a"},
        "minItems": 1,
        "maxItems": 4,
    }
    assert prop(make_fn(Annotated[float, Meta(gt=0, le=1, multiple_of=0.5)]), strict=True) == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "multipleOf": 0.5,
    }
    assert prop(make_fn(uuid.UUID), strict=True) == {"type": "string", "format": "uuid"}
    # OpenAI's strict mode enforces minLength/maxLength: kept, so `"ab"` is refused by both.
    username = Annotated[str, Meta(min_length=3, max_length=8)]
    assert prop(make_fn(username), strict=True) == {
        "type": "string",
        "minLength": 3,
        "maxLength": 8,
    }
    # A format strict mode lacks moves to the description; the pattern that checks it stays.
    assert prop(make_fn(Decimal), strict=True) == {
        "type": "string",
        "pattern": DECIMAL_PATTERN,
        "description": 'format: "decimal"',
    }


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (dict[str, Any], "parameter `x` cannot be used with strict=True: a mapping with free keys"),
        (dict[str, int], "a mapping with free keys"),
        (Any, "parameter `x` cannot be used with strict=True: it accepts any JSON value"),
        (inspect.Parameter.empty, "it accepts any JSON value"),
        (tuple[int, str], "a fixed-length tuple"),
        (Pair, "a fixed-length tuple"),
        (list[dict[str, Any]], r"parameter `x` cannot be used with strict=True \(at `x\[\]`\)"),
        (Optional[list[Any]], "its items accept any JSON value"),  # noqa: UP045
    ],
)
def test_strict_rejects_what_it_cannot_express(annotation: Any, message: str) -> None:
    with pytest.raises(
        ToolDefinitionError, match=f"fn: {message}" if message[0] == "p" else message
    ):
        function_schema(make_fn(annotation), strict=True)


class Config(msgspec.Struct):
    options: dict[str, Any]


def test_strict_error_names_the_nested_field() -> None:
    def fn(config: Config) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=r"parameter `config` .*\(at `config.options`\)"):
        function_schema(fn, strict=True)


def test_strict_inlines_a_described_reference() -> None:
    def fn(point: Annotated[Point, Meta(description="Where.")], color: Color) -> None:
        pass

    schema = function_schema(fn, strict=True).parameters
    assert_strict(schema)
    assert schema["properties"]["point"]["description"] == "Where."
    assert schema["properties"]["point"]["properties"]["x"] == {"type": "integer"}
    assert schema["properties"]["color"] == {"$ref": "#/$defs/Color"}
    assert "Point" not in schema["$defs"]


def test_strict_recursive_type_keeps_its_reference() -> None:
    schema = function_schema(make_fn(Tree), strict=True).parameters
    assert_strict(schema)
    assert schema["$defs"]["Tree"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Tree"}


def test_strict_tagged_union_drops_the_discriminator() -> None:
    class Cat(msgspec.Struct, tag=True):
        lives: int

    class Dog(msgspec.Struct, tag=True):
        good: bool

    schema = function_schema(make_fn(Cat | Dog), strict=True).parameters
    assert_strict(schema)
    assert len(schema["properties"]["x"]["anyOf"]) == 2


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "object", "properties": {"a": {"allOf": [{"type": "string"}, {}]}}},
            "at `a`: .*`allOf`",
        ),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}}},
            "does not point into",
        ),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}, "does not point into"),
        ({"type": "object", "patternProperties": {}, "properties": {}}, "a mapping with free keys"),
        ({"type": "object"}, "a mapping with free keys"),
        ({"type": "array", "items": True}, r"at `\[\]`: it accepts any JSON value"),
    ],
)
def test_to_strict_schema_refuses(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        to_strict_schema(schema)
    assert isinstance(info.value, AsyncToolError)


def test_to_strict_schema_reads_an_all_of_of_one_schema_as_that_schema() -> None:
    # How pydantic before 2.9 wrote a reference with a description next to it.
    schema = {
        "type": "object",
        "properties": {"a": {"allOf": [{"$ref": "#/$defs/A"}], "description": "An A."}},
        "$defs": {"A": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    strict = to_strict_schema(schema)
    assert strict["properties"]["a"] == {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "description": "An A.",
        "required": ["n"],
        "additionalProperties": False,
    }
    assert_strict(strict)


def test_to_strict_schema_does_not_change_its_input() -> None:
    source = schema_for_type(Point, strict=False)
    before = msgspec.json.encode(source)
    strict = to_strict_schema(source)
    strict["required"].append("z")
    assert msgspec.json.encode(source) == before


def test_to_strict_schema_self_referencing_described_reference() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A", "description": "outer"}},
        "$defs": {
            "A": {
                "type": "object",
                "properties": {"again": {"$ref": "#/$defs/A", "description": "inner"}},
            }
        },
    }
    strict = to_strict_schema(schema)
    assert strict["properties"]["a"]["description"] == "outer"
    assert strict["properties"]["a"]["properties"]["again"] == {"$ref": "#/$defs/A"}
    assert_strict(strict)


# --------------------------------------------------------------------------- asynctool's rules
# What the model is told is asynctool's decision (asynctool/_jsonschema.py), so every schema
# below is asserted whole: none of it may change with msgspec's version.


# What the model is told for each type sent as text, pinned whole (asynctool/_formats.py says
# why each pattern is there; tests/test_schema_agreement.py checks that they agree with the
# decoders).
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_DAY = f"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_LEAP = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_CALENDAR = (
    f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    f"|{_LEAP}-02-29)"
)
_CLOCK = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?"
_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DATE_TIME = {"type": "string", "format": "date-time", "pattern": f"^{_DAY}[Tt]{_CLOCK}{_OFFSET}$"}
TIME = {"type": "string", "format": "time", "pattern": f"^{_CLOCK}{_OFFSET}$"}
DATE = {"type": "string", "format": "date", "pattern": f"^{_DAY}$"}
DECIMAL_PATTERN = "^[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?$"
BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_H, _M, _S = "[0-9]{1,9}H", "[0-9]{1,10}M", "[0-9]{1,11}S"
_HMS = f"(?:{_H}(?:{_M})?(?:{_S})?|{_M}(?:{_S})?|{_S})"
DURATION = {
    "type": "string",
    "format": "duration",
    "pattern": f"^P(?:[0-9]{{1,8}}D|(?:[0-9]{{1,8}}D)?T{_HMS})$",
}

FORMATS = [
    ("datetime", dt.datetime, DATE_TIME),
    ("datetime-aware", Annotated[dt.datetime, Meta(tz=True)], DATE_TIME),
    (
        "datetime-naive",
        Annotated[dt.datetime, Meta(tz=False)],
        {"type": "string", "pattern": f"^{_CALENDAR}[Tt ]{_CLOCK}$"},
    ),
    ("time", dt.time, TIME),
    ("time-aware", Annotated[dt.time, Meta(tz=True)], TIME),
    (
        "time-naive",
        Annotated[dt.time, Meta(tz=False)],
        {"type": "string", "format": "partial-time", "pattern": f"^{_CLOCK}$"},
    ),
    ("date", dt.date, DATE),
    ("timedelta", dt.timedelta, DURATION),
    ("uuid", uuid.UUID, {"type": "string", "format": "uuid"}),
    ("decimal", Decimal, {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}),
    ("bytes", bytes, {"type": "string", "contentEncoding": "base64", "pattern": BASE64}),
    ("bytearray", bytearray, {"type": "string", "contentEncoding": "base64", "pattern": BASE64}),
    ("memoryview", memoryview, {"type": "string", "contentEncoding": "base64", "pattern": BASE64}),
    (
        "bytes-length",  # base64 characters: 4 for every 3 bytes or part of them
        Annotated[bytes, Meta(min_length=1, max_length=4)],
        {
            "type": "string",
            "contentEncoding": "base64",
            "pattern": BASE64,
            "minLength": 4,
            "maxLength": 8,
        },
    ),
    ("set", set[int], {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
    (
        "frozenset",
        frozenset[str],
        {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    ),
]


@pytest.mark.parametrize(
    ("annotation", "expected"), [r[1:] for r in FORMATS], ids=[r[0] for r in FORMATS]
)
def test_each_type_has_one_schema(annotation: Any, expected: dict[str, Any]) -> None:
    assert prop(make_fn(annotation)) == expected


# RFC 3339's own examples (section 5.8), which `format: date-time` and `format: time` admit.
RFC3339 = ["1985-04-12T23:20:50.52Z", "1996-12-19T16:39:57-08:00", "1937-01-01T12:00:27.87+00:20"]


@pytest.mark.parametrize("text", RFC3339)
def test_what_the_date_time_format_admits_decodes(text: str) -> None:
    day, _, clock = text.partition("T")
    moment = function_schema(make_fn(dt.datetime)).decode(f'{{"x": "{text}"}}', tool="t")["x"]
    assert moment.utcoffset() is not None
    at = function_schema(make_fn(dt.time)).decode(f'{{"x": "{clock}"}}', tool="t")["x"]
    assert at.utcoffset() is not None
    assert moment.date().isoformat() == day


def _twins() -> tuple[type[msgspec.Struct], type[msgspec.Struct]]:
    """Two different types with the same module, qualified name and fields."""

    def make() -> type[msgspec.Struct]:
        class Twin(msgspec.Struct):
            a: int

        return Twin

    return make(), make()


def test_types_sharing_a_name_are_numbered_in_order_of_appearance() -> None:
    first, second = _twins()

    def fn(x: Any, y: Any) -> None:
        pass

    fn.__annotations__ = {"x": first, "y": list[second]}  # type: ignore[valid-type]
    schema = function_schema(fn)
    assert schema.parameters["properties"]["x"] == {"$ref": "#/$defs/Twin"}
    assert schema.parameters["properties"]["y"]["items"] == {"$ref": "#/$defs/Twin_2"}
    assert list(schema.parameters["$defs"]) == ["Twin", "Twin_2"]
    assert schema.parameters["$defs"]["Twin_2"]["title"] == "Twin"
    check_valid_schema(schema.parameters, {"x": {"a": 1}, "y": [{"a": 2}]})
    decoded = schema.decode('{"x": {"a": 1}, "y": [{"a": 2}]}', tool="t")
    assert (type(decoded["x"]), type(decoded["y"][0])) == (first, second)


class Twin_2(msgspec.Struct):  # the name a numbered twin would otherwise get
    b: str


def test_a_numbered_name_never_takes_a_real_types_name() -> None:
    first, second = _twins()
    schema = schema_for_type(tuple[first, second, Twin_2], strict=False)  # type: ignore[valid-type]
    refs = [item["$ref"] for item in schema["prefixItems"]]
    assert refs == ["#/$defs/Twin", "#/$defs/Twin_3", "#/$defs/Twin_2"]
    assert schema["$defs"]["Twin_2"]["properties"] == {"b": {"type": "string"}}
    check_valid_schema(schema, [{"a": 1}, {"a": 2}, {"b": "c"}])


def test_the_same_signature_always_gives_the_same_schema() -> None:
    def fn(x: Any, y: Any) -> None:
        pass

    fn.__annotations__ = dict(zip("xy", _twins(), strict=True))
    first = msgspec.json.encode(function_schema(fn).parameters)
    assert msgspec.json.encode(function_schema(fn).parameters) == first


class Page(msgspec.Struct, Generic[T]):
    items: list[T]


def test_a_generic_type_is_named_after_its_arguments() -> None:
    schema = schema_for_type(tuple[Page[int], Page[Point]], strict=False)
    assert list(schema["$defs"]) == ["Page_int", "Page_Point", "Point"]
    assert schema["$defs"]["Page_int"]["title"] == "Page[int]"
    check_valid_schema(schema, [{"items": [1]}, {"items": [{"x": 1}]}])


class Cat(msgspec.Struct, tag=True):
    lives: int


class Dog(msgspec.Struct, tag=True):
    good: bool


PETS = {
    "anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}],
    "discriminator": {
        "propertyName": "type",
        "mapping": {"Cat": "#/$defs/Cat", "Dog": "#/$defs/Dog"},
    },
}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (None | int, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (str | None | int, {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}),
        (Cat | Dog, PETS),
        (int | Cat | None | Dog, {"anyOf": [{"type": "integer"}, PETS, {"type": "null"}]}),
        (Cat | int, {"anyOf": [{"$ref": "#/$defs/Cat"}, {"type": "integer"}]}),
        (
            Annotated[Cat, Meta(description="A cat.")] | Dog,
            {
                "anyOf": [
                    {"description": "A cat.", "$ref": "#/$defs/Cat"},
                    {"$ref": "#/$defs/Dog"},
                ],
                "discriminator": PETS["discriminator"],
            },
        ),
    ],
    ids=[
        "null-last",
        "order-kept",
        "tagged",
        "tagged-where-the-first-stood",
        "one-struct",
        "described",
    ],
)
def test_union_order(annotation: Any, expected: dict[str, Any]) -> None:
    assert prop(make_fn(annotation)) == expected


class Tagged(msgspec.Struct, tag="t", array_like=True, forbid_unknown_fields=True):
    a: int
    b: int = 0


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"
    MEDIUM = "m"
    LITTLE = "s"  # noqa: PIE796 - an alias, the same member again, listed once


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (Size, {"title": "Size", "enum": ["s", "l", "m"]}),
        (Literal["b", "a"], {"enum": ["a", "b"]}),
        (
            Tagged,
            {
                "title": "Tagged",
                "type": "array",
                "prefixItems": [
                    {"enum": ["t"]},
                    {"type": "integer"},
                    {"type": "integer", "default": 0},
                ],
                "minItems": 2,
                "maxItems": 3,
            },
        ),
        (
            Pair,
            {
                "title": "Pair",  # not the docstring namedtuple writes itself
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "integer"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (tuple[()], {"type": "array", "minItems": 0, "maxItems": 0}),
        (
            dict[Literal["a", "b"], int],
            {
                "type": "object",
                "propertyNames": {"enum": ["a", "b"]},
                "additionalProperties": {"type": "integer"},
            },
        ),
        (
            dict[Annotated[str, Meta(min_length=1)], Any],
            {"type": "object", "propertyNames": {"minLength": 1}},
        ),
        (
            dict[Mode, int],
            {
                "type": "object",
                "propertyNames": {"$ref": "#/$defs/Mode"},
                "additionalProperties": {"type": "integer"},
                "$defs": {"Mode": {"title": "Mode", "enum": ["fast", "slow"]}},
            },
        ),
        (
            Annotated[dict[int, str], Meta(min_length=1)],
            {
                "type": "object",
                "propertyNames": {"pattern": "^-?(?:0|[1-9][0-9]*)$"},
                "additionalProperties": {"type": "string"},
                "minProperties": 1,
            },
        ),
        (
            dict[Literal[3, 4] | Mode, uuid.UUID],
            {
                "type": "object",
                "propertyNames": {"anyOf": [{"enum": ["3", "4"]}, {"$ref": "#/$defs/Mode"}]},
                "additionalProperties": {"type": "string", "format": "uuid"},
                "$defs": {"Mode": {"title": "Mode", "enum": ["fast", "slow"]}},
            },
        ),
        (
            dict[Level, int],
            {
                "type": "object",
                "propertyNames": {"enum": ["1", "2"]},
                "additionalProperties": {"type": "integer"},
            },
        ),
        (
            dict[dt.date, int],
            {
                "type": "object",
                "propertyNames": {"format": "date", "pattern": DATE["pattern"]},
                "additionalProperties": {"type": "integer"},
            },
        ),
        (dict[float, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (
            dict[Literal["a"] | Annotated[str, Meta(max_length=2)], Any],
            {
                "type": "object",
                "propertyNames": {"anyOf": [{"enum": ["a"]}, {"type": "string", "maxLength": 2}]},
            },
        ),
    ],
    ids=[
        "enum-declared-order",
        "literal-sorted",
        "array-like",
        "namedtuple",
        "empty-tuple",
        "literal-keys",
        "key-constraints",
        "enum-keys",
        "int-keys",
        "int-literal-or-str-enum-keys",
        "int-enum-keys",
        "date-keys",
        "float-keys-unsaid",
        "union-keys",
    ],
)
def test_whole_schemas(annotation: Any, expected: dict[str, Any]) -> None:
    assert schema_for_type(annotation, strict=False) == expected


_NO_JSON_FORM = object()


def _no_json_form() -> object:
    return _NO_JSON_FORM


@dataclasses.dataclass
class Defaults:
    """Defaults, shown when they have a JSON form.

    The text is dedented:
        what is indented more stays so.
    """

    empty: list[int] = dataclasses.field(default_factory=list)
    made: Any = dataclasses.field(default_factory=_no_json_form)
    opaque: Any = _NO_JSON_FORM
    when: dt.date = dt.date(2024, 5, 1)


def test_defaults_and_descriptions_of_a_type() -> None:
    assert schema_for_type(Defaults, strict=False) == {
        "title": "Defaults",
        "description": "Defaults, shown when they have a JSON form.\n\nThe text is dedented:\n    what is indented more stays so.",
        "type": "object",
        "properties": {
            "empty": {"type": "array", "items": {"type": "integer"}, "default": []},
            "made": {},
            "opaque": {},
            "when": {**DATE, "default": "2024-05-01"},
        },
        "required": [],
    }
    assert schema_for_type(Tree, strict=False)["properties"]["children"]["default"] == []


def test_an_annotation_describes_over_the_class() -> None:
    schema = schema_for_type(
        Annotated[Point, Meta(title="Spot", description="Where.")], strict=False
    )
    assert (schema["title"], schema["description"]) == ("Spot", "Where.")
    described = prop(make_fn(Annotated[Point, Meta(description="Where.")]))
    assert described == {"description": "Where.", "$ref": "#/$defs/Point"}


class Celsius:
    """A type msgspec has no JSON form for."""


@pytest.mark.parametrize(
    "annotation",
    [
        Celsius,
        # A schema given by hand is not enough: msgspec would still refuse every value.
        Annotated[Celsius, Meta(extra_json_schema={"type": "number"})],
        Annotated[Celsius, Meta(description="Degrees.")],
        msgspec.msgpack.Ext,
    ],
    ids=["bare", "extra-json-schema", "described", "msgpack-ext"],
)
def test_a_class_msgspec_cannot_decode_is_refused(annotation: Any) -> None:
    with pytest.raises(SchemaError, match="msgspec can neither describe nor decode"):
        schema_for_type(annotation, strict=False)
    with pytest.raises(
        ToolDefinitionError, match="fn: parameter `x`: its type cannot be described"
    ):
        function_schema(make_fn(annotation))


# --------------------------------------------------------------------------- schema_for_type


def test_schema_for_type_inlines_the_root() -> None:
    assert schema_for_type(Point, strict=False) == {
        "title": "Point",
        "description": "A point on the grid.",
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
        "required": ["x"],
    }
    strict = schema_for_type(Point, strict=True)
    assert strict["required"] == ["x", "y"]
    assert strict["properties"]["y"] == {"type": "integer", "description": "default: 0"}
    assert_strict(strict)


def test_schema_for_type_recursive_root_keeps_its_definition() -> None:
    schema = schema_for_type(Tree, strict=False)
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Tree"}
    check_valid_schema(schema, {"label": "a", "children": [{"label": "b", "children": []}]})
    assert_strict(schema_for_type(Tree, strict=True))


def test_schema_for_type_non_object_root() -> None:
    schema = schema_for_type(list[Point], strict=False)
    check_valid_schema(schema, [{"x": 1}])
    assert schema["items"] == {"$ref": "#/$defs/Point"}
    assert schema_for_type(int, strict=True) == {"type": "integer"}


def test_schema_for_type_unsupported() -> None:
    with pytest.raises(SchemaError, match="msgspec cannot describe"):
        schema_for_type(Opaque, strict=False)
    with pytest.raises(SchemaError, match="a mapping with free keys"):
        schema_for_type(dict[str, int], strict=True)


def test_function_schema_repr_hides_the_decoder() -> None:
    text = repr(function_schema(make_fn(int)))
    assert text.startswith("FunctionSchema(name='fn'")
    assert "_decoder" not in text
    assert isinstance(function_schema(make_fn(int)), FunctionSchema)
