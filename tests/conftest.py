"""Shared fixtures: every test starts without the caller's OpenAI environment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clear_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a real key or base URL from the machine they run on."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
