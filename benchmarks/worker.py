"""Measure one client on one scenario, in a process of its own.

`python -m benchmarks.worker --client C` is a zygote (see `benchmarks.processes`): it imports
C's library, answers `{"ready": ...}`, then reads jobs (`{"scenario", "url", "sizes"}`, one JSON
object a line) until its input closes, and for each forks a child that measures and answers one
line: a `Measurement` as JSON. Every repetition thus runs in a new process, so peak RSS and
import state belong to that one measurement.

Timing covers only the scenario's requests: the library is imported, a throw-away client has
made one small request of the same kind (so lazy imports, first-use caches and the first
connection are paid), and the measured client is built before the clocks start. CPU is
`time.process_time()` of this process, all threads included; the server runs elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import resource
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from benchmarks import scenarios
from benchmarks.clients import BenchClient, LatencyTools, open_client, unavailable
from benchmarks.scenarios import LatencyRun, Scenario, Sizes, Tally

# The agent scenario allows this many turns beyond the ones the server plays, so a client that
# counts turns differently still finishes rather than failing on its limit.
AGENT_TURN_SLACK = 5


@dataclass
class Measurement:
    """One client's figures for one repetition of one scenario."""

    scenario: str
    client: str
    cpu_s: float = 0.0
    wall_s: float = 0.0
    units: int = 0
    peak_rss_mb: float = 0.0
    rss_growth_mb: float = 0.0
    minor_faults: int = 0
    tally: Tally = field(default_factory=Tally)
    errors: dict[str, int] = field(default_factory=dict)
    failure: str | None = None
    # The latency scenario's: what the client saw, and what the server recorded it sent
    # (`at` in `time.monotonic()`, the same clock as the client's on one machine).
    latency: LatencyRun | None = None
    received: list[dict[str, Any]] = field(default_factory=list)


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB.

    Linux's `VmHWM`, not `ru_maxrss`: a process started by `vfork` + `exec` (as `subprocess`
    does) inherits its parent's `ru_maxrss`, so that figure would be the runner's.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def minor_faults() -> int:
    """Page faults this process has taken that needed no disk: each is a page touched for the
    first time, or given back to the kernel and touched again. Instruction counts miss them."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


async def measure(scenario: Scenario, client_name: str, root_url: str, sizes: Sizes) -> Measurement:
    """Warm up, then time `scenario` on a new client of `client_name`."""
    if scenario.kind == "latency":
        return await measure_latency(scenario, client_name, root_url, sizes)
    await _warm_up(scenario, client_name, root_url)
    params = scenarios.request_params(scenario.name)
    async with open_client(client_name, f"{root_url}/{scenario.name}/v1") as client:
        gc.collect()
        rss_before, faults_before = peak_rss_mb(), minor_faults()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        tally, errors = await drive(client, scenario, params, sizes)
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        rss_after, faults = peak_rss_mb(), minor_faults() - faults_before
    units = tally.chunks if scenario.unit == "chunk" else tally.requests
    return Measurement(
        scenario.name,
        client_name,
        cpu_s=cpu,
        wall_s=wall,
        units=units,
        peak_rss_mb=rss_after,
        rss_growth_mb=rss_after - rss_before,
        minor_faults=faults,
        tally=tally,
        errors=errors,
    )


async def measure_latency(
    scenario: Scenario, client_name: str, root_url: str, sizes: Sizes
) -> Measurement:
    """One run of the latency scenario after a warm-up run of the same script played at once
    (tools without delays), then the server's record of what the measured run sent.

    The run's key in its URL is unique to this process and moment, so the record is this
    run's alone.
    """
    params = scenarios.request_params(scenario.name)
    key = f"{os.getpid()}-{time.monotonic_ns()}"
    async with open_client(client_name, f"{root_url}/{scenarios.WARM_LATENCY}/{key}/v1") as warm:
        await warm.latency(params, LatencyTools(0.0, 0.0))
    tools = LatencyTools(sizes.latency_slow_tool_s, sizes.latency_fast_tool_s)
    async with open_client(client_name, f"{root_url}/{scenario.name}/{key}/v1") as client:
        gc.collect()
        rss_before, faults_before = peak_rss_mb(), minor_faults()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        seen = await client.latency(params, tools)
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        rss_after, faults = peak_rss_mb(), minor_faults() - faults_before
    received = await asyncio.to_thread(_received, f"{root_url}/_received/{key}")
    for request in received:
        request["at_s"] = request.pop("at") - tools.started
    return Measurement(
        scenario.name,
        client_name,
        cpu_s=cpu,
        wall_s=wall,
        units=len(received),
        peak_rss_mb=rss_after,
        rss_growth_mb=rss_after - rss_before,
        minor_faults=faults,
        tally=Tally(requests=len(received)),
        latency=seen,
        received=received,
    )


def _received(url: str) -> list[dict[str, Any]]:
    """The server's record of one latency run's requests."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        received: list[dict[str, Any]] = json.loads(reply.read())
    return received


