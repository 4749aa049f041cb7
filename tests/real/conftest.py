"""A real llama.cpp server for the tests in this directory, started once per session.

These tests run only when asked for: `python -m pytest tests/real --no-cov` (as `.ci/run`
does), or a node id inside `tests/real`. The README's plain `python -m pytest` deselects them,
because the first run builds llama-server (minutes) and every run loads a model; the summary
says so, and how to run them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from asynctool import AsyncClient

from ._llama import RunningServer, provision, serve

_HERE = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    """Whether the command line names this directory or something inside it."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0]).resolve()
        if path == _HERE or _HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    real = [item for item in items if _HERE in Path(item.path).parents]
    if real:
        config.hook.pytest_deselected(items=real)
        items[:] = [item for item in items if item not in real]
        config.stash[_DESELECTED] = len(real)


_DESELECTED = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    count = terminalreporter.config.stash.get(_DESELECTED, 0)
    if count:
        terminalreporter.write_line(
            f"{count} tests against a real llama-server were deselected; run them with "
            "`python -m pytest tests/real --no-cov` (see the README's 'Tested against')."
        )


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A running llama-server with Gemma 3 270M, provisioned first if it is not cached."""
    provisioned = provision()
    with serve(provisioned, tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture
async def client(llama: RunningServer) -> AsyncIterator[AsyncClient]:
    """A client with the server's key. No retries: against a real server on 127.0.0.1 a
    retry would only hide a bug (the keep-alive race showed up as one)."""
    async with AsyncClient(base_url=llama.base_url, api_key=llama.api_key, max_retries=0) as c:
        yield c
