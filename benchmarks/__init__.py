"""Peer benchmarks of asynctool: the OpenAI SDK and a raw aiohttp + msgspec floor, same run.

Run with `python -m benchmarks` (10-20 minutes) or `python -m benchmarks --quick` (under a
minute). Modules: `scenarios` (what is sent and counted), `server` (the local server process),
`clients` (one module per library), `worker` (the measured process), `processes` (the runner's
handles on the server and on each client's zygote), `imports` (cold import time), `report`
(medians, ratios, targets, Markdown), `run` (the command line) and `profile` (cProfile of one
client on one scenario).
"""
