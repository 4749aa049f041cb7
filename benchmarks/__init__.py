"""Peer benchmarks of asynctool: the OpenAI SDK and a raw aiohttp + msgspec floor, same run.

Run with `python -m benchmarks` (about ten minutes) or `python -m benchmarks --quick` (under a
minute). Modules: `scenarios` (what is sent and counted), `server` (the local server process),
`clients` (one module per library), `worker` (one measured process), `imports` (cold import
time), `report` (medians, ratios, targets, Markdown) and `run` (the command line).
"""
