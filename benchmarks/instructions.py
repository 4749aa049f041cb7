"""Instructions per chunk under callgrind: `python -m benchmarks.instructions`.

Time on a shared machine moves by a third from run to run; instruction counts do not. This
runs the streaming path in one process, without sockets (a fake response hands out 64 KiB
pieces of the benchmark's own bytes), for the floor and for asynctool iterating and
accumulating, under `valgrind --tool=callgrind`. Each figure is the difference between a run
over 22,000 chunks and one over 2,000, divided by 20,000, so start-up and imports cancel out.

It answers "did this change make the per-chunk path cheaper?" in a way the timed benchmark
cannot on a noisy machine. It is not the benchmark: it leaves out the network reads, and
instructions are not time (cache misses are free here, and a large `memcpy` counts as many).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from benchmarks import scenarios

SHAPES = {
    "text": lambda n: scenarios.text_chunks(n),
    "tool": lambda n: scenarios.tool_call_chunks(1, n),
    "par4": lambda n: scenarios.tool_call_chunks(4, n // 4),
}
MODES = ("floor", "iterate", "final")
SMALL, LARGE = 2_000, 22_000
PIECE = 1 << 16


class _Response:
    """What `ChatStream` and the floor read from, handing out pieces of a prepared body."""

    request_id = None
    trace = None  # no OpenTelemetry SDK records it

    def __init__(self, body: bytes) -> None:
        self.headers: dict[str, str] = {}
        self._pieces = iter([body[i : i + PIECE] for i in range(0, len(body), PIECE)])

    async def read_chunk(self) -> bytes:
        return next(self._pieces, b"")

    async def iter_any(self) -> AsyncIterator[bytes]:
        """The floor reads `aiohttp.StreamReader.iter_any()`; this is its stand-in."""
        for piece in self._pieces:
            yield piece

    def close(self) -> None:
        pass

    def redact(self, error: Exception) -> Exception:
        return error


async def _floor(body: bytes) -> int:
    from benchmarks.clients.floor import _count_split

    return await _count_split(_Response(body))  # type: ignore[arg-type]


async def _asynctool(body: bytes, final: bool) -> int:
    from asynctool._stream import ChatStream

    stream = ChatStream(_Response(body), max_event_size=1 << 24)  # type: ignore[arg-type]
    count = 0
    async for _ in stream:
        count += 1
    if final:
        await stream.get_final_completion()
    return count


def run_once(mode: str, path: str) -> int:
    """One pass over the body in `path`; the number of chunks seen."""
    body = Path(path).read_bytes()
    if mode == "floor":
        return asyncio.run(_floor(body))
    return asyncio.run(_asynctool(body, final=mode == "final"))


def _instructions(mode: str, path: str) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--once",
        mode,
        path,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_chunk(shape: str, mode: str, folder: str) -> float:
    small = _instructions(mode, os.path.join(folder, f"{shape}-{SMALL}"))
    large = _instructions(mode, os.path.join(folder, f"{shape}-{LARGE}"))
    return (large - small) / (LARGE - SMALL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default=",".join(SHAPES), help="text, tool, par4")
    parser.add_argument("--once", nargs=2, metavar=("MODE", "BODY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.once:
        run_once(*args.once)
        return
    with tempfile.TemporaryDirectory() as folder:
        shapes = args.shapes.split(",")
        for shape in shapes:
            for size in (SMALL, LARGE):
                body = scenarios.sse(SHAPES[shape](size))
                Path(folder, f"{shape}-{size}").write_bytes(body)
        print("| stream | floor | asynctool iterating | asynctool accumulating |")
        print("| --- | ---: | ---: | ---: |")
        for shape in shapes:
            counts = {mode: per_chunk(shape, mode, folder) for mode in MODES}
            floor = counts["floor"]
            cells = [f"{counts[m]:,.0f} ({counts[m] / floor:.2f}x)" for m in MODES[1:]]
            print(f"| {shape} | {floor:,.0f} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