async def _warm_up(scenario: Scenario, client_name: str, root_url: str) -> None:
    """One small request of the scenario's kind through a throw-away client."""
    if scenario.kind == "agent":
        path = scenarios.WARM_AGENT
    elif scenario.kind == "request":
        path = scenarios.WARM_REQUEST
    else:
        path = scenarios.WARM_STREAM
    params = scenarios.request_params(scenario.name)
    async with open_client(client_name, f"{root_url}/{path}/v1") as client:
        if scenario.kind == "agent":
            await client.agent(params, scenarios.WARM_TURNS + AGENT_TURN_SLACK)
        elif scenario.kind == "request":
            await client.request(params)
        else:
            await client.stream(params)


async def drive(
    client: BenchClient, scenario: Scenario, params: dict[str, object], sizes: Sizes
) -> tuple[Tally, dict[str, int]]:
    """Run the scenario's requests; returns what was counted and failures by kind."""
    if scenario.kind == "stream":
        return await client.stream(params), {}
    if scenario.kind == "concurrent":
        return await concurrently(client, params, sizes.concurrent_streams)
    if scenario.kind == "agent":
        return await client.agent(params, sizes.agent_turns + AGENT_TURN_SLACK), {}
    count = sizes.small_requests if scenario.name == "small_requests" else sizes.large_requests
    total = Tally(content_chars=0)
    for _ in range(count):
        total += await client.request(params)
    return total, {}


async def concurrently(
    client: BenchClient, params: dict[str, object], streams: int
) -> tuple[Tally, dict[str, int]]:
    """Read `streams` streams at once in this event loop, counting failures instead of raising."""
    total = Tally()
    errors: Counter[str] = Counter()

    async def one() -> None:
        nonlocal total
        try:
            tally = await client.stream(params)
        except Exception as exc:  # a failed stream is a result to report, not a crash
            errors[_describe(exc)] += 1
        else:
            total += tally

    async with asyncio.TaskGroup() as group:
        for _ in range(streams):
            group.create_task(one())
    return total, dict(errors)


def _describe(exc: BaseException) -> str:
    """`APITimeoutError <- ConnectTimeout`: the error and what caused it."""
    cause = exc.__cause__ or exc.__context__
    return type(exc).__name__ + (f" <- {type(cause).__name__}" if cause else "")


def run_job(client: str, job: dict[str, str]) -> Measurement:
    """Measure one job in this process; an exception becomes a failed measurement."""
    scenario = scenarios.BY_NAME[job["scenario"]]
    try:
        return asyncio.run(measure(scenario, client, job["url"], Sizes.from_json(job["sizes"])))
    except Exception as exc:  # reported to the runner, which marks the run failed
        return Measurement(job["scenario"], client, failure=f"{_describe(exc)}: {exc}")


def run_forked(client: str, job: dict[str, str]) -> str:
    """Measure one job in a forked child; its measurement as one line of JSON."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, write, leave without running the parent's cleanup
        try:
            os.close(read_end)
            with os.fdopen(write_end, "w") as out:
                out.write(json.dumps(dataclasses.asdict(run_job(client, job))))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as result:
        answer = result.read()
    _, status = os.waitpid(pid, 0)
    if answer:
        return answer
    failure = f"the measuring process died (exit {os.waitstatus_to_exitcode(status)})"
    return json.dumps(dataclasses.asdict(Measurement(job["scenario"], client, failure=failure)))


def main(argv: list[str] | None = None) -> None:
    """The zygote: import the client's library, then fork one measuring child per job line."""
    parser = argparse.ArgumentParser(description="Measure one client, one forked run per job.")
    parser.add_argument("--client", required=True)
    args = parser.parse_args(argv)
    reason = unavailable(args.client)  # imports the library, once for every job
    print(json.dumps({"ready": reason is None, "reason": reason}), flush=True)
    if reason is None:
        for line in sys.stdin:  # ends when the runner closes our input
            print(run_forked(args.client, json.loads(line)), flush=True)


if __name__ == "__main__":
    main()
