"""What an MCP server's schemas and results become (asynctool/_mcp_tools.py), for schemas and
blocks a real server could send but the test server does not: no I/O, plain values in and out.

Tool results: https://modelcontextprotocol.io/specification/2025-11-25/server/tools#tool-result
Input schemas: https://modelcontextprotocol.io/specification/2025-11-25/server/tools#tool
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import mcp_types
import pytest

from asynctool import ToolArgumentsError
from asynctool._mcp_tools import ArgumentChecker, closed_schema, parameters_of, result_text


def checker(schema: dict[str, Any], nulls: frozenset[str] = frozenset()) -> ArgumentChecker:
    return ArgumentChecker("t", closed_schema(schema), nulls)


def test_a_schema_with_optional_properties_below_the_top_is_not_made_strict() -> None:
    schema = {
        "type": "object",
        "properties": {
            "point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "label": {"type": "string"}},
                "required": ["x"],
            }
        },
        "required": ["point"],
    }
    parameters, nulls = parameters_of(schema)
    # Strict mode would make the model send `label` every time: the schema goes as written.
    assert nulls is None
    assert parameters == {**schema, "additionalProperties": False}


def test_optional_properties_inside_a_union_also_keep_the_schema_as_written() -> None:
    schema = {
        "type": "object",
        "properties": {
            "target": {
                "anyOf": [
                    {"type": "object", "properties": {"id": {"type": "integer"}}, "required": []},
                    {"type": "string"},
                ]
            }
        },
        "required": ["target"],
    }
    assert parameters_of(schema)[1] is None


def test_a_schema_outside_the_strict_subset_goes_as_written_and_closed() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "object"}}}  # free keys
    parameters, nulls = parameters_of(schema)
    assert nulls is None
    assert parameters == {
        "type": "object",
        "properties": schema["properties"],
        "additionalProperties": False,
    }
    # A server that allows more arguments keeps saying so.
    open_schema = {"type": "object", "properties": {}, "additionalProperties": True}
    assert parameters_of(open_schema) == (open_schema, None)


def test_a_schema_without_type_or_properties_is_an_object_of_no_arguments() -> None:
    parameters, nulls = parameters_of({})
    assert parameters == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
        "required": [],
    }
    assert nulls == frozenset()


def test_strict_optional_arguments_accept_null_for_left_out() -> None:
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
        "required": ["q"],
    }
    parameters, nulls = parameters_of(schema)
    assert nulls == frozenset({"limit"})
    assert parameters["required"] == ["q", "limit"]
    check = checker(schema, nulls)
    assert check.check('{"q": "x", "limit": null}') == {"q": "x"}
    # The server's own constraints are still checked, also those strict mode only describes.
    with pytest.raises(
        ToolArgumentsError, match=r"t: argument `limit`: 0 is less than the minimum of 1"
    ):
        check.check('{"q": "x", "limit": 0}')


def test_nested_failures_name_the_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "stops": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["stops"],
    }
    check = checker(schema)
    with pytest.raises(ToolArgumentsError) as missing:
        check.check('{"stops": [{"city": "Lyon"}, {}]}')
    assert str(missing.value) == "t: missing required argument `stops[1].city` (a string)"
    assert missing.value.path == "$.stops[1].city"
    with pytest.raises(ToolArgumentsError) as unknown:
        check.check('{"stops": [{"city": "Lyon", "nights": 2}]}')
    assert str(unknown.value) == "t: argument `stops[0]`: unknown field `nights`"
    with pytest.raises(
        ToolArgumentsError, match=r"argument `stops\[0\].city`: expected a string, got 3"
    ):
        check.check('{"stops": [{"city": 3}]}')


def test_a_union_of_types_is_named_in_words() -> None:
    check = checker({"type": "object", "properties": {"n": {"type": ["integer", "null"]}}})
    with pytest.raises(
        ToolArgumentsError, match='argument `n`: expected an integer or null, got "x"'
    ):
        check.check('{"n": "x"}')
    assert check.check("") == {}  # no text at all: no arguments


def test_an_invalid_schema_is_the_servers_mistake_and_leaves_the_checking_to_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="asynctool"):
        check = checker({"type": "object", "properties": {"a": {"type": "no-such-type"}}})
    assert "has an invalid input schema" in caplog.text
    assert check.check('{"a": 1}') == {"a": 1}
    with pytest.raises(ToolArgumentsError, match="must be one JSON object"):
        check.check('"text"')


def b64(size: int) -> str:
    return base64.b64encode(bytes(size)).decode()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 100, 1001])
def test_a_binary_size_is_the_decoded_one(size: int) -> None:
    image = mcp_types.ImageContent(data=b64(size), mime_type="image/jpeg")
    assert result_text([image], None) == f"[image: image/jpeg, {size} bytes]"


def test_blocks_without_a_mime_type_and_of_unknown_kinds_are_described() -> None:
    link = mcp_types.ResourceLink(uri="https://example.com/a", name="a")
    blob = mcp_types.EmbeddedResource(
        resource=mcp_types.BlobResourceContents(uri="mem://b", blob=b64(3))
    )
    text = mcp_types.EmbeddedResource(
        resource=mcp_types.TextResourceContents(uri="mem://t", text="hi")
    )

    class Future:  # a content type newer than this client
        type = "hologram"

    assert result_text([link, blob, text, Future()], None).splitlines() == [
        "[resource link: https://example.com/a (a)]",
        "[resource: mem://b, 3 bytes]",
        "[resource: mem://t]",
        "hi",
        "[hologram content]",
    ]


def test_structured_content_alone_is_compact_json_and_with_text_the_text_is_kept() -> None:
    structured = {"temperature": 22.5, "conditions": "Partly cloudy"}
    assert result_text([], structured) == '{"temperature":22.5,"conditions":"Partly cloudy"}'
    said = mcp_types.TextContent(text='{"temperature": 22.5, "conditions": "Partly cloudy"}')
    assert result_text([said], structured) == said.text
    parts = [mcp_types.TextContent(text="one"), mcp_types.TextContent(text="two")]
    assert result_text(parts, None) == "one\ntwo"
