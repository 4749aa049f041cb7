"""A sans-I/O decoder for Server-Sent Events: bytes in, events out, no I/O and no JSON.

The rules are those of the WHATWG HTML Standard, "Server-sent events", sections 9.2.5
"Parsing an event stream" and 9.2.6 "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html):

- The stream is UTF-8; one leading byte order mark is dropped, once, at the very start.
- A line ends at CRLF, LF or CR. A blank line dispatches the event; a line starting with ``:``
  is a comment; otherwise the text before the first ``:`` names a field and the rest, less one
  leading space, is its value (a line without a colon is a field with an empty value).
- ``data`` appends its value and an LF to the data buffer; ``event`` sets the event type;
  ``id`` sets the last event ID buffer unless the value holds a NUL; ``retry`` sets the
  reconnection time when the value is all ASCII digits; any other field is ignored.
- Dispatching copies the last event ID buffer to the last event ID, then, unless the data
  buffer is empty, drops its final LF and emits the event (type ``message`` unless set).
  Either way the data and type buffers are cleared.
- At end of stream an event whose blank line never came is discarded.

Everything is done on bytes: CR and LF never occur inside a multi-byte UTF-8 sequence, so lines
split on bytes are the same lines a text decoder would find, and only field values that need to
be text (``event``, ``id``) are decoded. Performance shapes the code, since every byte of every
streamed completion passes through it: a chunk with a CR is first normalised to LF-only; a chunk
that is a run of single-line ``data: `` events (a streamed completion) is split into their data in
one call, without copying the chunk, and searched for line feeds a few dozen events at a time;
any other chunk is cut into blocks at each ``\\n\\n``, and a block that is a single ``data: ``
line becomes an event without being looked at line by line.
`events_from` hands plain events (type ``message``, no ID, no retry) over as their data bytes, so
the stream builds no object per token; `feed` gives every event as a `ServerSentEvent`.

A partial line is kept as a list of pieces and joined once, when its end arrives, so a huge line
fed in small pieces costs linear time, and its size is checked as it grows, so the bound caps
memory too.
"""

from __future__ import annotations

from typing import Final, cast

import msgspec

from ._exceptions import PREVIEW_CHARS, StreamDecodeError

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM: Final = b"\xef\xbb\xbf"
# What separates two plain events in a run of them.
_NEXT_DATA: Final = b"\n\ndata: "
# Events whose data is searched for a line feed with one join: about 16 KiB of a completion.
_CHECKED_AT_ONCE: Final = 64


class ServerSentEvent(msgspec.Struct, gc=False, frozen=True):
    """One dispatched event of a server-sent event stream.

    Attributes:
        event: the event type, `"message"` unless an `event` field set it.
        data: the data buffer as raw UTF-8 bytes, its lines joined by `b"\\n"`.
        id: the last event ID in force when the event was dispatched, or None if none was set.
        retry: the reconnection time in milliseconds set by this event's lines, or None.
    """

    event: str = "message"
    data: bytes = b""
    id: str | None = None
    retry: int | None = None

    @property
    def text(self) -> str:
        """The data decoded as UTF-8, invalid bytes replaced by U+FFFD."""
        return self.data.decode("utf-8", "replace")


