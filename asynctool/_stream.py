"""`ChatStream`: pump a response's bytes through the SSE decoder into chunks and the accumulator.

The stream does no parsing of its own: bytes go to `SSEDecoder`, each event's data to the
chunk decoder, each chunk to `ChatCompletionAccumulator`; what data that is not a chunk means
(an error, a quirk) is `_decode`'s to say. One network read may carry a thousand
events; they are decoded and accumulated a batch at a time (one accumulator call per batch) and
handed out one by one, so the per-chunk cost is a decode, a merge and a list index, and a
batch's chunks are still in the CPU's caches when the caller reads them.

How a stream ends:
- `data: [DONE]`: complete, whatever the finish reasons say.
- the body ends without `[DONE]`: complete when every choice has a finish reason, otherwise
  `IncompleteStreamError`; a connection dropped mid-body is `IncompleteStreamError` too.
- an error sent as data (`{"error": {...}}`, `{"object": "error", ...}`), an `error` beside
  `choices` (OpenRouter, whose choice then says `finish_reason: "error"`), an `event: error`,
  or a choice that ends with `finish_reason: "error"` alone: `APIError` with the server's
  message, after the chunk that carried it has been accumulated.
- data that is not a chunk: `StreamDecodeError` with the text, truncated.
Every error raised here carries `partial_completion`; chunks decoded before the error are still
yielded first, so nothing that arrived is lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from operator import attrgetter
from types import TracebackType
from typing import Generic, TypeVar

import msgspec

from ._accumulate import AddedArguments, ChatCompletionAccumulator, StartedCall
from ._closing import AsyncCloseable
from ._decode import (
    attributed,
    error_from,
    finished_with_error,
    normalize_chunk_quirks,
    undecodable,
)
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    IncompleteStreamError,
    StreamDecodeError,
)
from ._lossless import Decoder, extras
from ._sse import ServerSentEvent, SSEDecoder
from ._transport import Response
from ._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ParsedChatCompletion,
    ToolCall,
    chunk_decoder,
)

__all__ = ["ChatStream", "ChatStreamManager", "ParsedChatStream"]

T = TypeVar("T")

_DONE = b"[DONE]"
_BATCH = 64  # events decoded at a time
_choices_of = attrgetter("choices")


class ChatStream(AsyncCloseable):
    """An async iterator of `ChatCompletionChunk`, and an async context manager.

    Leaving `async with` (or `close()`) releases the connection whether or not the stream was
    read to its end, and so does anything raised out of the iteration (a cancellation
    included), also without `async with`. `get_final_completion()` reads what is left and
    returns the assembled `ChatCompletion`.
    """

    def __init__(self, response: Response, *, max_event_size: int) -> None:
        self._response = response
        self._decoder = SSEDecoder(max_event_size=max_event_size)
        self._chunks: Decoder[ChatCompletionChunk] = Decoder(ChatCompletionChunk, chunk_decoder)
        self._accumulator = ChatCompletionAccumulator()
        self._backlog: list[bytes | ServerSentEvent] = []  # events read, not yet decoded
        self._ready: Iterator[ChatCompletionChunk] = iter(())  # decoded, not handed out yet
        self._error: APIError | None = None
        self._ended = False  # nothing more will be read from the network
        self._complete = False  # the server ended the stream properly
        self._calls_reported = 0  # how many of the accumulator's started calls were asked for
        self._arguments_reported = 0  # and of its added arguments
        self._trace = response.trace  # None unless an OpenTelemetry SDK records this request
        self.request_id = response.request_id
        """The `x-request-id` of the response, for support requests."""
        self.headers = response.headers
        """The response headers."""

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        chunk = next(self._ready, None)
        # A `try` costs nothing in CPython 3.11+ until something is raised, so the chunk
        # already decoded is still handed out for a list index.
        try:
            while chunk is None:
                if self._error is not None:
                    raise self._error
                if self._ended:
                    raise StopAsyncIteration
                if self._backlog:
                    self._decode_next_batch()
                else:
                    await self._read()
                chunk = next(self._ready, None)
        except BaseException:
            # Whatever ends the iteration, a cancellation or Ctrl-C included, lets go of the
            # connection now: a stream iterated without `async with` would otherwise hold it
            # until it is garbage-collected, and the server would go on writing.
            self._ended = True
            self._response.close()
            if self._trace is not None:  # a cancellation; an error or the end was traced
                self._trace.closed(self._accumulator.completion)
            raise
        return chunk

    async def close(self) -> None:
        """Stop reading and release the connection; chunks not yet read are dropped."""
        self._ended = True
        self._response.close()
        if self._trace is not None:  # said only when the stream had not ended already
            self._trace.closed(self._accumulator.completion)

    def calls_started_by(self, chunk: ChatCompletionChunk) -> list[StartedCall]:
        """The tool calls `chunk` started: those one of its fragments gave a name.

        For events as the stream goes; ask for every chunk that has tool-call fragments (no
        other starts a call), in the order they came. The accumulator decides which call a
        fragment belongs to, so these are exactly the calls of the final completion.
        """
        started = self._accumulator.started_calls
        first = end = self._calls_reported
        # The accumulator is up to a batch ahead of the chunk handed out: only this chunk's.
        while end < len(started) and started[end].chunk is chunk:
            end += 1
        self._calls_reported = end
        return started[first:end]

    def watch_arguments(self) -> None:
        """Have `arguments_added_by` tell, from the next chunk read on, which call each
        argument fragment went to. Call it before reading: it makes accumulating slower."""
        self._accumulator.watch_arguments()

    def arguments_added_by(self, chunk: ChatCompletionChunk) -> list[AddedArguments]:
        """The argument text `chunk` added to calls that have a name, by the accumulator's
        rule of which call a fragment is of (after `watch_arguments`; else always empty).

        Ask as for `calls_started_by`, after it: a call's text concatenates to its final
        `arguments`.
        """
        added = self._accumulator.added_arguments
        if not added:
            return []
        first = end = self._arguments_reported
        while end < len(added) and added[end].chunk is chunk:
            end += 1
        self._arguments_reported = end
        return added[first:end]

    def tool_call(self, choice: int, position: int) -> ToolCall:
        """A call of the stream as it stands (`position` as in `StartedCall`): for a call that
        is complete before the stream ends."""
        return self._accumulator.tool_call(choice, position)

    def snapshot(self) -> ChatCompletion:
        """The completion assembled from the chunks that arrived so far."""
        return self._accumulator.completion()

    async def get_final_completion(self) -> ChatCompletion:
        """Read the rest of the stream and return the completion assembled from every chunk.

        Raises:
            APIError: whatever reading the stream raises, with `partial_completion` set.
            IncompleteStreamError: the stream was closed before the server ended it.
        """
        async for _ in self:
            pass
        if not self._complete:
            raise self._failed(IncompleteStreamError("The stream was closed before it ended"))
        return self._accumulator.completion()

    async def _read(self) -> None:
        """Read one piece of the body and decode the first of the events it completes."""
        try:
            data = await self._response.read_chunk()
        except APITimeoutError as exc:
            self._fail(exc)
            return
        except APIConnectionError as exc:
            self._fail(IncompleteStreamError(f"The connection dropped mid-stream: {exc}"), exc)
            return
        if not data:
            self._end_of_body()
            return
        if self._trace is not None:
            self._trace.first_data()
        try:
            self._backlog = self._decoder.events_from(data)
        except StreamDecodeError as exc:
            self._fail(exc)
            return
        self._decode_next_batch()

    def _decode_next_batch(self) -> None:
        """Decode the next few events of the backlog.

        One read may complete a thousand events. Decoded a few at a time, each batch of chunks
        is handed out and dropped while its memory is still in the CPU's caches.
        """
        backlog = self._backlog
        self._backlog = backlog[_BATCH:]
        batch = backlog[:_BATCH]
        # The usual batch, every event a chunk with choices and nothing unnamed, is decoded and
        # checked by C loops. Decoding raises at the first event that is not such a chunk (an
        # event object, [DONE], bad data, a field the structs do not name), and `extend` keeps
        # the chunks decoded before it. From there, or from the first chunk without choices
        # (usage, an error object), the batch goes through `_decode_onto`, one event at a time; what
        # was decoded is not decoded again. So does a batch decoded by a learned shape: its
        # chunks carry unnamed fields, which `_decode_onto` keeps.
        chunks: list[ChatCompletionChunk] = []
        try:
            chunks.extend(map(self._chunks.decode, batch))  # type: ignore[arg-type]
        except (TypeError, msgspec.DecodeError, RecursionError):
            pass
        if self._chunks.learned:
            usual = 0
        elif len(chunks) == len(batch) and all(map(_choices_of, chunks)):
            self._ready = iter(chunks)
            self._accumulator.add_all(chunks)
            if self._accumulator.failed:
                self._fail(finished_with_error(None))
            return
        else:
            usual = next((i for i, chunk in enumerate(chunks) if not chunk.choices), len(chunks))
        queue = chunks[:usual]
        self._ready = iter(queue)  # a list iterator sees what is appended
        self._decode_onto(batch[usual:], queue, chunks[usual:])

    def _decode_onto(
        self,
        events: list[bytes | ServerSentEvent],
        queue: list[ChatCompletionChunk],
        decoded: list[ChatCompletionChunk],
    ) -> None:
        """Decode the chunks among `events` onto `queue`, until one ends the stream, and
        accumulate the whole queue. `decoded` holds the chunks of the first events, already
        decoded: those are not decoded again.

        This is the path of a batch with something unusual in it: an event object, [DONE], an
        error, a chunk without choices, fields the structs do not name, data that does not
        decode as it stands.
        """
        ahead = iter(decoded)
        lossless = self._chunks.learned  # `decoded` came from a learned shape
        chunk: ChatCompletionChunk | None
        end: Callable[[], None] | None = None
        for event in events:
            if isinstance(event, bytes):
                data = event
            else:
                data = event.data
                if event.event == "error":
                    end = partial(self._fail, error_from(data))
                    break
            chunk = next(ahead, None)
            if chunk is None:
                if data == _DONE:
                    end = self._close_completed
                    break
                try:
                    chunk = self._chunks.decode(data)
                except msgspec.ValidationError:
                    chunk = self._decode_any(data)
                    lossless = True
                except (msgspec.DecodeError, RecursionError):  # too deep nesting: RecursionError
                    chunk = None
                if chunk is None:
                    end = partial(self._fail, undecodable(data))
                    break
            # An error object has a field `error`, which no chunk struct names, or says it is
            # one; OpenRouter puts `error` beside the choices it cuts short, so that chunk is
            # kept too.
            if chunk.object == "error" or "error" in extras(chunk):
                if chunk.choices:
                    queue.append(chunk)
                end = partial(self._fail, error_from(data))
                break
            queue.append(chunk)
        # Before `end`: an error carries what arrived.
        if lossless:
            self._accumulator.add_lossless(queue)
        else:
            self._accumulator.add_all(queue)
        if self._accumulator.failed and (end is None or end == self._close_completed):
            end = partial(self._fail, finished_with_error(None))
        if end is not None:
            end()

    def _decode_any(self, data: bytes) -> ChatCompletionChunk | None:
        try:
            return self._chunks.decode_any(data, normalize_chunk_quirks)
        except (msgspec.DecodeError, RecursionError):
            return None

    def _end_of_body(self) -> None:
        cut_mid_event = self._decoder.close()
        if self._accumulator.finished:
            self._close_completed()
            return
        pending = self._accumulator.unfinished_choices()
        detail = f"choices {pending} had no finish reason" if pending else "no choice arrived"
        if cut_mid_event:
            detail += ", and the body ended in the middle of an event"
        self._fail(IncompleteStreamError(f"The stream ended before [DONE]: {detail}"))

    def _close_completed(self) -> None:
        self._complete = True
        self._ended = True
        self._response.close()
        if self._trace is not None:
            self._trace.succeeded(self._accumulator.completion())

    def _fail(self, error: APIError, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        self._error = self._failed(error)
        self._ended = True
        self._response.close()
        if self._trace is not None:
            self._trace.failed(self._error)

    def _failed(self, error: APIError) -> APIError:
        error.partial_completion = self._accumulator.completion()
        return attributed(error, self._response)


class ParsedChatStream(ChatStream, Generic[T]):
    """A `ChatStream` whose final completion is parsed into the requested type.

    What `client.chat.completions.stream(..., response_format=T)` gives; chunks are as usual.
    """

    def __init__(
        self,
        response: Response,
        *,
        max_event_size: int,
        parse: Callable[[ChatCompletion], ParsedChatCompletion[T]],
    ) -> None:
        super().__init__(response, max_event_size=max_event_size)
        self._parse = parse

    async def get_final_completion(self) -> ParsedChatCompletion[T]:
        """Read the rest of the stream and return the completion, parsed.

        Raises:
            OutputError: the answer is a refusal, cut short, or does not fit the type.
            APIError: whatever reading the stream raises, with `partial_completion` set.
        """
        return self._parse(await super().get_final_completion())


StreamT = TypeVar("StreamT", bound=ChatStream)


class ChatStreamManager(Generic[StreamT]):
    """What `client.chat.completions.stream(...)` returns: `async with` it to get a `ChatStream`.

    The request is sent on entering, and the stream closed on leaving.
    """

    def __init__(self, open_stream: Callable[[], Awaitable[StreamT]]) -> None:
        self._open_stream = open_stream
        self._stream: StreamT | None = None

    async def __aenter__(self) -> StreamT:
        self._stream = await self._open_stream()
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
