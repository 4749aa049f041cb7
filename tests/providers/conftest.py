"""The provider fakes' fixture: `await fake(answers, rules)` starts one, with a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from asynctool import AsyncClient
from asynctool.testing import ModelServer
from tests.providers._provider import API_KEY, Answer, Fake, ProviderModel, Rule, StartFake


@pytest.fixture
async def fake() -> AsyncIterator[StartFake]:
    """`await fake(answers, rules=(), **client_options)`: a provider fake on 127.0.0.1 that
    requires `API_KEY`, and an `AsyncClient` for it (no retries: a provider's 400 must reach
    the test as the provider sent it). Both are closed after the test."""
    opened: list[Fake] = []

    async def start(answers: Sequence[Answer], rules: Sequence[Rule] = (), **options: Any) -> Fake:
        model = ProviderModel(answers, rules)
        server = ModelServer(model, api_key=API_KEY)
        await server.start()
        client = AsyncClient(
            base_url=server.base_url, **{"api_key": API_KEY, "max_retries": 0, **options}
        )
        started = Fake(server=server, client=client, model=model)
        opened.append(started)
        return started

    yield start
    for started in opened:
        await started.client.close()
        await started.server.close()
