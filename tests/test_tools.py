"""`tool`, `Tool`, `ToolContext`, `ToolRegistry`, and the property that schema and decoder agree."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import json
import threading
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple, TypedDict

import anyio
import jsonschema
import msgspec
import pydantic
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from msgspec import Meta

from asynctool._exceptions import ToolArgumentsError, ToolDefinitionError, ToolError
from asynctool._tools import Tool, ToolContext, ToolRegistry, tool

# --------------------------------------------------------------------------- the decorator


@tool
async def get_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA.
        unit: Temperature unit.
    """
    return f"20 degrees {unit} in {location}"


def test_definition_is_the_openai_tool_dict() -> None:
    assert get_weather.definition == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a given location.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "description": "The city and state, e.g. San Francisco, CA.",
                        "type": "string",
                    },
                    "unit": {
                        "description": "Temperature unit.",
                        "enum": ["celsius", "fahrenheit"],
                        "default": "celsius",
                    },
                },
                "required": ["location"],
                "additionalProperties": False,
            },
        },
    }
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Get the current weather in a given location."
    assert (get_weather.strict, get_weather.sequential, get_weather.timeout) == (False, False, None)


def test_definition_cannot_be_changed_by_its_reader() -> None:
    get_weather.definition["function"]["parameters"]["properties"].clear()
    get_weather.definition["function"]["name"] = "other"
    assert get_weather.definition["function"]["name"] == "get_weather"
    assert "location" in get_weather.definition["function"]["parameters"]["properties"]


async def test_run_validates_calls_and_returns() -> None:
    assert await get_weather.run('{"location": "Boston, MA"}') == "20 degrees celsius in Boston, MA"
    result = await get_weather.run(b'{"location": "Oslo", "unit": "fahrenheit"}')
    assert result == "20 degrees fahrenheit in Oslo"


async def test_still_callable_as_the_function() -> None:
    assert await get_weather("Oslo") == "20 degrees celsius in Oslo"
    assert get_weather.__name__ == "get_weather"
    assert get_weather.__doc__ is not None


def test_options() -> None:
    @tool(name="weather", description="Weather now.", strict=True, sequential=True, timeout=2.5)
    def fn(city: str) -> str:
        """Ignored summary."""
        return city

    assert isinstance(fn, Tool)
    assert (fn.name, fn.description, fn.strict, fn.sequential, fn.timeout) == (
        "weather",
        "Weather now.",
        True,
        True,
        2.5,
    )
    function = fn.definition["function"]
    assert function["strict"] is True
    assert function["name"] == "weather"
    assert function["description"] == "Weather now."
    assert repr(fn) == "Tool(name='weather', strict=True, sequential=True)"


def test_non_strict_definition_has_no_strict_key_and_always_a_description() -> None:
    @tool
    def nodoc(x: int) -> int:
        return x

    assert "strict" not in nodoc.definition["function"]
    assert nodoc.definition["function"]["description"] == ""


async def test_sync_function_runs_in_a_worker_thread() -> None:
    @tool
    def which_thread() -> int:
        return threading.get_ident()

    assert await which_thread.run("{}") != threading.get_ident()


async def test_sync_wrapper_returning_a_coroutine_is_awaited() -> None:
    async def inner(x: int) -> int:
        return x + 1

    @tool
    def wrapper(x: int) -> Any:
        return inner(x)

    assert await wrapper.run('{"x": 1}') == 2


async def test_bound_method() -> None:
    class Greeter:
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        async def greet(self, name: str) -> str:
            """Greet someone.

            Args:
                name: Who to greet.
            """
            return f"{self.greeting}, {name}"

    greet = tool(Greeter("Hello").greet)
    assert greet.name == "greet"
    assert greet.description == "Greet someone."
    assert list(greet.definition["function"]["parameters"]["properties"]) == ["name"]
    assert await greet.run('{"name": "Ada"}') == "Hello, Ada"


async def test_partial_hides_bound_arguments() -> None:
    def search(api_key: str, query: str, limit: int = 10) -> str:
        """Search the web.

        Args:
            api_key: The key.
            query: What to look for.
            limit: How many results.
        """
        return f"{api_key}:{query}:{limit}"

    bound = tool(functools.partial(search, "secret", limit=3))
    assert bound.name == "search"
    assert bound.description == "Search the web."
    assert list(bound.definition["function"]["parameters"]["properties"]) == ["query"]
    assert await bound.run('{"query": "q"}') == "secret:q:3"
    with pytest.raises(ToolArgumentsError, match="unknown argument `limit`"):
        await bound.run('{"query": "q", "limit": 5}')


