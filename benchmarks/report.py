"""Turn raw runs into medians, ratios and target verdicts; render them as Markdown.

Every figure is a median over repetitions. Ratios divide medians measured in the same run: by
the floor, and by the OpenAI SDK doing the same kind of work (`SDK_BASELINE`: iterating against
iterating, accumulating against the SDK's accumulating helper).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from benchmarks.clients import SDK_BASELINE
from benchmarks.imports import BARE, FLOOR_IMPORT, SDK_IMPORT
from benchmarks.scenarios import (
    BY_NAME,
    LATENCY_CALLS,
    Sizes,
    latency_after_stream_s,
    latency_goal_s,
)

FIGURES = ("cpu_us", "wall_ms", "peak_rss_mb", "rss_growth_mb")
RATIOS = ("cpu_us", "wall_ms", "peak_rss_mb")
AGENT_OVERHEAD_LIMIT_US = 200.0
# The latency goal: with eager tools the turn ends this close to when it can end at the earliest.
LATENCY_TOLERANCE = 0.05
LATENCY_SCENARIO = "agent_latency"
EAGER_CLIENT = "asynctool-eager"


# --------------------------------------------------------------------------- medians and ratios


def _good_runs(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs that went well, and a summary that counts them and lists the others' problems."""
    good = [run for run in runs if run["ok"]]
    out: dict[str, Any] = {"runs": len(runs), "good_runs": len(good)}
    out["failures"] = sorted({run["problem"] for run in runs if not run["ok"]})
    return good, out


def summarize_client(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of one client's good runs, with its failures listed."""
    good, out = _good_runs(runs)
    if not good:
        return out
    out["median"] = {
        "cpu_us": statistics.median(r["cpu_s"] / max(r["units"], 1) * 1e6 for r in good),
        "wall_ms": statistics.median(r["wall_s"] * 1000 for r in good),
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in good),
        "rss_growth_mb": statistics.median(r["rss_growth_mb"] for r in good),
        "minor_faults": statistics.median(r["minor_faults"] for r in good),
        "errors": statistics.median(sum(r["errors"].values()) for r in good),
        "server_cpu_share": statistics.median(r["server_cpu_s"] / r["wall_s"] for r in good),
    }
    kinds: Counter[str] = Counter()
    for run in good:
        kinds.update(run["errors"])
    out["error_kinds"] = dict(kinds)
    return out


