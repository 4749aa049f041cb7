"""Run the benchmarks: `python -m benchmarks [--quick]`.

Starts the server process, then for every scenario and repetition runs each client in a fresh
process forked from that client's zygote (clients in a rotating order, so drift in machine load
does not always favour the same one), checks each client's tally against what the server sent,
times cold imports, and writes `results.json` and `results.md` (the README's table) to `--out`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any

from benchmarks import imports, report, scenarios
from benchmarks.clients import NAMES, SDK_CLIENTS, unavailable
from benchmarks.processes import ServerProcess, Zygotes, running_server
from benchmarks.scenarios import PRESETS, Scenario, Sizes, Tally

ROOT = Path(__file__).resolve().parent.parent
IMPORT_SCENARIO = "import_time"
REPS = {"full": 15, "quick": 1, "tiny": 1}
# The SDK costs a hundred times the others per run and is never near a verdict, so its
# repetitions are capped; the clients whose ratios decide targets get the extra samples.
SDK_REPS = {"full": 5, "quick": 1, "tiny": 1}
IMPORT_REPS = {"full": 9, "quick": 2, "tiny": 1}
# A latency run lasts 4 s of waiting whatever the machine does, and its medians settle within
# a few repetitions: the CPU scenarios' 15 would add minutes and no information.
LATENCY_REPS = {"full": 5, "quick": 1, "tiny": 1}
RUN_TIMEOUT_S = 600.0
# The agent frameworks of the latency scenario (the bench extra), by distribution name.
FRAMEWORKS = ("openai-agents", "pydantic-ai-slim")


def parse_args(argv: list[str] | None) -> Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 1 repetition")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="sizes: full, quick or tiny")
    parser.add_argument("--reps", type=int, help="repetitions per client and scenario")
    parser.add_argument("--sdk-reps", type=int, help="at most this many for the OpenAI SDK")
    parser.add_argument("--import-reps", type=int, help="samples per library for import time")
    parser.add_argument("--latency-reps", type=int, help="at most this many for agent_latency")
    every = [s.name for s in scenarios.SCENARIOS] + [IMPORT_SCENARIO]
    parser.add_argument("--scenarios", default=",".join(every), help="comma-separated")
    parser.add_argument("--clients", default=",".join(NAMES), help="comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks", help="output folder")
    parser.add_argument("--timeout", type=float, default=RUN_TIMEOUT_S, help="per run, s")
    args = parser.parse_args(argv)
    args.preset = args.preset or ("quick" if args.quick else "full")
    args.scenarios = _pick(args.scenarios, every, parser)
    args.clients = _pick(args.clients, list(NAMES), parser)
    return args


def _pick(text: str, allowed: list[str], parser: argparse.ArgumentParser) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return chosen


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries the table."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- one run


def run_once(
    server: ServerProcess, zygotes: Zygotes, client: str, scenario: Scenario, args: Namespace
) -> dict[str, Any]:
    """One measurement in a fresh process, checked against what the server sent."""
    server_cpu = server.cpu_seconds()
    try:
        run = zygotes.get(client).measure(scenario.name, server.url, args.sizes, args.timeout)
    except (TimeoutError, RuntimeError, ValueError) as exc:  # ValueError: an unreadable answer
        return {"scenario": scenario.name, "client": client, "ok": False, "problem": str(exc)}
    run["server_cpu_s"] = server.cpu_seconds() - server_cpu
    problems = check(run, scenario, args.sizes)
    run["ok"] = not problems
    run["problem"] = "; ".join(problems)
    return run


def check(run: dict[str, Any], scenario: Scenario, sizes: Sizes) -> list[str]:
    """What is wrong with a run: a failure, or counts that differ from what was sent."""
    if run["failure"]:
        return [run["failure"]]
    if scenario.kind == "latency":
        seen = scenarios.LatencyRun(**run["latency"]).mismatches()
        return seen + scenarios.latency_problems(run["received"])
    failed_streams = sum(run["errors"].values())
    expected = scenarios.expected(scenario.name, sizes, failed_streams)
    problems = Tally(**run["tally"]).mismatches(expected)
    if run["units"] <= 0:
        problems.append("counted nothing")
    return problems


def run_scenario(
    server: ServerProcess, scenario: Scenario, zygotes: Zygotes, args: Namespace
) -> dict[str, list[dict[str, Any]]]:
    """Every repetition of every client on one scenario, clients rotating each repetition."""
    clients = [c for c in scenario.clients if c in zygotes.clients]
    runs: dict[str, list[dict[str, Any]]] = {client: [] for client in clients}
    reps = args.latency_reps if scenario.kind == "latency" else args.reps
    for rep in range(reps):
        shift = rep % len(clients)
        for client in clients[shift:] + clients[:shift]:
            if client in SDK_CLIENTS and rep >= args.sdk_reps:
                continue
            run = run_once(server, zygotes, client, scenario, args)
            runs[client].append(run)
            log(f"{scenario.name} {rep + 1}/{reps} {client}: {_progress(run)}")
    return runs


def _progress(run: dict[str, Any]) -> str:
    if not run["ok"]:
        return f"FAILED ({run['problem']})"
    if run["latency"] is not None:
        seen = run["latency"]
        return f"last tool result {seen['last_result_s']:.3f} s, answer {seen['final_s']:.3f} s"
    per_unit = run["cpu_s"] / run["units"] * 1e6
    errors = sum(run["errors"].values())
    return f"{per_unit:,.2f} µs CPU/unit, {run['wall_s'] * 1000:,.0f} ms" + (
        f", {errors} errors" if errors else ""
    )


# --------------------------------------------------------------------------- the whole run


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "load_before": _load(),
    }


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def versions() -> dict[str, str]:
    """Versions of the libraries measured (asynctool from the working tree)."""
    found = {}
    for name in ("aiohttp", "msgspec", "openai", "httpx2", "pydantic", *FRAMEWORKS):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        found["asynctool"] = str(importlib.import_module("asynctool").__version__)
    except Exception:  # asynctool may be absent or half-written; the table says so
        found["asynctool"] = "not importable"
    commit = _git("rev-parse", "--short", "HEAD")
    if commit:
        edited = _git("status", "--porcelain", "--", "asynctool")
        found["asynctool"] += f" (tree at {commit}{', with uncommitted edits' if edited else ''})"
    return found


def _git(*args: str) -> str:
    """The output of a read-only git command on this checkout, or "" if git is unavailable."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def collect(args: Namespace) -> dict[str, Any]:
    """Measure everything the arguments ask for; the results as one JSON-able dict."""
    reasons = {name: unavailable(name) for name in args.clients}
    skipped = {name: reason for name, reason in reasons.items() if reason}
    runnable = [name for name in args.clients if not reasons[name]]
    for name, reason in skipped.items():
        log(f"skipping {name}: {reason}")
    chosen = [scenarios.BY_NAME[n] for n in args.scenarios if n in scenarios.BY_NAME]
    results: dict[str, Any] = {"meta": {}, "skipped": skipped, "scenarios": {}}
    results["meta"] = {"machine": machine_info(), "versions": versions()}
    with running_server(args.sizes) as server, Zygotes(runnable) as zygotes:
        for scenario in chosen:
            if any(c in runnable for c in scenario.clients):
                runs = run_scenario(server, scenario, zygotes, args)
                results["scenarios"][scenario.name] = _scenario_result(scenario, runs, args)
    if IMPORT_SCENARIO in args.scenarios:
        names = imports.libraries_for(runnable)
        log(f"timing cold imports ({args.import_reps} samples each)")
        figures = imports.time_imports(args.import_reps, names)
        results["imports"] = {name: dataclasses.asdict(f) for name, f in figures.items()}
    results["meta"]["machine"]["load_after"] = _load()
    return results