async def test_async_partial_is_awaited() -> None:
    async def add(a: int, b: int) -> int:
        return a + b

    assert await tool(functools.partial(add, 1)).run('{"b": 2}') == 3


async def test_callable_instance() -> None:
    class Doubler:
        def __call__(self, x: int) -> int:
            """Double a number."""
            return 2 * x

    doubler = tool(Doubler())
    assert (doubler.name, doubler.description) == ("__call__", "Double a number.")
    assert await doubler.run('{"x": 4}') == 8


async def test_exceptions_propagate_unchanged() -> None:
    class Boom(Exception):
        pass

    @tool
    async def fails() -> None:
        raise Boom("no")

    @tool
    def fails_sync() -> None:
        raise Boom("no")

    with pytest.raises(Boom):
        await fails.run("{}")
    with pytest.raises(Boom):
        await fails_sync.run("{}")


async def test_cancelling_a_sync_tool_does_not_wait_for_its_thread() -> None:
    release = threading.Event()

    @tool
    def blocks() -> None:
        release.wait(10)

    with anyio.move_on_after(0.05) as scope:
        await blocks.run("{}")
    release.set()
    assert scope.cancelled_caught


def test_parse_arguments_only_validates() -> None:
    calls: list[int] = []

    @tool
    def record(x: int, y: int = 2) -> None:
        calls.append(x)

    assert record.parse_arguments('{"x": 1}') == {"x": 1}
    assert calls == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "has space"}, "tool name 'has space' must be 1 to 64 letters"),
        ({"name": "x" * 65}, "must be 1 to 64 letters"),
        ({"name": ""}, "must be 1 to 64"),
        ({"timeout": 0}, "fn: timeout must be a positive number"),
        ({"timeout": -1.0}, "timeout must be a positive number"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    def fn() -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=message):
        tool(**options)(fn)


def test_lambda_needs_a_name() -> None:
    with pytest.raises(ToolDefinitionError, match="pass name="):
        tool(lambda: None)
    assert tool(name="noop")(lambda: None).name == "noop"


def test_a_tool_is_not_wrapped_twice() -> None:
    with pytest.raises(ToolDefinitionError, match=r"get_weather: already a Tool; use tool\(t.fn"):
        tool(get_weather)  # type: ignore[arg-type]


def test_definition_errors_are_type_errors_naming_function_and_parameter() -> None:
    def fn(ok: int, *rest: int) -> None:
        pass

    with pytest.raises(TypeError, match=r"fn: `\*rest`"):
        tool(fn)

    def strict_any(data: dict[str, Any]) -> None:
        pass

    with pytest.raises(
        ToolDefinitionError, match="strict_any: parameter `data` cannot be used with strict=True"
    ):
        tool(strict=True)(strict_any)


# --------------------------------------------------------------------------- bad arguments


class Address(msgspec.Struct):
    street: str
    zip_code: Annotated[str, Meta(pattern=r"^\d{5}$")]


@tool
def ship(
    to: Address,
    quantity: Annotated[int, Meta(ge=1, le=10)],
    items: list[str] = [],  # noqa: B006
    unit: Literal["kg", "lb"] = "kg",
    tags: dict[str, int] | None = None,
) -> str:
    return "shipped"


