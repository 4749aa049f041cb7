"""The OpenTelemetry API, reached only once a request is made, and only when it is installed.

`api()` imports `opentelemetry` on first use and remembers whether it could; `import
asynctool` never imports it. `Otel` answers, per request, the one question the cost of tracing
hangs on: is anything listening? Before an application configures an SDK the global providers
are the API's proxies, and then nothing is made at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._semconv import SCHEMA_URL

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram
    from opentelemetry.trace import Span, Tracer

__all__ = ["Otel", "api", "status_text"]

# The conventions' advised bucket boundaries (gen-ai-metrics.md, v1.41.0).
_TOKEN_BUCKETS = [4.0**i for i in range(14)]  # 1, 4, 16 ... 67108864
_DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]  # 0.01, 0.02 ... 81.92
_MAX_STATUS_TEXT = 300  # a span's status says what failed, not the server's whole page


class Otel:
    """The OpenTelemetry API, imported once; the tracer and instruments of the providers in
    force, made again when the application sets other ones."""

    def __init__(self) -> None:
        from opentelemetry import context, metrics, trace

        try:  # the class of the placeholder `get_meter_provider()` returns before any SDK
            from opentelemetry.metrics._internal import _ProxyMeterProvider
        except ImportError:  # pragma: no cover - another layout: count metrics as configured
            self._proxy_meters: tuple[type, ...] = ()
        else:
            self._proxy_meters = (_ProxyMeterProvider,)
        self.context = context
        self.trace = trace
        self.metrics = metrics
        self._tracer_provider: object = None
        self._meter_provider: object = None
        self.tracer: Tracer = trace.NoOpTracer()
        self.duration: Histogram | None = None
        self.tokens: Histogram | None = None

    def tracing(self) -> bool:
        """Whether spans go anywhere: a tracer provider other than the API's proxy is set."""
        provider = self.trace.get_tracer_provider()
        if provider is not self._tracer_provider:
            self._tracer_provider = provider
            self.tracer = provider.get_tracer("asynctool", _version(), schema_url=SCHEMA_URL)
        return not isinstance(provider, self.trace.ProxyTracerProvider)

    def measuring(self) -> bool:
        """Whether metrics go anywhere; the instruments of the provider in force."""
        provider = self.metrics.get_meter_provider()
        if provider is not self._meter_provider:
            self._meter_provider = provider
            meter = provider.get_meter("asynctool", _version(), schema_url=SCHEMA_URL)
            self.duration = meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            )
            self.tokens = meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            )
        return not isinstance(provider, self._proxy_meters)

    @contextmanager
    def current(self, span: Span) -> Iterator[None]:
        """`span` as the current span, for the block only."""
        token = self.context.attach(self.trace.set_span_in_context(span))
        try:
            yield
        finally:
            self.context.detach(token)


_OTEL: Otel | None = None
_ABSENT = False


def api() -> Otel | None:
    """The API, or None when `opentelemetry` cannot be imported (decided once)."""
    global _OTEL, _ABSENT
    if _OTEL is None and not _ABSENT:
        try:
            _OTEL = Otel()
        except ImportError:
            _ABSENT = True
    return _OTEL


def _version() -> str:
    from ._version import __version__

    return __version__


def status_text(error: BaseException) -> str:
    # Our errors' messages hold no credential (the transport redacts what a server echoes).
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= _MAX_STATUS_TEXT else text[: _MAX_STATUS_TEXT - 3] + "..."
