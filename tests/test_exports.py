"""The public surface: `__all__` matches what `asynctool` exports, and API.md's names exist."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import asynctool

CONTRACT = [  # names ../shared/API.md promises to users and conformance suites
    "AsyncClient",
    "AsyncToolError",
    "Timeout",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "InternalServerError",
]


def test_all_is_sorted_and_matches_the_public_names() -> None:
    public = {
        name
        for name in dir(asynctool)
        if not name.startswith("_")
        and not isinstance(getattr(asynctool, name), types.ModuleType)  # e.g. .testing
    }
    assert asynctool.__all__ == sorted(asynctool.__all__)
    assert set(asynctool.__all__) == public


def test_contract_names_are_exported() -> None:
    missing = [name for name in CONTRACT if name not in asynctool.__all__]
    assert missing == []


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(asynctool, n) for n in asynctool.__all__ if n.endswith(("Error", "Exceeded"))]
    assert errors and all(issubclass(e, asynctool.AsyncToolError) for e in errors)


def test_every_public_name_has_a_docstring() -> None:
    undocumented = [
        name
        for name in asynctool.__all__
        if callable(getattr(asynctool, name)) and not getattr(asynctool, name).__doc__
    ]
    assert undocumented == []


def test_the_tool_stack_is_imported_on_first_use() -> None:
    script = (
        "import sys, asynctool\n"
        "heavy = ('asynctool._agent', 'asynctool._tools', 'asynctool._schema', 'docstring_parser',"
        " 'anyio')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "from asynctool import Agent, tool\n"
        "print(Agent.__module__, tool.__module__, 'asynctool._schema' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "asynctool._agent asynctool._tools True"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        asynctool.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_opentelemetry_is_not_imported_by_import_asynctool() -> None:
    # Installed in the test environment (the `test` extra): still not loaded by the import.
    script = (
        "import sys, asynctool\nprint(any(m.startswith('opentelemetry') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_opentelemetry_requests_and_runs_work_as_before() -> None:
    # `opentelemetry` made unimportable: a request and an agent run against the embedded server
    # go through, and the tracing hooks do nothing.
    script = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "import asyncio\n"
        "from asynctool import Agent, AsyncClient, tool\n"
        "from asynctool.testing import ModelServer, ScriptedModel, call, text, tool_calls\n"
        "@tool\n"
        "def add(a: int, b: int) -> int:\n"
        "    '''Add.\n\n    Args:\n        a: One.\n        b: Two.\n    '''\n"
        "    return a + b\n"
        "async def main():\n"
        "    turns = [text('hi'), tool_calls(call('add', {'a': 1, 'b': 2})), text('3')]\n"
        "    async with ModelServer(ScriptedModel(turns)) as server:\n"
        "        async with AsyncClient(base_url=server.base_url, api_key='k') as client:\n"
        "            stream = await client.chat.completions.create(\n"
        "                model='m', messages=[{'role': 'user', 'content': 'x'}], stream=True)\n"
        "            async with stream:\n"
        "                done = await stream.get_final_completion()\n"
        "            result = await Agent(client, model='m', tools=[add]).run('1+2')\n"
        "    import asynctool._otel as t\n"
        "    print(done.choices[0].message.content, result.output, t._OTEL, t._ABSENT)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["hi", "3", "None", "True"]


def test_the_mcp_sdk_is_imported_only_with_asynctool_mcp() -> None:
    script = (
        "import sys, asynctool\n"
        "from asynctool import Agent, tool\n"
        "print(sorted(m for m in ('mcp', 'mcp_types', 'jsonschema', 'httpx2') if m in sys.modules))\n"
        "import asynctool.mcp\n"
        "print('mcp' in sys.modules, 'jsonschema' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "True True"]


def test_dbos_is_imported_only_with_asynctool_dbos() -> None:
    script = (
        "import sys, asynctool\n"
        "from asynctool import Agent, tool\n"
        "print(sorted(m for m in ('dbos', 'sqlalchemy', 'asynctool._dbos') if m in sys.modules))\n"
        "import asynctool.dbos\n"
        "print('dbos' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "True True"]


def test_temporalio_is_imported_only_with_asynctool_temporal() -> None:
    pytest.importorskip("temporalio", reason="pip install 'asynctool[temporal]'")
    script = (
        "import sys, asynctool\n"
        "from asynctool import Agent, tool\n"
        "import asynctool.testing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'temporalio'))\n"
        "import asynctool.temporal\n"
        "print('temporalio.workflow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "True"]