@pytest.mark.parametrize(
    ("arguments", "message", "path"),
    [
        (
            '{"to": {"street": "Main", "zip_code": "12345"}, "quantity": 1, "unit": "stone"}',
            'ship: argument `unit`: expected one of "kg", "lb", got "stone"',
            "$.unit",
        ),
        (
            '{"to": {"street": "Main", "zip_code": "12345"}}',
            "ship: missing required argument `quantity` (an integer)",
            "$.quantity",
        ),
        (
            '{"quantity": 1}',
            "ship: missing required argument `to`",
            "$.to",
        ),
        (
            '{"to": {"street": "Main"}, "quantity": 1}',
            "ship: missing required argument `to.zip_code` (a string)",
            "$.to.zip_code",
        ),
        (
            '{"to": {"street": "Main", "zip_code": "12345"}, "quantity": "2"}',
            'ship: argument `quantity`: expected `int`, got "2"',
            "$.quantity",
        ),
        (
            '{"to": {"street": "Main", "zip_code": "12345"}, "quantity": 11}',
            "ship: argument `quantity`: expected `int` <= 10, got 11",
            "$.quantity",
        ),
        (
            '{"to": {"street": "Main", "zip_code": "1234"}, "quantity": 1}',
            "ship: argument `to.zip_code`: expected `str` matching regex '^\\\\d{5}$', "
            'got "1234"',
            "$.to.zip_code",
        ),
        (
            '{"to": {"street": "Main", "zip_code": "12345"}, "quantity": 1, "items": ["a", 2]}',
            "ship: argument `items[1]`: expected `str`, got 2",
            "$.items[1]",
        ),
        (
            '{"to": {"street": "Main", "zip_code": "12345"}, "quantity": 1, "tags": {"a": "b"}}',
            "ship: argument `tags[...]`: expected `int`, got `str`",
            "$.tags[...]",
        ),
        (
            '{"to": {"street": "Main", "zip_code": "12345"}, "quantity": 1, "color": "red"}',
            "ship: unknown argument `color`; "
            "the arguments are `to`, `quantity`, `items`, `unit`, `tags`",
            "$.color",
        ),
        (
            '{"to": "Main Street 1", "quantity": 1}',
            'ship: argument `to`: expected `object`, got "Main Street 1"',
            "$.to",
        ),
        (
            '["Main", 1]',
            'ship: the arguments must be one JSON object, keyed by argument name, got ["Main",1]',
            "$",
        ),
        (
            "null",
            "ship: the arguments must be one JSON object, keyed by argument name, got null",
            "$",
        ),
        (
            '{"to": {"street": "Main"',
            "ship: the arguments are not valid JSON (Input data was truncated); "
            "send one JSON object, "
            'got \'{"to": {"street": "Main"\'',
            "$",
        ),
        (
            "{'quantity': 1}",
            "ship: the arguments are not valid JSON "
            "(JSON is malformed: object keys must be strings",
            "$",
        ),
    ],
)
async def test_bad_arguments_explain_themselves(arguments: str, message: str, path: str) -> None:
    with pytest.raises(ToolArgumentsError) as info:
        await ship.run(arguments)
    assert str(info.value).startswith(message)
    assert info.value.tool == "ship"
    assert info.value.path == path


def test_received_value_is_truncated() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        ship.parse_arguments(json.dumps({"to": "x" * 1000, "quantity": 1}))
    message = str(info.value)
    assert message.endswith("… (1002 chars)")
    assert len(message) < 300


def test_invalid_json_is_truncated() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        ship.parse_arguments("{" + "x" * 1000)
    assert str(info.value).endswith("chars)")
    assert len(str(info.value)) < 400


def test_unknown_argument_of_a_tool_without_arguments() -> None:
    @tool
    def ping() -> str:
        return "pong"

    with pytest.raises(
        ToolArgumentsError, match="unknown argument `x`; this tool takes no arguments"
    ):
        ping.parse_arguments('{"x": 1}')
    assert ping.parse_arguments("  ") == {}


def test_message_when_the_schema_does_not_know_the_path() -> None:
    from asynctool._arguments import arguments_error

    exc = msgspec.ValidationError("Object missing required field `b` - at `$.nowhere[0]`")
    error = arguments_error(exc, "{}", schema={"type": "object", "properties": {}}, tool="t")
    assert str(error) == "t: missing required argument `nowhere[0].b`"
    assert error.path == "$.nowhere[0].b"


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    a: int


class Labels(enum.Enum):
    ONE = "one"


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (Strict, {"a": 1, "b": 2}, "argument `x`: unknown field `b`"),
        (Labels, "two", 'argument `x`: expected one of "one", got "two"'),
        (Labels | None, "two", 'expected one of "one"'),
        (tuple[int, Labels], [1, "two"], 'argument `x[1]`: expected one of "one", got "two"'),
        (int | str, 1.5, "argument `x`: expected `int | str`, got 1.5"),
        (dict[str, Labels], {"k": "two"}, 'argument `x[...]`: expected one of "one"'),
        (Decimal, "abc", 'argument `x`: invalid decimal string, got "abc"'),
    ],
)
def test_more_messages(annotation: Any, value: Any, message: str) -> None:
    def fn(x):  # type: ignore[no-untyped-def]
        pass

    fn.__annotations__ = {"x": annotation}
    with pytest.raises(ToolArgumentsError) as info:
        tool(fn).parse_arguments(json.dumps({"x": value}))
    assert message in str(info.value)


