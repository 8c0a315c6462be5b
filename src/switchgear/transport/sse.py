"""Incremental Server-Sent Events decoder (the WHATWG event-stream rules).

Bytes go in as they arrive from the network, split anywhere; complete events come
out. Handles LF, CRLF and CR line endings, comments, multi-line ``data``, and
a field without a colon. ``id`` and ``retry`` are not needed by any provider and
are ignored.
"""

from __future__ import annotations

from typing import NamedTuple


class SSEEvent(NamedTuple):
    event: str  # "" when the event had no ``event:`` field (the spec's "message")
    data: str


class SSEDecoder:
    __slots__ = ("_buf", "_event", "_data", "_has_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[str] = []
        self._has_data = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            # Normalise CRLF and lone CR; keep a trailing CR until we know what follows.
            tail = b""
            if buf.endswith(b"\r"):
                buf, tail = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + tail
        out: list[SSEEvent] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if not line:
                if self._has_data:
                    out.append(SSEEvent(self._event, "\n".join(self._data)))
                self._event = ""
                self._data = []
                self._has_data = False
                continue
            if line[0] == 0x3A:  # ":" comment / keep-alive
                continue
            colon = line.find(b":")
            if colon < 0:
                name, value = line, b""
            else:
                name, value = line[:colon], line[colon + 1 :]
                if value[:1] == b" ":
                    value = value[1:]
            if name == b"data":
                self._data.append(value.decode("utf-8", "replace"))
                self._has_data = True
            elif name == b"event":
                self._event = value.decode("utf-8", "replace")
        self._buf = buf[start:]
        return out

    @property
    def pending(self) -> bool:
        """True when bytes of an unfinished event are buffered (a truncated stream)."""
        return bool(self._buf.strip()) or self._has_data
