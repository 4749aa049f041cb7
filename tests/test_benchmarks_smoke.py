"""Smoke run of the benchmark code at tiny sizes, so it keeps working; it measures nothing.

Every scenario runs once with every client that can be imported, in this process, against the
real benchmark server process; each client must count exactly what the server sent. One small
end-to-end run of the command line checks the runner, the JSON and the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import instructions, run, scenarios, worker
from benchmarks.clients import unavailable
from benchmarks.processes import ServerProcess, Zygotes, running_server
from benchmarks.scenarios import TINY, Tally

# The latency scenario has its own smoke test (tests/test_benchmarks_latency.py).
CASES = [
    (s.name, client) for s in scenarios.SCENARIOS if s.kind != "latency" for client in s.clients
]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_server(TINY) as process:
        yield process


@pytest.mark.parametrize(("scenario", "client"), CASES, ids=[f"{s}-{c}" for s, c in CASES])
async def test_client_counts_what_the_server_sent(
    server: ServerProcess, scenario: str, client: str
) -> None:
    reason = unavailable(client)
    if reason:
        pytest.skip(reason)
    measured = await worker.measure(scenarios.BY_NAME[scenario], client, server.url, TINY)
    assert measured.errors == {}
    assert measured.tally.mismatches(scenarios.expected(scenario, TINY)) == []
    assert measured.units > 0
    assert measured.cpu_s > 0
    assert measured.wall_s >= measured.cpu_s * 0.5
    assert measured.peak_rss_mb > 1


def test_minor_faults_count_fresh_memory() -> None:
    before = worker.minor_faults()
    fresh = bytearray(8 << 20)  # zeroed, so every page is touched
    touched = worker.minor_faults()
    assert touched > before
    # With nothing new touched in between, the count stays put: it counts faults, not calls.
    assert worker.minor_faults() - touched < 64
    del fresh


def test_expected_counts_follow_the_sizes() -> None:
    text = scenarios.expected("text_stream", TINY)
    # Content chunks plus the role, finish and usage chunks.
    assert text.chunks == TINY.text_chunks + 3
    tools = scenarios.expected("parallel_tool_calls", TINY)
    assert tools.chunks == TINY.parallel_calls * (TINY.parallel_fragments + 1) + 3
    concurrent = scenarios.expected("concurrent_streams", TINY, failed_streams=2)
    assert concurrent.chunks == (TINY.concurrent_streams - 2) * (TINY.concurrent_chunks + 3)


def test_a_zygote_is_replaced_after_its_share_of_jobs() -> None:
    with Zygotes(["floor"], jobs_per_zygote=2) as zygotes:
        first = zygotes.get("floor")
        assert zygotes.get("floor") is first
        third = zygotes.get("floor")
        assert third is not first
        assert third.alive
        assert not first.alive


def test_check_catches_a_miscount_and_a_failure() -> None:
    scenario = scenarios.BY_NAME["text_stream"]
    good = Tally(chunks=scenarios.expected("text_stream", TINY).chunks)
    run_record = {"failure": None, "errors": {}, "units": good.chunks, "tally": vars(good)}
    assert run.check(run_record, scenario, TINY) == []
    short = {**run_record, "tally": {**vars(good), "chunks": good.chunks - 1}}
    assert run.check(short, scenario, TINY) == [
        f"chunks: got {good.chunks - 1}, expected {good.chunks}"
    ]
    failed = {**run_record, "failure": "APIConnectionError: refused"}
    assert run.check(failed, scenario, TINY) == ["APIConnectionError: refused"]


def test_command_line_writes_json_and_table(tmp_path: Path) -> None:
    argv = ["--preset", "tiny", "--clients", "floor,asynctool", "--import-reps", "1"]
    argv += ["--scenarios", "text_stream,small_requests,import_time", "--out", str(tmp_path)]
    assert run.main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text("utf-8"))
    floor = results["scenarios"]["text_stream"]["clients"]["floor"]
    assert floor["good_runs"] == 1
    assert floor["vs_floor"]["cpu_us"] == pytest.approx(1.0)
    # With one run, each median is that run's own figure, faults included.
    assert floor["median"]["minor_faults"] == floor["raw"][0]["minor_faults"]
    assert results["imports"]["aiohttp + msgspec"]["samples"] == 1
    assert {target["status"] for target in results["targets"]} <= {"met", "missed", "not measured"}
    table = (tmp_path / "results.md").read_text("utf-8")
    assert "| text stream, 30 chunks (per chunk) | floor |" in table
    assert "asynctool targets" in table


@pytest.mark.parametrize("shape", list(instructions.SHAPES))
def test_instruction_harness_sees_every_chunk(shape: str, tmp_path: Path) -> None:
    chunks = instructions.SHAPES[shape](40)
    body = tmp_path / "body"
    body.write_bytes(scenarios.sse(chunks))
    assert [instructions.run_once(mode, str(body)) for mode in instructions.MODES] == [
        len(chunks)
    ] * 3