# --------------------------------------------------------------------------- context


@dataclasses.dataclass
class Deps:
    user: str


@tool
async def whoami(ctx: ToolContext[Deps], greeting: str = "Hi") -> str:
    """Say who the user is."""
    return f"{greeting} {ctx.deps.user} ({ctx.tool_name}, {ctx.tool_call_id}, turn {ctx.turn})"


async def test_context_is_injected_and_left_out_of_the_schema() -> None:
    assert list(whoami.definition["function"]["parameters"]["properties"]) == ["greeting"]
    context = ToolContext(Deps("ada"), tool_call_id="call_1", tool_name="whoami", turn=2)
    assert await whoami.run("{}", context=context) == "Hi ada (whoami, call_1, turn 2)"
    assert context.messages == []


async def test_context_is_required_when_the_tool_takes_one() -> None:
    with pytest.raises(ToolError, match="tool 'whoami' takes a ToolContext \\(parameter `ctx`\\)"):
        await whoami.run("{}")


async def test_context_with_a_default_is_optional() -> None:
    @tool
    def maybe(ctx: ToolContext[None] | None = None) -> bool:
        return ctx is not None

    assert await maybe.run("{}") is False
    assert await maybe.run("{}", context=ToolContext(None)) is True


async def test_context_is_not_passed_to_tools_without_one() -> None:
    assert await get_weather.run('{"location": "x"}', context=ToolContext(None)) == (
        "20 degrees celsius in x"
    )


def test_context_cannot_be_sent_by_the_model() -> None:
    with pytest.raises(ToolArgumentsError, match="unknown argument `ctx`"):
        whoami.parse_arguments('{"ctx": {}}')


# --------------------------------------------------------------------------- registry


def test_registry() -> None:
    def plain(x: int) -> int:
        return x

    registry = ToolRegistry([get_weather, plain])

    @registry.tool
    def bare() -> None:
        pass

    @registry.tool(name="renamed", strict=True)
    def with_options(y: str) -> str:
        return y

    added = registry.add(whoami)
    assert added is whoami
    assert len(registry) == 5
    assert [t.name for t in registry] == ["get_weather", "plain", "bare", "renamed", "whoami"]
    assert registry["get_weather"] is get_weather
    assert registry.get("renamed") is with_options
    assert registry.get("missing") is None
    assert "plain" in registry
    assert "missing" not in registry
    assert isinstance(bare, Tool)
    assert with_options.strict
    with pytest.raises(KeyError):
        registry["missing"]
    assert registry.definitions() == [t.definition for t in registry]
    assert repr(registry) == "ToolRegistry(['get_weather', 'plain', 'bare', 'renamed', 'whoami'])"


def test_registry_definitions_are_fresh() -> None:
    registry = ToolRegistry([get_weather])
    registry.definitions()[0]["function"]["name"] = "changed"
    assert registry.definitions()[0]["function"]["name"] == "get_weather"


def test_registry_rejects_duplicate_names() -> None:
    registry = ToolRegistry([get_weather])
    with pytest.raises(
        ToolDefinitionError, match="a tool named 'get_weather' is already registered"
    ):
        registry.add(get_weather)

    with pytest.raises(ToolDefinitionError, match="already registered"):

        @registry.tool(name="get_weather")
        def other() -> None:
            pass

    assert len(registry) == 1


def test_empty_registry() -> None:
    registry = ToolRegistry()
    assert (len(registry), list(registry), registry.definitions()) == (0, [], [])


def test_schema_is_not_rebuilt_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import asynctool._schema
    import asynctool._tools

    monkeypatch.setattr(asynctool._tools, "function_schema", None)
    monkeypatch.setattr(asynctool._schema, "json_schema", None)
    assert get_weather.parse_arguments('{"location": "x"}') == {"location": "x"}
    assert get_weather.definition["function"]["name"] == "get_weather"


