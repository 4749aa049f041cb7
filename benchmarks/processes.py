"""The runner's handles on its child processes: the server, and one zygote per client.

A zygote (`python -m benchmarks.worker --client C`) imports C's library once, then forks a new
process for every measurement. Each forked child starts exactly where a fresh interpreter that
has just imported the library would be (no event loop has run, no request was made) and has its
own address space, so its peak RSS and its import state are its own, without paying the import
(a second for the OpenAI SDK) again for every repetition.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.scenarios import Sizes

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0
# A zygote's address-space layout and hash seed are inherited by every process it forks, and
# they move a client's CPU per chunk by a tenth or more, the same way for all its forks: with one
# zygote per client, asynctool iterating and accumulating (the same work) once measured 1.13x
# and 1.29x the floor in one run. So a zygote serves this many measurements and is replaced; a
# median of 15 repetitions then spans 5 layouts instead of resting on one.
JOBS_PER_ZYGOTE = 3


def read_line(stream: IO[str], timeout: float) -> str:
    """The next line a child writes, waiting at most `timeout` seconds for it to start."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no answer within {timeout:g} s")
    return stream.readline()


def _start(module: str, *args: str) -> subprocess.Popen[str]:
    """`python -m module args` in its own process group, talking through pipes."""
    command = [sys.executable, "-m", module, *args]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    """Close its pipes and end it: politely, then its whole process group by force."""
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class ServerProcess:
    """A running benchmark server: its root URL and process."""

    url: str
    process: subprocess.Popen[str]

    def cpu_seconds(self) -> float:
        """The server process's CPU time so far."""
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=10) as reply:
            return float(json.loads(reply.read())["cpu_s"])


@contextmanager
def running_server(sizes: Sizes) -> Iterator[ServerProcess]:
    """Start the server process (it builds every response first); stop it on exit."""
    process = _start("benchmarks.server", "--sizes", sizes.to_json())
    try:
        assert process.stdout is not None
        line = read_line(process.stdout, START_TIMEOUT_S)
        if not line.startswith("PORT "):
            raise RuntimeError(f"the benchmark server did not start (exit {process.poll()})")
        yield ServerProcess(f"http://127.0.0.1:{int(line.split()[1])}", process)
    finally:
        process.terminate()
        _stop(process)


# --------------------------------------------------------------------------- zygotes


class Zygote:
    """One client's zygote; `measure` runs one job in a freshly forked process."""

    def __init__(self, client: str) -> None:
        self.client = client
        self._process = _start("benchmarks.worker", "--client", client)
        try:
            hello = json.loads(self._answer(START_TIMEOUT_S) or "{}")
        except (TimeoutError, ValueError):
            self.close()
            raise
        if not hello.get("ready"):
            self.close()
            raise RuntimeError(f"{client} cannot run: {hello.get('reason', 'no answer')}")

    def _answer(self, timeout: float) -> str:
        assert self._process.stdout is not None
        return read_line(self._process.stdout, timeout)

    def measure(self, scenario: str, url: str, sizes: Sizes, timeout: float) -> dict[str, Any]:
        """The worker's measurement as a dict; raises `TimeoutError` after killing a stuck run."""
        assert self._process.stdin is not None
        job = {"scenario": scenario, "url": url, "sizes": sizes.to_json()}
        self._process.stdin.write(json.dumps(job) + "\n")
        self._process.stdin.flush()
        started = time.monotonic()
        try:
            answer = self._answer(timeout)
        except TimeoutError:
            os.killpg(self._process.pid, signal.SIGKILL)
            self.close()
            raise TimeoutError(f"timed out after {time.monotonic() - started:.0f} s") from None
        if not answer:
            raise RuntimeError(f"the {self.client} zygote died (exit {self._process.poll()})")
        result: dict[str, Any] = json.loads(answer)
        return result

    @property
    def alive(self) -> bool:
        """False once the zygote has ended, for instance after a run timed out."""
        return self._process.poll() is None

    def close(self) -> None:
        """Let the zygote end (its loop ends with its input), or end it."""
        _stop(self._process)


class Zygotes:
    """One zygote per client, started on first use, replaced after `JOBS_PER_ZYGOTE` jobs and
    after a run that timed out."""

    def __init__(self, clients: list[str], jobs_per_zygote: int = JOBS_PER_ZYGOTE) -> None:
        self.clients = clients
        self._jobs_per_zygote = jobs_per_zygote
        self._zygotes: dict[str, Zygote] = {}
        self._jobs: dict[str, int] = {}

    def get(self, client: str) -> Zygote:
        """The client's zygote for its next job, started if none is running or it has served
        its share of jobs."""
        zygote = self._zygotes.get(client)
        if zygote is not None and self._jobs[client] >= self._jobs_per_zygote:
            zygote.close()
            zygote = None
        if zygote is None or not zygote.alive:
            zygote = self._zygotes[client] = Zygote(client)
            self._jobs[client] = 0
        self._jobs[client] += 1
        return zygote

    def __enter__(self) -> Zygotes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