class SSEDecoder:
    """An incremental Server-Sent Events parser that does no I/O.

    Feed it the bytes of a response body in pieces of any size, split anywhere, and it returns
    the events each piece completes. Call `close` when the body ends.

    Attributes:
        last_event_id: the last event ID as of the latest blank line (what a reconnecting
            client sends as `Last-Event-ID`), or None if the stream never set one.
        reconnection_time: the latest valid `retry` value in milliseconds, set as soon as its
            line arrives even when no event is dispatched with it, or None.
    """

    __slots__ = (
        "_after_cr",
        "_at_start",
        "_carry",
        "_data",
        "_data_size",
        "_event_type",
        "_head",
        "_id_buffer",
        "_max_size",
        "_pending",
        "_pending_size",
        "_retry",
        "last_event_id",
        "reconnection_time",
    )

    def __init__(self, *, max_event_size: int = 16 * 1024 * 1024) -> None:
        """Create a decoder for one stream.

        Args:
            max_event_size: the longest line, and the largest event data, in bytes, that the
                decoder accepts before raising `StreamDecodeError`; it bounds the memory one
                stream can make the decoder hold.
        """
        self._max_size = max_event_size
        self.last_event_id: str | None = None
        self.reconnection_time: int | None = None
        self._id_buffer: str | None = None
        self._reset_stream()

    def _reset_stream(self) -> None:
        """Forget the partial line and event, and expect a possible byte order mark again."""
        self._carry = True
        self._at_start = True
        self._head = b""
        self._after_cr = False
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._data: list[bytes] = []
        self._data_size = 0
        self._event_type = ""
        self._retry: int | None = None
        self._id_buffer = self.last_event_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse the next piece of the stream.

        Args:
            chunk: the next bytes of the body, of any length, split anywhere.

        Returns:
            Every event this chunk completed, in stream order.

        Raises:
            StreamDecodeError: a line or an event's data grew past `max_event_size` bytes; the
                stream cannot be decoded further, and events this chunk completed before the
                oversized line are not returned.
        """
        return [
            ServerSentEvent(data=event) if isinstance(event, bytes) else event
            for event in self.events_from(chunk)
        ]

    def events_from(self, chunk: bytes) -> list[bytes | ServerSentEvent]:
        """Parse the next piece of the stream, as `feed`, handing plain events over as bytes.

        A plain event, one of type `message` with no event ID in force and no `retry`, is
        given as its data alone: it is all such an event holds, and a streamed completion is
        made of them, so no event object is built per token. Other events come as
        `ServerSentEvent`. Raises as `feed`.
        """
        if self._carry:
            chunk = self._resume(chunk)
        # Bytes are looked for by their int value (13 is CR, 10 is LF): `b"\r" in chunk` first
        # tries to read its operand as an int, and raising and clearing that TypeError costs
        # several times the search itself on a small chunk.
        if 13 in chunk:
            self._carry = self._after_cr = chunk[-1] == 13
            chunk = self._normalise_line_ends(chunk)
        size = self._pending_size + len(chunk)
        if size > self._max_size:
            self._check_line_sizes(chunk)
        if 10 in chunk:
            return self._feed_lines(chunk)
        if chunk:
            self._pending.append(chunk)
            self._pending_size = size
        return []

    def close(self) -> bool:
        """Mark the end of the stream and discard whatever was left incomplete.

        The decoder is then ready for a new stream (a reconnection); `last_event_id` is kept.

        Returns:
            True if an unterminated line, or an event whose closing blank line never came, was
            pending: the stream was cut short and, as the standard requires, that part is lost.
        """
        incomplete = bool(
            self._head
            or self._pending
            or self._data
            or self._event_type
            or self._retry is not None
            or self._id_buffer != self.last_event_id
        )
        self._reset_stream()
        return incomplete

    def _resume(self, chunk: bytes) -> bytes:
        """Finish what the previous chunk left undecided: a byte order mark, or a CR's LF."""
        if self._at_start:
            chunk = self._strip_bom(chunk)
        elif chunk:
            # The CR that ended the previous chunk already ended its line, so an LF here is
            # the second half of a CRLF, not an empty line.
            self._after_cr = False
            if chunk[0] == 10:
                chunk = chunk[1:]
        self._carry = self._at_start or self._after_cr
        return chunk

    @staticmethod
    def _normalise_line_ends(chunk: bytes) -> bytes:
        """Turn every CRLF, and then every lone CR, into LF."""
        # join(split) beats replace by a third here: replace looks for a two-byte pattern
        # with a slower search than split's.
        chunk = b"\n".join(chunk.split(b"\r\n"))
        return chunk.replace(b"\r", b"\n") if 13 in chunk else chunk

    def _strip_bom(self, chunk: bytes) -> bytes:
        """Drop a leading byte order mark, holding back the first bytes until it is decided."""
        head = self._head + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head
            return b""
        self._at_start = False
        self._head = b""
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def _feed_lines(self, chunk: bytes) -> list[bytes | ServerSentEvent]:
        """Parse an LF-only chunk holding at least one line end."""
        cut = self._plain_run(chunk) or self._blocks(chunk)
        events, tail = cut
        if 10 in tail:
            lines = tail.split(b"\n")
            tail = lines.pop()
            self._feed_block_lines(lines, events)
        if tail:
            self._pending.append(tail)
        self._pending_size = len(tail)
        return events

    def _blocks(self, chunk: bytes) -> tuple[list[bytes | ServerSentEvent], bytes]:
        """The events of the blocks that end in `chunk` and what follows the last of them."""
        blocks = chunk.split(b"\n\n")
        tail = blocks.pop()
        pending = self._pending
        if pending:
            # The partial line from earlier chunks is completed by this chunk's first line.
            if blocks:
                pending.append(blocks[0])
                blocks[0] = b"".join(pending)
            else:
                pending.append(tail)
                tail = b"".join(pending)
            self._pending = []
        events: list[bytes | ServerSentEvent] = []
        if blocks:
            self._feed_blocks(blocks, events)
        return events, tail

    def _plain_run(self, chunk: bytes) -> tuple[list[bytes | ServerSentEvent], bytes] | None:
        """As `_blocks` when, up to its last blank line, `chunk` is a run of plain single-line
        events (`data: X`, blank line) following a dispatched event; else None, and nothing
        has changed.

        This is the shape of a streamed completion, and it is checked and cut on the whole
        chunk at once: split at every `"\\n\\ndata: "`, the run is a run of such events if no
        piece holds a line feed, which is to say each block was one `data: ` line. No block is
        looked at on its own.

        The chunk itself is split, never a copy of it: one read can be a quarter of a megabyte,
        and a block that size allocated and freed at every read makes malloc hand the top of
        its heap back to the system and fault it in again, page by page, at the next read.
        """
        end = chunk.rfind(b"\n\n")
        if end < 0 or self._mid_event() or self._id_buffer is not None:
            return None
        data = chunk.split(_NEXT_DATA)
        if chunk.startswith(_NEXT_DATA, end):
            data.pop()  # the start of an event after the run
        else:
            last = data[-1]
            data[-1] = last[: last.rfind(b"\n\n")]
        pending = self._pending
        first = b"".join([*pending, data[0]]) if pending else data[0]
        if not first.startswith(b"data: "):
            return None
        # `count(b"\n")` would look at each byte in turn; a join and a memchr are faster. The
        # join takes a few dozen events at a time, to stay a small block (see above).
        for start in range(0, len(data), _CHECKED_AT_ONCE):
            if 10 in b"".join(data[start : start + _CHECKED_AT_ONCE]):
                return None
        data[0] = first[6:]
        self._pending = []
        self.last_event_id = None
        return cast("list[bytes | ServerSentEvent]", data), chunk[end + 2 :]

    def _mid_event(self) -> bool:
        """Whether lines of an event not yet dispatched were read (its data, type or retry)."""
        return bool(self._data or self._event_type or self._retry is not None)

    def _feed_blocks(self, blocks: list[bytes], events: list[bytes | ServerSentEvent]) -> None:
        """Parse blocks that each end with a blank line, so each dispatches."""
        append = events.append
        # Only the first block can continue an event begun in an earlier chunk.
        fresh = not self._mid_event()
        last_id = self._id_buffer
        for block in blocks:
            if fresh:
                # removeprefix is one call where a slice, a compare and a slice are three.
                data = block.removeprefix(b"data: ")
                if len(data) != len(block) and 10 not in data:
                    append(data if last_id is None else ServerSentEvent("message", data, last_id))
                    continue
            self._feed_block_lines(block.split(b"\n"), events)
            self._dispatch(events)
            last_id = self._id_buffer
            fresh = True
        self.last_event_id = last_id

    def _feed_block_lines(self, lines: list[bytes], events: list[bytes | ServerSentEvent]) -> None:
        """Interpret complete lines one by one."""
        for line in lines:
            if not line:
                self._dispatch(events)
                continue
            value = line.removeprefix(b"data: ")
            if len(value) != len(line):
                self._append_data(value)
            elif line[0] != 58:  # a line starting with ":" is a comment
                self._process_field(line)

    def _process_field(self, line: bytes) -> None:
        """Apply one `name:value` line; unknown names are ignored."""
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._append_data(value)
        elif name == b"event":
            self._event_type = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id_buffer = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._set_retry(value)

    def _set_retry(self, digits: bytes) -> None:
        """Record a reconnection time given as ASCII digits."""
        try:
            retry = int(digits)
        except ValueError:
            # More digits than Python converts (sys.get_int_max_str_digits): no meaningful
            # delay is that long, so the field is ignored like any other unusable value.
            return
        self._retry = self.reconnection_time = retry

    def _append_data(self, value: bytes) -> None:
        """Add one `data` line to the event being built, within the size bound."""
        self._data.append(value)
        # Each line costs its length plus the LF that joins it to the next.
        self._data_size += len(value) + 1
        if self._data_size - 1 > self._max_size:
            preview = self._data[0][:PREVIEW_CHARS]
            self._data = []
            raise self._too_large("the data of one event", preview)

    def _dispatch(self, events: list[bytes | ServerSentEvent]) -> None:
        """Handle a blank line: emit the event if it has data, then start a new one."""
        self.last_event_id = self._id_buffer
        if self._data:
            data = b"\n".join(self._data)
            event_type = self._event_type or "message"
            if event_type == "message" and self._id_buffer is None and self._retry is None:
                events.append(data)
            else:
                events.append(ServerSentEvent(event_type, data, self._id_buffer, self._retry))
            self._data = []
            self._data_size = 0
        self._event_type = ""
        self._retry = None

    def _check_line_sizes(self, chunk: bytes) -> None:
        """Raise if any line this LF-only chunk completes or continues is over the bound."""
        lines = chunk.split(b"\n")
        sizes = [len(line) for line in lines]
        sizes[0] += self._pending_size
        longest = max(sizes)
        if longest > self._max_size:
            index = sizes.index(longest)
            start = self._pending[0] if index == 0 and self._pending else lines[index]
            self._pending = []
            raise self._too_large("a line", start[:PREVIEW_CHARS])

    def _too_large(self, what: str, preview: bytes) -> StreamDecodeError:
        """The error for input past the size bound, saying how to raise the bound."""
        return StreamDecodeError(
            f"server-sent events stream: {what} is longer than the limit of {self._max_size} "
            "bytes; if the server really sends such large events, raise the limit with the "
            "max_event_size option",
            data=preview.decode("utf-8", "replace"),
        )