# ---------------------------------------------------------------------- schema and decoder agree


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Item(msgspec.Struct):
    """An order line."""

    sku: Annotated[str, Meta(pattern="^[A-Z]{3}-[0-9]{2}$")]
    count: Annotated[int, Meta(ge=1, le=99)] = 1
    note: str | None = None


@dataclasses.dataclass
class Window:
    start: dt.date
    end: dt.date | None = None


class Filters(TypedDict, total=False):
    color: Color
    level: Level


class Span(NamedTuple):
    low: float
    high: float = 1.0


class Tree(msgspec.Struct):
    label: str
    children: list[Tree] = []


class Cat(msgspec.Struct, tag=True):
    lives: Annotated[int, Meta(ge=0, le=9)]


class Dog(msgspec.Struct, tag=True):
    good: bool


def scalars(
    text: Annotated[str, Meta(min_length=1, max_length=5)],
    count: int,
    ratio: Annotated[float, Meta(gt=0, lt=1)],
    flag: bool,
    nothing: None,
    when: Annotated[dt.datetime, Meta(tz=True)],
    moment: dt.datetime,
    day: dt.date,
    at: Annotated[dt.time, Meta(tz=False)],
    clock: dt.time,
    ident: uuid.UUID,
    amount: Decimal,
    wait: dt.timedelta,
    mode: Literal["fast", "slow"] = "fast",
    color: Color = Color.RED,
    level: Level = Level.LOW,
    maybe: int | None = None,
) -> dict[str, Any]:
    """Every scalar type."""
    return locals()


def containers(
    numbers: list[int],
    pair: tuple[int, str],
    many: tuple[float, ...],
    unique: set[int],
    frozen: frozenset[str],
    scores: dict[str, float],
    short: Annotated[list[int], Meta(min_length=1, max_length=3)] = [1],  # noqa: B006
) -> dict[str, Any]:
    """Every container type."""
    return locals()


def nested(
    items: list[Item],
    window: Window,
    filters: Filters,
    span: Span,
    tree: Tree,
    pet: Cat | Dog,
    anything: Any = None,
) -> dict[str, Any]:
    """Structs, dataclasses, TypedDicts, NamedTuples, recursion, tagged unions."""
    return locals()


def strict_friendly(
    items: list[Item],
    window: Window,
    filters: Filters,
    tree: Tree,
    pet: Cat | Dog,
    when: Annotated[dt.datetime, Meta(tz=True)],
    ident: uuid.UUID,
    wait: dt.timedelta,
    flag: bool,
    nothing: None,
    ratio: Annotated[float, Meta(gt=0, lt=1)] = 0.5,
    mode: Literal["fast", "slow"] = "fast",
    level: Level = Level.LOW,
    unique: set[int] = {1},  # noqa: B006
    maybe: float | None = 0.5,
) -> dict[str, Any]:
    """What strict mode expresses without dropping a keyword the decoder checks."""
    return locals()


PROPERTY_TOOLS = [tool(scalars), tool(containers), tool(nested), tool(strict=True)(strict_friendly)]
PROPERTY_IDS = ["scalars", "containers", "nested", "strict"]


@functools.cache
def _validator(subject: Tool[..., Any]) -> jsonschema.Draft202012Validator:
    schema = subject.definition["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _strategy(subject: Tool[..., Any]) -> st.SearchStrategy[Any]:
    schema = subject.definition["function"]["parameters"]
    return arguments_for(schema, schema.get("$defs", {}))


def _json_values() -> st.SearchStrategy[Any]:
    scalar = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=5)
    )
    return st.recursive(
        scalar,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=5,
    )


def _string(node: dict[str, Any]) -> st.SearchStrategy[str]:
    fmt = node.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    if "pattern" in node:
        # fullmatch: a pattern's `$` must not be met with a final newline, as Python's `re`
        # allows and ECMA-262 (JSON Schema's dialect) does not.
        return st.from_regex(node["pattern"], fullmatch=True)
    low, high = node.get("minLength", 0), node.get("maxLength", 8)
    return st.text(st.characters(blacklist_categories=("Cs",)), min_size=low, max_size=high)


