"""`python -m asynctool.testing`: serve a `DemoModel` until interrupted.

Prints one line with the base URL once the socket listens (useful with `--port 0`), e.g.
`asynctool.testing: DemoModel at http://127.0.0.1:8000/v1`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._demo_model import DemoModel
from ._server import ModelServer


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until SIGINT or SIGTERM; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m asynctool.testing",
        description="Serve asynctool's DemoModel as an OpenAI-compatible API (no LLM inside).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks one")
    parser.add_argument("--api-key", default=None, help="require this key on every request")
    args = parser.parse_args(argv)
    server = ModelServer(
        DemoModel(), api_key=args.api_key, host=args.host, port=args.port, record=False
    )

    def announce(ready: ModelServer) -> None:
        print(f"asynctool.testing: DemoModel at {ready.base_url}", flush=True)

    server.run(on_ready=announce)
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    sys.exit(main())