def summarize_latency(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of one client's good latency runs, in seconds from each run's start.

    `last_result_s` and `final_s` are when the framework handed over the turn's last tool
    result and the answer; `results_sent_s` is when the server got the request carrying the
    results (the same clock: both processes read `time.monotonic()`).
    """
    good, out = _good_runs(runs)
    if not good:
        return out
    out["median"] = {
        "last_result_s": statistics.median(r["latency"]["last_result_s"] for r in good),
        "final_s": statistics.median(r["latency"]["final_s"] for r in good),
        "slow_tool_started_s": statistics.median(r["latency"]["slow_tool_started_s"] for r in good),
        "first_request_s": statistics.median(r["received"][0]["at_s"] for r in good),
        "results_sent_s": statistics.median(r["received"][1]["at_s"] for r in good),
        "cpu_ms": statistics.median(r["cpu_s"] * 1000 for r in good),
        "server_cpu_share": statistics.median(r["server_cpu_s"] / r["wall_s"] for r in good),
    }
    return out


def latency_expected_s(client: str, sizes: Sizes) -> float:
    """When the turn should end for this client: at the goal with eager tools, else once the
    slowest tool has run after the stream ended."""
    return latency_goal_s(sizes) if client == EAGER_CLIENT else latency_after_stream_s(sizes)


def add_ratios(clients: dict[str, dict[str, Any]]) -> None:
    """Give each client `vs_floor` and `vs_sdk` ratios of its medians, where both exist."""
    for name, summary in clients.items():
        if "median" not in summary:
            continue
        summary["vs_floor"] = _ratios(summary, clients.get("floor"))
        summary["vs_sdk"] = _ratios(summary, clients.get(SDK_BASELINE[name]))


def _ratios(summary: dict[str, Any], base: dict[str, Any] | None) -> dict[str, float] | None:
    if base is None or "median" not in base:
        return None
    mine, theirs = summary["median"], base["median"]
    return {key: mine[key] / theirs[key] for key in RATIOS if theirs[key]}


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Verdict:
    """One asynctool target: what was measured against which limit."""

    target: str
    scenario: str
    client: str
    measured: float | None
    limit: float
    unit: str
    met: bool | None  # None: not measured

    @property
    def status(self) -> str:
        """`met`, `missed` or `not measured`."""
        return {True: "met", False: "missed", None: "not measured"}[self.met]

    def describe(self) -> str:
        """`met: 1.12x floor (limit 1.3x)`."""
        if self.measured is None:
            return self.status
        return (
            f"{self.status}: {_num(self.measured)}{self.unit} (limit {_num(self.limit)}{self.unit})"
        )


def _ratio_verdict(
    target: str, scenario: dict[str, Any] | None, where: tuple[str, str], limit: float
) -> Verdict:
    name, client = where
    summary = (scenario or {}).get("clients", {}).get(client, {})
    ratio = (summary.get("vs_floor") or {}).get("cpu_us")
    met = None if ratio is None else ratio <= limit
    return Verdict(target, name, client, ratio, limit, "x floor CPU", met)


def evaluate_targets(results: dict[str, Any]) -> list[Verdict]:
    """Every asynctool target of the issue, judged on this run's medians."""
    scenarios = results["scenarios"]
    verdicts = []
    for name in ("text_stream", "tool_call_stream", "parallel_tool_calls"):
        scenario = scenarios.get(name)
        verdicts.append(_ratio_verdict("stream, iterating", scenario, (name, "asynctool"), 1.3))
        # The same target with opentelemetry-api installed and no SDK configured.
        where = (name, "asynctool-otel")
        verdicts.append(_ratio_verdict("stream, iterating, otel API", scenario, where, 1.3))
        where = (name, "asynctool-final")
        verdicts.append(_ratio_verdict("stream, accumulating", scenario, where, 1.5))
    verdicts += _concurrency_verdicts(scenarios.get("concurrent_streams"))
    where = ("small_requests", "asynctool")
    verdicts.append(_ratio_verdict("small request", scenarios.get("small_requests"), where, 1.5))
    verdicts.append(_import_verdict(results.get("imports") or {}))
    verdicts.append(_agent_verdict(results.get("agent_overhead_us")))
    verdicts.append(_latency_verdict(results))
    return verdicts


def _latency_verdict(results: dict[str, Any]) -> Verdict:
    """With eager tools, the tool-call turn ends within 5% of when it can end at the earliest."""
    scenario = results["scenarios"].get(LATENCY_SCENARIO) or {}
    summary = scenario.get("clients", {}).get(EAGER_CLIENT, {})
    measured = summary["median"]["last_result_s"] if "median" in summary else None
    sizes = Sizes(**results["meta"]["sizes"]) if "sizes" in results["meta"] else Sizes()
    limit = latency_goal_s(sizes) * (1 + LATENCY_TOLERANCE)
    target = "eager tools, turn's last result"
    return Verdict(
        target, LATENCY_SCENARIO, EAGER_CLIENT, measured, limit, " s", _le(measured, limit)
    )


def _concurrency_verdicts(scenario: dict[str, Any] | None) -> list[Verdict]:
    name, client = "concurrent_streams", "asynctool"
    summary = (scenario or {}).get("clients", {}).get(client, {})
    median = summary.get("median")
    errors = None if median is None else float(median["errors"])
    growth = None if median is None else float(median["rss_growth_mb"])
    return [
        _ratio_verdict("concurrent streams", scenario, (name, client), 1.5),
        Verdict("concurrent streams, errors", name, client, errors, 0, " errors", _le(errors, 0)),
        Verdict("concurrent streams, RSS growth", name, client, growth, 50, " MB", _lt(growth, 50)),
    ]


def _import_verdict(imports: dict[str, Any]) -> Verdict:
    mine, floor = imports.get("asynctool"), imports.get(FLOOR_IMPORT)
    ratio = mine["cpu_ms"] / floor["cpu_ms"] if mine and floor and floor["cpu_ms"] > 0 else None
    unit = f"x `import {FLOOR_IMPORT.replace(' + ', ', ')}`"
    return Verdict("cold import", "import_time", "asynctool", ratio, 1.25, unit, _le(ratio, 1.25))


def _agent_verdict(overhead: float | None) -> Verdict:
    limit = AGENT_OVERHEAD_LIMIT_US
    met = _lt(overhead, limit)
    return Verdict(
        "agent loop overhead", "agent_loop", "asynctool-agent", overhead, limit, " µs CPU/turn", met
    )


def _le(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _lt(value: float | None, limit: float) -> bool | None:
    return None if value is None else value < limit


def agent_overhead_us(scenario: dict[str, Any] | None) -> float | None:
    """CPU per turn of `asynctool.Agent` beyond the floor's hand-written loop.

    The floor's loop makes the same requests, decodes the same answers and runs the same tool
    with nothing else, so the difference is everything the agent adds per turn. (The
    hand-written loop on `asynctool` is no baseline: it can cost more than `Agent`.)
    """
    clients = (scenario or {}).get("clients", {})
    agent, floor = clients.get("asynctool-agent", {}), clients.get("floor", {})
    if "median" not in agent or "median" not in floor:
        return None
    return float(agent["median"]["cpu_us"] - floor["median"]["cpu_us"])


# --------------------------------------------------------------------------- Markdown


def _num(value: float) -> str:
    """Three significant figures or so, with thousands separators."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _x(ratios: dict[str, float] | None, key: str) -> str:
    return f"{_num(ratios[key])}x" if ratios and key in ratios else "—"


def scenario_title(name: str, sizes: Sizes) -> str:
    """The scenario as the table names it, with its size."""
    titles = {
        "text_stream": f"text stream, {sizes.text_chunks:,} chunks",
        "tool_call_stream": f"1 tool call, {sizes.tool_fragments:,} argument fragments",
        "parallel_tool_calls": (
            f"{sizes.parallel_calls} parallel tool calls x {sizes.parallel_fragments:,} fragments"
        ),
        "concurrent_streams": (
            f"{sizes.concurrent_streams} concurrent streams x {sizes.concurrent_chunks:,} chunks"
        ),
        "small_requests": f"{sizes.small_requests:,} sequential small requests",
        "large_response": f"1 response of {sizes.large_bytes / 1e6:g} MB, x{sizes.large_requests}",
        "agent_loop": f"agent loop, {sizes.agent_turns} turns",
        "agent_latency": (
            f"agent latency, {len(LATENCY_CALLS)} parallel calls streamed over "
            f"{sizes.latency_stream_s:g} s"
        ),
    }
    return titles[name]


def markdown(results: dict[str, Any]) -> str:
    """The whole report: header, main table, imports, targets, calibration."""
    parts = [_header(results), _main_table(results), _latency_table(results)]
    parts.append(_imports_table(results))
    parts += [_targets_table(results), _calibration(results)]
    return "\n\n".join(part for part in parts if part) + "\n"


def _header(results: dict[str, Any]) -> str:
    meta = results["meta"]
    machine, versions = meta["machine"], meta["versions"]
    libs = ", ".join(f"{name} {version}" for name, version in versions.items())
    return (
        f"Measured {meta['date']} on {machine['platform']} ({machine['cpu']}, "
        f"{machine['cpus']} CPUs), Python {machine['python']}; {libs}. "
        f"Mode `{meta['mode']}`: {meta['reps']} repetition(s) "
        f"({meta.get('sdk_reps', meta['reps'])} for the OpenAI SDK), each in a new process, "
        f"figures are medians; load average {machine['load_before']} before, "
        f"{machine['load_after']} after. CPU is the client process's own "
        "(`time.process_time()`); the server runs in another process and used at most "
        f"{_server_share(results):.0%} of a core while a client ran. Peak RSS is the measuring "
        "process's `VmHWM`; forked from a process that imported the library, it counts only the "
        "library pages it touches, a few MB less than a fresh interpreter would show."
    )


def _server_share(results: dict[str, Any]) -> float:
    shares = [
        summary["median"]["server_cpu_share"]
        for scenario in results["scenarios"].values()
        for summary in scenario["clients"].values()
        if "median" in summary
    ]
    return max(shares, default=0.0)


def _main_table(results: dict[str, Any]) -> str:
    head = (
        "| scenario | client | CPU µs/unit | x floor | x SDK | wall ms | x floor | x SDK "
        "| peak RSS MB | RSS growth MB | errors | asynctool target |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    )
    verdicts: dict[tuple[str, str], list[str]] = {}
    for verdict in results["targets"]:
        verdicts.setdefault((verdict["scenario"], verdict["client"]), []).append(
            verdict["describe"]
        )
    rows, notes = [head], []
    for name, scenario in results["scenarios"].items():
        if scenario.get("kind") == "latency":
            continue
        title = f"{scenario['title']} (per {BY_NAME[name].unit})"
        for client, summary in scenario["clients"].items():
            cells = _row(summary, verdicts.get((name, client), []))
            rows.append(f"| {title} | {client} | " + " | ".join(cells) + " |")
            title = ""
            notes += [f"{client} on {name}: {problem}" for problem in summary["failures"]]
    if len(rows) == 1:
        return ""
    # Clients of the latency scenario alone are listed in its table.
    tabled = {c for s in BY_NAME.values() if s.kind != "latency" for c in s.clients}
    skipped = results.get("skipped") or {}
    notes += [
        f"{client} not measured: {why}" for client, why in skipped.items() if client in tabled
    ]
    return "\n".join(rows) + "".join(f"\n\n- {note}" for note in notes)


def _row(summary: dict[str, Any], verdicts: list[str]) -> list[str]:
    if "median" not in summary:
        return ["failed", *["—"] * 9, "; ".join(verdicts)]
    median, floor, sdk = summary["median"], summary.get("vs_floor"), summary.get("vs_sdk")
    errors = _num(median["errors"]) if median["errors"] else "0"
    if summary.get("error_kinds"):
        errors += " (" + ", ".join(sorted(summary["error_kinds"])) + ")"
    return [
        _num(median["cpu_us"]),
        _x(floor, "cpu_us"),
        _x(sdk, "cpu_us"),
        _num(median["wall_ms"]),
        _x(floor, "wall_ms"),
        _x(sdk, "wall_ms"),
        _num(median["peak_rss_mb"]),
        _num(median["rss_growth_mb"]),
        errors,
        "; ".join(verdicts),
    ]


def _latency_table(results: dict[str, Any]) -> str:
    """The latency scenario: when the person waiting sees the turn end and the answer."""
    scenario = results["scenarios"].get(LATENCY_SCENARIO)
    if scenario is None:
        return ""
    sizes = Sizes(**results["meta"]["sizes"])
    goal, after = latency_goal_s(sizes), latency_after_stream_s(sizes)
    rows = [
        f"{scenario['title']} (the first call complete at {sizes.latency_first_ready_s:g} s, "
        f"its tool taking {sizes.latency_slow_tool_s:g} s, the other three "
        f"{sizes.latency_fast_tool_s * 1000:g} ms), then a short answer. Seconds from the run's "
        f"start, medians of {results['meta'].get('latency_reps', 1)} run(s). The turn can end "
        f"at {_num(goal)} s at the earliest (stream end, or first call ready + its tool); it "
        f"ends at {_num(after)} s when no tool starts before the stream ends. Each run must "
        "run all 4 tools and send every result back (checked on what the server received).",
        "",
        "| client | turn's last tool result | final answer | results reached the server "
        "| slow tool started | expected turn end | off by | CPU ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes = []
    for client, summary in scenario["clients"].items():
        notes += [f"{client}: {problem}" for problem in summary["failures"]]
        if "median" not in summary:
            rows.append(f"| {client} | failed | — | — | — | — | — | — |")
            continue
        median = summary["median"]
        expected = latency_expected_s(client, sizes)
        off = median["last_result_s"] / expected - 1
        mark = " (goal)" if client == EAGER_CLIENT else ""
        rows.append(
            f"| {client} | {median['last_result_s']:.3f} | {median['final_s']:.3f} "
            f"| {median['results_sent_s']:.3f} | {median['slow_tool_started_s']:.3f} "
            f"| {_num(expected)}{mark} | {off:+.1%} | {_num(median['cpu_ms'])} |"
        )
    skipped = results.get("skipped") or {}
    for client in BY_NAME[LATENCY_SCENARIO].clients:
        if client in skipped:
            rows.append(f"| {client} | not measured: {skipped[client]} | | | | | | |")
    return "\n".join(rows) + "".join(f"\n\n- {note}" for note in notes)


def _imports_table(results: dict[str, Any]) -> str:
    imports = results.get("imports")
    if not imports:
        return ""
    floor, sdk = imports.get(FLOOR_IMPORT), imports.get(SDK_IMPORT)
    rows = [
        'Cold import: `python -c "import X"` in a fresh interpreter, medians. Ratios use CPU'
        " time, which other processes on a shared machine disturb less than wall time.",
        "",
        "| import | CPU ms | x aiohttp + msgspec | x openai | wall ms | peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, figure in imports.items():
        if name == BARE:
            start = f"{_num(figure['cpu_ms'])} ms CPU, {_num(figure['peak_rss_mb'])} MB"
            rows.insert(1, f"The bare interpreter ({start}) is subtracted from every row.")
            continue
        ratio_floor = _share(figure, floor)
        ratio_sdk = _share(figure, sdk)
        rows.append(
            f"| {name} | {_num(figure['cpu_ms'])} | {ratio_floor} | {ratio_sdk} "
            f"| {_num(figure['wall_ms'])} | {_num(figure['peak_rss_mb'])} |"
        )
    return "\n".join(rows)


def _share(figure: dict[str, Any], base: dict[str, Any] | None) -> str:
    if base is None or base["cpu_ms"] <= 0:
        return "—"
    return f"{_num(figure['cpu_ms'] / base['cpu_ms'])}x"


def _targets_table(results: dict[str, Any]) -> str:
    rows = [
        "asynctool targets (medians of this run):",
        "",
        "| target | scenario | client | measured | limit | verdict |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for v in results["targets"]:
        measured = "—" if v["measured"] is None else f"{_num(v['measured'])}{v['unit']}"
        limit = f"{_num(v['limit'])}{v['unit']}"
        rows.append(
            f"| {v['target']} | {v['scenario']} | {v['client']} | {measured} | {limit} "
            f"| **{v['status']}** |"
        )
    overhead = results.get("agent_overhead_us")
    if overhead is not None:
        rows.append(
            f"\nAgent loop overhead = CPU per turn of `asynctool-agent` minus the floor's "
            f"hand-written loop (same requests, answers and tool): {_num(overhead)} µs."
        )
    return "\n".join(rows)


def _calibration(results: dict[str, Any]) -> str:
    """The issue's orientation figures beside this run's, to show the harness is sound."""
    scenarios = results["scenarios"]
    text = scenarios.get("text_stream", {}).get("clients", {})
    rows = ["Calibration against the orientation figures of the issue (not targets):", ""]
    rows += ["| figure | expected | this run |", "| --- | --- | ---: |"]

    def cell(summary: dict[str, Any] | None, pick: str) -> str:
        if not summary or "median" not in summary:
            return "—"
        if pick == "cpu":
            return f"{_num(summary['median']['cpu_us'])} µs"
        return f"{_num((summary.get('vs_floor') or {}).get('cpu_us', float('nan')))}x"

    rows.append(f"| floor CPU per chunk | 2.1-2.6 µs | {cell(text.get('floor'), 'cpu')} |")
    rows.append(f"| SDK iterating, x floor | 55-73x | {cell(text.get('openai'), 'ratio')} |")
    rows.append(f"| SDK helper, x floor | 125-165x | {cell(text.get('openai-helper'), 'ratio')} |")
    small = scenarios.get("small_requests", {}).get("clients", {})
    rows.append(f"| floor CPU per small request | ~300 µs | {cell(small.get('floor'), 'cpu')} |")
    rows.append(f"| SDK small request, x floor | ~9x | {cell(small.get('openai'), 'ratio')} |")
    concurrent = scenarios.get("concurrent_streams", {})
    sdk = concurrent.get("clients", {}).get("openai", {}).get("median")
    streams = concurrent.get("streams")
    if sdk and streams:
        share = f"{sdk['errors'] / streams:.0%}"
        rows.append(f"| SDK streams failed, concurrent | 35-50% | {share} |")
    imports = results.get("imports") or {}
    for name, expected in ((SDK_IMPORT, "700-1,000 ms"), ("aiohttp", "~300 ms")):
        if name in imports:
            figure = imports[name]
            took = f"{_num(figure['cpu_ms'])} ms CPU, {_num(figure['wall_ms'])} ms wall"
            rows.append(f"| `import {name}` | {expected} | {took} |")
    return "\n".join(rows)