def _scenario_result(
    scenario: Scenario, runs: dict[str, list[dict[str, Any]]], args: Namespace
) -> dict[str, Any]:
    title = report.scenario_title(scenario.name, args.sizes)
    if scenario.kind == "latency":
        clients = {
            name: report.summarize_latency(client_runs) for name, client_runs in runs.items()
        }
        for name, summary in clients.items():
            summary["raw"] = runs[name]
        return {"title": title, "unit": scenario.unit, "clients": clients, "kind": "latency"}
    clients = {name: report.summarize_client(client_runs) for name, client_runs in runs.items()}
    report.add_ratios(clients)
    for name, summary in clients.items():
        summary["raw"] = runs[name]
    out = {"title": title, "unit": scenario.unit, "clients": clients}
    if scenario.kind == "concurrent":
        out["streams"] = args.sizes.concurrent_streams
    return out


def finish(results: dict[str, Any], args: Namespace) -> str:
    """Add the verdicts and metadata, write both files, return the Markdown."""
    meta = results["meta"]
    meta["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta["mode"], meta["reps"], meta["import_reps"] = args.preset, args.reps, args.import_reps
    meta["sdk_reps"], meta["latency_reps"] = args.sdk_reps, args.latency_reps
    meta["sizes"] = dataclasses.asdict(args.sizes)
    results["agent_overhead_us"] = report.agent_overhead_us(results["scenarios"].get("agent_loop"))
    verdicts = report.evaluate_targets(results)
    results["targets"] = [
        {**dataclasses.asdict(v), "status": v.status, "describe": v.describe()} for v in verdicts
    ]
    table = report.markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n", "utf-8")
    (args.out / "results.md").write_text(table, "utf-8")
    return table


def main(argv: list[str] | None = None) -> int:
    """Run, write, print; exit 1 if any run failed or miscounted."""
    args = parse_args(argv)
    args.sizes = PRESETS[args.preset]
    args.reps = args.reps or REPS[args.preset]
    args.sdk_reps = min(args.sdk_reps or SDK_REPS[args.preset], args.reps)
    args.import_reps = args.import_reps or IMPORT_REPS[args.preset]
    args.latency_reps = min(args.latency_reps or LATENCY_REPS[args.preset], args.reps)
    results = collect(args)
    print(finish(results, args))
    log(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    bad = [
        f"{name}/{client}"
        for name, scenario in results["scenarios"].items()
        for client, summary in scenario["clients"].items()
        if summary["failures"]
    ]
    if bad:
        log(f"runs failed or miscounted: {', '.join(bad)}")
    return 1 if bad else 0
