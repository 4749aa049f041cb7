"""Cold import time: a fresh interpreter per sample, less the bare interpreter's start.

Each sample is `python -c "import X"` started with `posix_spawn` and reaped with `os.wait4`, which
returns that child's own CPU time. The child then prints its `VmHWM` (peak RSS; `ru_maxrss` would
carry the parent's, inherited through `vfork`), at a cost of microseconds. Libraries are sampled
in turn (bare, msgspec, aiohttp, ..., then again), so a change in machine load touches them all
alike. "Cold" means a new process, not a new install: every library is measured with its
bytecode cache in place, as `pip install` leaves it. So the children may write `__pycache__`
(`PYTHONDONTWRITEBYTECODE` is dropped from their environment) and one discarded import of each
library comes first; otherwise a source checkout would be timed compiling itself.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = "bare interpreter"
FLOOR_IMPORT = "aiohttp + msgspec"
SDK_IMPORT = "openai"
# The imports that matter to each family of clients (`floor`, `floor-readline` -> "floor").
FAMILIES = {
    "floor": ("msgspec", "aiohttp", FLOOR_IMPORT),
    "openai": (SDK_IMPORT,),
    "asynctool": ("asynctool",),
}
LIBRARIES = {
    BARE: "pass",
    "msgspec": "import msgspec",
    "aiohttp": "import aiohttp",
    FLOOR_IMPORT: "import aiohttp, msgspec",
    SDK_IMPORT: "import openai",
    "asynctool": "import asynctool",
}


@dataclass(frozen=True)
class Sample:
    """One child process: wall and CPU seconds, peak RSS in MiB, exit code."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int


@dataclass(frozen=True)
class ImportFigure:
    """Medians for one library, with the bare interpreter's start subtracted."""

    wall_ms: float
    cpu_ms: float
    peak_rss_mb: float
    samples: int
    failed: int


_PRINT_HWM = "\nprint(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))"


def spawn(code: str) -> Sample:
    """Run `python -c code` in a fresh process and measure it."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.NamedTemporaryFile("r") as out:
        files = [(os.POSIX_SPAWN_OPEN, 1, out.name, os.O_WRONLY, 0)]
        files.append((os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0))
        argv = [sys.executable, "-c", code + _PRINT_HWM]
        start = time.perf_counter()
        pid = os.posix_spawn(sys.executable, argv, env, file_actions=files)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
        words = out.read().split()
    peak = int(words[1]) / 1024 if len(words) > 1 else 0.0
    return Sample(wall, usage.ru_utime + usage.ru_stime, peak, os.waitstatus_to_exitcode(status))


def libraries_for(clients: list[str]) -> list[str]:
    """The imports worth timing when these clients are measured, in table order."""
    wanted = {name for client in clients for name in FAMILIES.get(client.split("-")[0], ())}
    return [name for name in LIBRARIES if name in wanted]


def time_imports(reps: int, names: list[str] | None = None) -> dict[str, ImportFigure]:
    """Median cold import of each library over `reps` samples, less the bare start."""
    chosen = [BARE, *(name for name in names or LIBRARIES if name != BARE)]
    samples: dict[str, list[Sample]] = {name: [] for name in chosen}
    for name in chosen:
        spawn(LIBRARIES[name])  # writes the bytecode cache if it is missing
    for _ in range(reps):
        for name in chosen:
            samples[name].append(spawn(LIBRARIES[name]))
    bare = _median(samples[BARE])
    figures = {}
    for name in chosen:
        good = [s for s in samples[name] if s.exit_code == 0]
        figure = _median(good) if good else Sample(0.0, 0.0, 0.0, 1)
        figures[name] = ImportFigure(
            wall_ms=(figure.wall_s - (bare.wall_s if name != BARE else 0.0)) * 1000,
            cpu_ms=(figure.cpu_s - (bare.cpu_s if name != BARE else 0.0)) * 1000,
            peak_rss_mb=figure.peak_rss_mb,
            samples=len(good),
            failed=len(samples[name]) - len(good),
        )
    return figures


def _median(samples: list[Sample]) -> Sample:
    return Sample(
        statistics.median(s.wall_s for s in samples),
        statistics.median(s.cpu_s for s in samples),
        statistics.median(s.peak_rss_mb for s in samples),
        0,
    )
