"""Same dialect in and out: the client's body goes upstream with only the model rewritten,
and Anthropic's events come back unchanged while we watch them."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import GatewayError, UpstreamProtocolError
from switchgear.core.types import Usage
from switchgear.providers.formats.anthropic_messages.errors import error_from_object
from switchgear.providers.formats.anthropic_messages.request import PATH, encode, headers
from switchgear.providers.formats.anthropic_messages.response import decode, usage
from switchgear.providers.formats.base import Target, UpstreamRequest
from switchgear.transport.sse import SSEDecoder


def build_passthrough(raw: dict[str, Any], target: Target, stream: bool) -> UpstreamRequest:
    """Same dialect in and out: every field the client sent survives; only the model changes."""
    body = {**raw, "model": target.model}
    if bool(body.get("stream")) != stream:
        body["stream"] = stream
    return UpstreamRequest("POST", PATH, headers(target), encode(body), stream=stream)


class PassthroughStream:
    """Same-dialect streaming: forward Anthropic's events, learn usage and the outcome.

    ``feed`` returns whole events, never re-serialised. What we must see sits at the edges
    of a stream: message_start (input usage) is the first event; message_delta (output
    usage), message_stop and an error that ends the stream are the last. So the first
    event and the last two complete events of each network read are examined (and
    re-framed as ``event: X\\ndata: Y\\n\\n``); the events between them are forwarded as
    they came, unscanned. Only message_start, message_delta and error are parsed. ``finished`` turns true at message_stop; ``error`` holds the error of an
    ``event: error`` (which is still forwarded) or, after ``close()``, of a stream that
    ended without message_stop.
    """

    __slots__ = ("_sse", "_buf", "_seen_first", "_general", "_start_usage", "_usage", "finished", "error")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._buf = b""
        self._seen_first = False
        self._general = False  # CR line endings seen: every event goes through the decoder
        self._start_usage: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None
        self.finished = False
        self.error: GatewayError | None = None

    @property
    def usage(self) -> Usage | None:
        if self._usage is None:
            return None
        return usage(self._usage)

    def feed(self, data: bytes) -> bytes:
        if self._general or b"\r" in data:
            self._general = True
            buf, self._buf = self._buf + data, b""
            return self._events(buf)
        buf = self._buf + data if self._buf else data
        last = buf.rfind(b"\n\n")
        if last < 0:
            self._buf = buf
            return b""
        complete, self._buf = buf[: last + 2], buf[last + 2 :]
        out = b""
        if not self._seen_first:
            self._seen_first = True
            first = complete.find(b"\n\n")
            out, complete = self._events(complete[: first + 2]), complete[first + 2 :]
        cut = complete.rfind(b"\n\n", 0, len(complete) - 2)
        cut = complete.rfind(b"\n\n", 0, cut) if cut > 0 else -1
        if cut < 0:  # two events or fewer: look at each
            return out + self._events(complete)
        return out + complete[: cut + 2] + self._events(complete[cut + 2 :])

    def _events(self, data: bytes) -> bytes:
        chunks: list[bytes] = []
        for ev in self._sse.feed(data):
            name = ev.event
            if name == "message_start":
                obj = _loads(ev.data)
                u = (obj.get("message") or {}).get("usage") if obj else None
                if isinstance(u, dict):
                    self._start_usage = u
                    self._usage = u
            elif name == "message_delta":
                obj = _loads(ev.data)
                u = obj.get("usage") if obj else None
                if isinstance(u, dict):
                    self._usage = {**self._start_usage, **{k: v for k, v in u.items() if v is not None}}
            elif name == "message_stop":
                self.finished = True
            elif name == "error":
                obj = _loads(ev.data)
                self.error = (
                    error_from_object(obj, 200)
                    if obj
                    else UpstreamProtocolError("Anthropic sent an unreadable error event")
                )
            if name:
                chunks.append(b"event: " + name.encode() + b"\ndata: " + ev.data.encode() + b"\n\n")
            else:
                chunks.append(b"data: " + ev.data.encode() + b"\n\n")
        return b"".join(chunks)

    def close(self) -> bytes:
        """End of the upstream body: a stream cut before message_stop becomes ``error``
        (not yet forwarded). Returns bytes still to forward: none for this format."""
        if not self.finished and self.error is None:
            self.error = UpstreamProtocolError("Anthropic stream ended before message_stop")
        return b""


def _loads(data: str) -> dict[str, Any] | None:
    try:
        obj = decode(data)
    except msgspec.DecodeError:
        return None
    return obj if isinstance(obj, dict) else None