def _duration(value: dt.timedelta) -> str:
    """RFC 3339's form of a duration (appendix A): whole units, no sign, no fraction."""
    hours, rest = divmod(value.seconds, 3600)
    parts = [f"{value.days}D" if value.days else "", "T"]
    parts += [f"{n}{unit}" for n, unit in ((hours, "H"), (rest // 60, "M"), (rest % 60, "S")) if n]
    text = "P" + "".join(parts).rstrip("T")
    return text if text != "P" else "PT0S"


_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date-time": st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat),
    "date": st.dates().map(dt.date.isoformat),
    "time": st.times(timezones=st.just(dt.UTC)).map(dt.time.isoformat),
    "partial-time": st.times().map(dt.time.isoformat),
    "uuid": st.uuids().map(str),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False).map(str),
    # Up to the 10**8 days the schema's pattern allows (asynctool/_formats.py says why).
    "duration": st.timedeltas(dt.timedelta(0), dt.timedelta(days=10**8 - 1)).map(_duration),
}


def _number(node: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if integer:
        low = None if low is None else low + ("exclusiveMinimum" in node)
        high = None if high is None else high - ("exclusiveMaximum" in node)
        return st.integers(low, high)
    return st.floats(
        low,
        high,
        exclude_min="exclusiveMinimum" in node,
        exclude_max="exclusiveMaximum" in node,
        allow_nan=False,
        allow_infinity=False,
    )


def arguments_for(node: Any, defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values valid for a schema: the subset of JSON Schema the tools emit."""
    if node is True or node == {} or set(node) <= {"description", "default", "title"}:
        return _json_values()
    if "$ref" in node:
        return arguments_for(defs[node["$ref"].rpartition("/")[2]], defs, depth)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "anyOf" in node:
        return st.one_of([arguments_for(sub, defs, depth) for sub in node["anyOf"]])
    kind = node["type"]
    if kind in ("integer", "number"):
        return _number(node, kind == "integer")
    simple = {"string": _string, "boolean": lambda _: st.booleans(), "null": lambda _: st.none()}
    if kind in simple:
        return simple[kind](node)
    if kind == "array":
        return _array(node, defs, depth)
    return _object(node, defs, depth)


def _array(node: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "prefixItems" in node:
        parts = [arguments_for(sub, defs, depth + 1) for sub in node["prefixItems"]]
        low = node.get("minItems", len(parts))
        return st.integers(low, len(parts)).flatmap(lambda n: st.tuples(*parts[:n]).map(list))
    high = min(node.get("maxItems", 3), 3 if depth < 3 else node.get("minItems", 0))
    if high == 0:
        return st.just([])  # also ends recursive types
    items = arguments_for(node.get("items", {}), defs, depth + 1)
    unique = (
        {"unique_by": lambda v: json.dumps(v, sort_keys=True)} if node.get("uniqueItems") else {}
    )
    return st.lists(items, min_size=node.get("minItems", 0), max_size=high, **unique)


def _object(node: dict[str, Any], defs: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "properties" not in node:
        values = arguments_for(node.get("additionalProperties", {}), defs, depth + 1)
        return st.dictionaries(st.text(max_size=4), values, max_size=3)
    required = set(node.get("required", ()))
    properties = node["properties"]
    return st.fixed_dictionaries(
        {name: arguments_for(properties[name], defs, depth + 1) for name in required},
        optional={
            name: arguments_for(sub, defs, depth + 1)
            for name, sub in properties.items()
            if name not in required and depth < 3
        },
    )


def _only_forgiven_errors(validator: jsonschema.Draft202012Validator, instance: Any) -> bool:
    """Whether the decoder may accept this: no schema error, or only those it forgives.

    It takes a number for a Decimal, a repeated item in a set, and, in strict mode, leaving out
    a property that has a default or a key of a `total=False` TypedDict.
    """
    return all(_forgiven(error) for error in validator.iter_errors(instance))


# Strict mode lists every key of a `total=False` TypedDict as required, so the model sends them
# all, while the decoder still takes any of them left out: an object of such a type missing a
# key is refused by the schema, not by the tool (the rule only asks the other way round).
_KEYS_OPTIONAL_TO_THE_DECODER = frozenset({"Filters"})

# msgspec decodes a TypedDict or a dataclass by the keys it declares and drops any other (only a
# Struct can forbid unknown fields), so an extra key inside one is refused by the schema
# (`additionalProperties: false`) and dropped by the tool: the README lists it among the places
# where the decoder is the more lenient. Found by this test (a `{"k": 1}` for `filters`).
_UNKNOWN_KEYS_DROPPED_BY_THE_DECODER = frozenset({"Filters", "Window"})


def _forgiven(error: jsonschema.ValidationError) -> bool:
    if error.validator == "type" and error.schema.get("format") == "decimal":
        return True
    if error.validator == "required" and error.schema.get("title") in _KEYS_OPTIONAL_TO_THE_DECODER:
        return True
    if (
        error.validator == "additionalProperties"
        and error.schema.get("title") in _UNKNOWN_KEYS_DROPPED_BY_THE_DECODER
    ):
        return True
    if error.validator == "required":
        missing = set(error.validator_value) - set(error.instance)
        properties = error.schema["properties"]
        return all("default: " in properties[name].get("description", "") for name in missing)
    return error.validator == "uniqueItems"


_REPLACEMENTS = [None, True, 0, 1.5, "text", [], {}, [1], {"k": 1}, -1]


@st.composite
def mutated(draw: st.DrawFn, value: dict[str, Any], schema: dict[str, Any]) -> str:
    """`value` as JSON broken one way: truncated, a value replaced, a key added or left out."""
    text = json.dumps(value)
    kind = draw(st.sampled_from(["truncate", "replace", "unknown", "missing"]))
    if kind == "truncate":
        return text[: draw(st.integers(1, len(text) - 1))]
    if kind == "unknown":
        name = draw(st.text(min_size=1, max_size=5).filter(lambda n: n not in schema["properties"]))
        return json.dumps({**value, name: draw(st.sampled_from(_REPLACEMENTS))})
    if kind == "missing":
        assume(schema["required"])
        name = draw(st.sampled_from(schema["required"]))
        return json.dumps({k: v for k, v in value.items() if k != name})
    paths = list(_paths(value))
    path = draw(st.sampled_from(paths))
    return json.dumps(_replace(value, path, draw(st.sampled_from(_REPLACEMENTS))))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Any:
    if prefix:
        yield prefix
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


# Nested and recursive arguments are slow and big to generate; that is no failure of the code.
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("subject", PROPERTY_TOOLS, ids=PROPERTY_IDS)
@SETTINGS
@given(data=st.data())
def test_generated_arguments_are_accepted(subject: Tool[..., Any], data: st.DataObject) -> None:
    value = data.draw(_strategy(subject))
    _validator(subject).validate(value)  # the generator itself is right
    result = anyio.run(subject.run, json.dumps(value))
    assert set(result) >= set(value)


@pytest.mark.parametrize("subject", PROPERTY_TOOLS, ids=PROPERTY_IDS)
@SETTINGS
@given(data=st.data())
def test_mutated_arguments_are_rejected(subject: Tool[..., Any], data: st.DataObject) -> None:
    value = data.draw(_strategy(subject))
    text = data.draw(mutated(value, subject.definition["function"]["parameters"]))
    try:
        instance = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        assume(not _only_forgiven_errors(_validator(subject), instance))
    with pytest.raises(ToolArgumentsError) as info:
        anyio.run(subject.run, text)
    assert str(info.value).startswith(f"{subject.name}: ")


class UserModel(pydantic.BaseModel):
    email: str
    age: int = pydantic.Field(ge=1)


async def test_a_pydantic_parameter_is_described_and_called() -> None:
    # Issue 15: this parameter used to get {"description": "Account details."}, any JSON, and
    # every call failed with "expected UserModel, got {...}".
    @tool
    def register(user: UserModel) -> str:
        """Register an account.

        Args:
            user: Account details.
        """
        return f"{user.email} ({user.age})"

    parameters = register.definition["function"]["parameters"]
    assert parameters["properties"]["user"] == {
        "description": "Account details.",
        "$ref": "#/$defs/UserModel",
    }
    assert parameters["$defs"]["UserModel"]["required"] == ["email", "age"]
    assert await register.run('{"user": {"email": "a@b.c", "age": 1}}') == "a@b.c (1)"
    with pytest.raises(ToolArgumentsError) as info:
        await register.run('{"user": {"email": "a@b.c", "age": 0}}')
    assert str(info.value) == (
        "register: argument `user.age`: input should be greater than or equal to 1, got 0"
    )
    assert info.value.path == "$.user.age"
