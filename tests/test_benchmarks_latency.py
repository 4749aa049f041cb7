"""Smoke run of the latency benchmark (`agent_latency`) at tiny sizes; it measures nothing.

asynctool's two clients run the scripted conversation against the real benchmark server
process, and the server's record of what they sent must pass the benchmark's own check: all four
tools run, every result sent back. openai-agents and pydantic-ai (the `bench` extra) are not
needed here: `python -m benchmarks` runs them. The script itself is checked for what the
scenario promises: evenly spaced writes, the second call's head at the first call's ready
moment, arguments that add up to each call's JSON.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import report, run, scenarios, worker
from benchmarks.clients import BENCH_EXTRA, unavailable
from benchmarks.processes import ServerProcess, running_server
from benchmarks.scenarios import LATENCY_CALLS, TINY, LatencyRun

SCENARIO = scenarios.BY_NAME["agent_latency"]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_server(TINY) as process:
        yield process


@pytest.mark.parametrize("client", SCENARIO.clients)
async def test_client_runs_every_tool_and_sends_every_result(
    server: ServerProcess, client: str
) -> None:
    if client in BENCH_EXTRA:
        pytest.skip(f"{client} is the bench extra's; `python -m benchmarks` runs it")
    reason = unavailable(client)
    if reason:
        pytest.skip(reason)
    measured = await worker.measure(SCENARIO, client, server.url, TINY)
    record = {**dataclasses.asdict(measured), "errors": {}}
    assert run.check(record, SCENARIO, TINY) == []
    assert measured.latency is not None
    assert measured.latency.tools_run == len(LATENCY_CALLS)
    first, second = measured.received
    assert first["stream"] and not first["tool_results"]
    assert [r["tool_call_id"] for r in second["tool_results"]] == [c.id for c in LATENCY_CALLS]
    # Each moment is noted as it happens: the tool turn's results before the answer, and the
    # answer only after the server was sent the results.
    assert 0 < measured.latency.last_result_s <= measured.latency.final_s
    assert second["at_s"] <= measured.latency.final_s
    if client == "asynctool-agent":
        # Without eager tools no tool starts before the stream's last write, which the server
        # makes latency_stream_s after the request arrived (1 ms of clock slack).
        end = first["at_s"] + TINY.latency_stream_s
        assert measured.latency.slow_tool_started_s >= end - 0.001


def test_check_catches_a_client_that_skips_work() -> None:
    calls = [{"id": c.id, "name": c.name, "arguments": c.text} for c in LATENCY_CALLS]
    results = [{"tool_call_id": c.id, "content": c.output} for c in LATENCY_CALLS]
    turn = {"at_s": 0.0, "stream": True, "tool_calls": [], "tool_results": []}
    back = {"at_s": 1.0, "stream": True, "tool_calls": calls, "tool_results": results}
    assert scenarios.latency_problems([turn, back]) == []
    assert scenarios.latency_problems([turn]) == [
        "the server got 1 request(s), expected 2 (the turn, the results)"
    ]
    # A result not computed by the tool for that call, and one left out.
    wrong = [{**results[0], "content": "done"}, *results[1:]]
    assert "sends" in scenarios.latency_problems([turn, {**back, "tool_results": wrong}])[0]
    assert "sends" in scenarios.latency_problems([turn, {**back, "tool_results": results[1:]}])[0]
    # Arguments other than the streamed ones, and a turn that was not streamed.
    changed = [{**calls[1], "arguments": '{"city": "Paris"}'}, *calls[:1], *calls[2:]]
    problems = scenarios.latency_problems(
        [{**turn, "stream": False}, {**back, "tool_calls": changed}]
    )
    assert problems[0] == "the tool-call turn was not streamed"
    assert "repeats the calls" in problems[1]
    done = LatencyRun(tools_run=4, results_seen=4, output=scenarios.LATENCY_ANSWER)
    assert done.mismatches() == []
    assert LatencyRun(
        tools_run=3, results_seen=4, output=scenarios.LATENCY_ANSWER
    ).mismatches() == ["tools run: 3, expected 4"]
    assert len(LatencyRun(tools_run=4, results_seen=3, output=None).mismatches()) == 2


@pytest.mark.parametrize("sizes", [TINY, scenarios.FULL], ids=["tiny", "full"])
def test_script_spreads_the_calls_evenly_and_completes_the_first_on_time(
    sizes: scenarios.Sizes,
) -> None:
    writes = scenarios.latency_stream(sizes)
    times = [at for at, _ in writes]
    step = sizes.latency_stream_s / sizes.latency_ticks
    assert times == pytest.approx([i * step for i in range(sizes.latency_ticks + 1)])
    assert times[-1] == pytest.approx(sizes.latency_stream_s)
    heads: dict[int, float] = {}
    arguments: dict[int, str] = {}
    for at, data in writes:
        for event in data.decode().split("\n\n"):
            if not event.startswith("data: {"):
                continue
            for choice in json.loads(event.removeprefix("data: "))["choices"]:
                for part in choice["delta"].get("tool_calls") or ():
                    if "id" in part:
                        heads[part["index"]] = at
                    arguments[part["index"]] = (
                        arguments.get(part["index"], "") + part["function"]["arguments"]
                    )
    assert writes[-1][1].endswith(b"data: [DONE]\n\n")
    # The second call begins, so the first is complete, exactly at latency_first_ready_s.
    assert heads[1] == pytest.approx(sizes.latency_first_ready_s)
    assert list(heads.values()) == sorted(heads.values())
    assert [json.loads(arguments[i]) for i in range(len(LATENCY_CALLS))] == [
        c.arguments for c in LATENCY_CALLS
    ]
    assert all(at == 0 for at, _ in scenarios.latency_stream(sizes, timed=False))


def test_script_refuses_too_few_writes() -> None:
    with pytest.raises(ValueError, match="latency_ticks=6"):
        scenarios.latency_stream(dataclasses.replace(TINY, latency_ticks=6))


def test_goals_follow_the_sizes() -> None:
    full = scenarios.FULL
    assert scenarios.latency_goal_s(full) == pytest.approx(2.0)
    assert scenarios.latency_after_stream_s(full) == pytest.approx(3.5)
    late = dataclasses.replace(full, latency_first_ready_s=1.0)
    assert scenarios.latency_goal_s(late) == pytest.approx(2.5)
    assert report.latency_expected_s("asynctool-eager", full) == pytest.approx(2.0)
    assert report.latency_expected_s("pydantic-ai", full) == pytest.approx(3.5)


def test_command_line_runs_the_scenario_alone(tmp_path: Path) -> None:
    argv = ["--preset", "tiny", "--clients", "asynctool-agent,asynctool-eager"]
    argv += ["--scenarios", "agent_latency", "--out", str(tmp_path)]
    assert run.main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text("utf-8"))
    agent = results["scenarios"]["agent_latency"]["clients"]["asynctool-agent"]
    assert agent["good_runs"] == 1
    raw = agent["raw"][0]
    # With one run, each median is that run's own figure.
    assert agent["median"]["last_result_s"] == raw["latency"]["last_result_s"]
    assert agent["median"]["results_sent_s"] == raw["received"][1]["at_s"]
    (verdict,) = [t for t in results["targets"] if t["scenario"] == "agent_latency"]
    assert verdict["limit"] == pytest.approx(scenarios.latency_goal_s(TINY) * 1.05)
    eager_skipped = "asynctool-eager" in results["skipped"]
    assert (verdict["status"] == "not measured") == eager_skipped
    table = (tmp_path / "results.md").read_text("utf-8")
    assert "| asynctool-agent | " in table
    # Only the latency scenario ran: the CPU table is left out, the latency table is there.
    assert "| scenario | client | CPU µs/unit" not in table
    assert "turn's last tool result" in table
    if eager_skipped:
        assert "| asynctool-eager | not measured: " in table
