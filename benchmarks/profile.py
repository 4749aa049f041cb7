"""Profile one client on one scenario: `python -m benchmarks.profile [--client C] [--scenario S]`.

Starts the benchmark server, warms the client up as the worker does, then runs the scenario
under `cProfile` in this process and prints the functions with the most own time. The profiler
counts CPU time (`--timer cpu`, the default), so time the process spends waiting for a core on a
busy machine is not charged to whichever call was running. cProfile adds a fixed cost to every
Python call, so it overstates code made of many small calls: read the ranking, not the absolute
times, and check a change with the benchmark itself.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time

from benchmarks import scenarios
from benchmarks.clients import open_client
from benchmarks.processes import running_server
from benchmarks.scenarios import PRESETS, Scenario, Sizes
from benchmarks.worker import _warm_up, drive


async def profile(
    scenario: Scenario, client: str, url: str, sizes: Sizes, *, cpu: bool = True
) -> cProfile.Profile:
    """Run the scenario once under the profiler, after the worker's warm-up."""
    await _warm_up(scenario, client, url)
    profiler = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()
    async with open_client(client, f"{url}/{scenario.name}/v1") as bench_client:
        profiler.enable()
        await drive(bench_client, scenario, scenarios.request_params(scenario.name), sizes)
        profiler.disable()
    return profiler


def main(argv: list[str] | None = None) -> None:
    """Command line; prints the top of the profile sorted by own time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--client", default="asynctool")
    parser.add_argument("--scenario", default="text_stream", choices=sorted(scenarios.BY_NAME))
    parser.add_argument("--preset", default="full", choices=sorted(PRESETS))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="pstats sort key")
    parser.add_argument("--timer", default="cpu", choices=("cpu", "wall"))
    args = parser.parse_args(argv)
    sizes = PRESETS[args.preset]
    with running_server(sizes) as server:
        scenario = scenarios.BY_NAME[args.scenario]
        run = profile(scenario, args.client, server.url, sizes, cpu=args.timer == "cpu")
        profiler = asyncio.run(run)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
