"""A run's bounds in tokens, requests and wall time."""

from __future__ import annotations

from typing import Any

import pytest

from asynctool import (
    AgentError,
    BudgetExceeded,
    ChatCompletion,
    InvalidRequestError,
    RequestBudgetExceeded,
    TimeBudgetExceeded,
    TokenBudgetExceeded,
    Usage,
)
from asynctool._budget import Budget, Clock


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_total_tokens": 0}, "max_total_tokens"),
        ({"max_total_tokens": 1.5}, "max_total_tokens"),
        ({"max_requests": True}, "max_requests"),
        ({"max_requests": -1}, "max_requests"),
        ({"max_run_seconds": 0}, "max_run_seconds"),
        ({"max_run_seconds": "5"}, "max_run_seconds"),
        ({"max_run_seconds": float("nan")}, "max_run_seconds"),
    ],
)
def test_a_bound_that_is_not_positive_is_refused_by_name(
    options: dict[str, Any], field: str
) -> None:
    bounds = {"max_total_tokens": None, "max_requests": None, "max_run_seconds": None, **options}
    with pytest.raises(InvalidRequestError) as caught:
        Budget.checked(**bounds)
    assert caught.value.field == field


def test_no_bound_lets_everything_through() -> None:
    budget = Budget.checked(None, None, None)
    budget.before_request(Usage(total_tokens=10**9), 10**6)
    budget.before_tools(Usage(total_tokens=10**9), ChatCompletion(id="c", model="m", created=0))


def test_the_token_bound_stops_a_request_once_reached() -> None:
    budget = Budget.checked(100, None, None)
    budget.before_request(Usage(total_tokens=99), 0)
    with pytest.raises(TokenBudgetExceeded) as caught:
        budget.before_request(Usage(total_tokens=100), 0)
    assert (caught.value.limit, caught.value.used) == (100, 100)
    completion = ChatCompletion(id="c", model="m", created=0)
    with pytest.raises(TokenBudgetExceeded, match="did not run") as caught:
        budget.before_tools(Usage(total_tokens=150), completion)
    assert caught.value.completion is completion


def test_the_request_bound_stops_the_request_past_it() -> None:
    budget = Budget.checked(None, 2, None)
    budget.before_request(Usage(), 1)
    with pytest.raises(RequestBudgetExceeded, match="made 2 requests, max_requests=2") as caught:
        budget.before_request(Usage(), 2)
    assert (caught.value.limit, caught.value.used) == (2, 2)


def test_the_clock_counts_the_time_a_paused_run_had_already_used() -> None:
    clock = Clock(10.0, before=9.5)
    assert 9.5 <= clock.elapsed() < 10.0
    remaining = clock.remaining()
    assert remaining is not None and remaining <= 0.5
    clock.check()
    assert Clock(None).remaining() is None
    with pytest.raises(TimeBudgetExceeded):
        Clock(1.0, before=1.0).check()


def test_each_bound_is_an_agent_error_that_carries_the_transcript_slots() -> None:
    for cls in (TokenBudgetExceeded, RequestBudgetExceeded, TimeBudgetExceeded):
        error = cls("over", limit=1, used=2)
        assert isinstance(error, BudgetExceeded) and isinstance(error, AgentError)
        assert error.messages == [] and error.usage is None
    assert issubclass(TimeBudgetExceeded, TimeoutError)
