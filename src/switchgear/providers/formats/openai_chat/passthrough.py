"""Same dialect in and out: the client's body goes upstream with only the model rewritten,
and the upstream's SSE events come back unchanged while we watch them."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from switchgear.core.errors import GatewayError, UpstreamProtocolError
from switchgear.core.types import Usage
from switchgear.providers.formats.base import Target, UpstreamRequest
from switchgear.providers.formats.openai_chat.errors import error_event, error_from_payload, fields
from switchgear.providers.formats.openai_chat.request import apply_renames, encode, headers, path
from switchgear.providers.formats.openai_chat.response import usage_from_body


def build_passthrough(raw: dict[str, Any], target: Target, stream: bool) -> UpstreamRequest:
    """Same dialect in and out: every field the client sent survives; only ``model`` is
    rewritten, ``include_usage`` injected when streaming, and the vendor's renames applied."""
    body = dict(raw)
    body["model"] = target.model
    if stream:
        body["stream"] = True
        opts = body.get("stream_options")
        if type(opts) is not dict:
            body["stream_options"] = {"include_usage": True}
        elif opts.get("include_usage") is not True:
            body["stream_options"] = {**opts, "include_usage": True}
    if target.renames:
        apply_renames(body, target)
    return UpstreamRequest("POST", path(target, "chat/completions"), headers(target), encode(body), stream)


class PassthroughStream:
    """Same-dialect streaming: forwards SSE events without re-serialising JSON. It parses JSON only for the chunk that carries usage
    (or an error); drops the usage-only chunk when the client did not ask for usage (we
    injected ``include_usage``) and Azure's choices-less prompt-annotation chunk (not an
    OpenAI chunk); ``finished`` tells whether ``[DONE]`` arrived; ``error`` holds an
    upstream ``{"error": …}`` event (which is still forwarded). Call ``close()`` at the end
    of the upstream body."""

    __slots__ = ("_provider", "_wants_usage", "_buf", "_seen_first", "usage", "finished", "error")

    def __init__(self, target: Target | None = None, *, client_wants_usage: bool = True) -> None:
        self._provider = target.provider if target is not None else None
        self._wants_usage = client_wants_usage
        self._buf = b""
        self._seen_first = False
        self.usage: Usage | None = None
        self.finished = False
        self.error: GatewayError | None = None

    def feed(self, data: bytes) -> bytes:
        """Per network read, not per event. What we must look at sits at the edges of a
        stream: Azure's annotation chunk (or an immediate error) is the first event; the
        usage chunk comes right before ``[DONE]``, as do Groq's ``x_groq`` and an error
        that ends a stream. So the first event and the last two complete events of each
        read go through the per-event logic, and everything between is forwarded as it
        came, byte for byte, without being scanned (a stream's hot loop)."""
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            return self._feed_events(buf)  # CRLF framing: the general path normalises it
        out = b""
        if not self._seen_first:
            first = buf.find(b"\n\n")
            if first < 0:
                self._buf = buf
                return b""
            self._seen_first = True
            out = self._feed_events(buf[: first + 2])
            buf = buf[first + 2 :]
        last = buf.rfind(b"\n\n")
        cut = buf.rfind(b"\n\n", 0, last) if last > 0 else -1
        cut = buf.rfind(b"\n\n", 0, cut) if cut > 0 else -1
        if cut < 0:  # two events or fewer: look at each
            return out + self._feed_events(buf)
        return out + buf[: cut + 2] + self._feed_events(buf[cut + 2 :])

    def _feed_events(self, buf: bytes) -> bytes:
        """The per-event path: every complete event in ``buf`` is examined."""
        if b"\r" in buf:
            tail = b""
            if buf.endswith(b"\r"):
                buf, tail = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + tail
        out: list[bytes] = []
        start = 0
        find = buf.find
        while True:
            end = find(b"\n", start)
            if end < 0:
                break
            if buf[end + 1 : end + 2] == b"\n" and buf.startswith(b"data: ", start):
                # The common case, an event of one ``data: `` line: the same bytes go out.
                if self._keep(buf[start + 6 : end], False):
                    out.append(buf[start : end + 2])
            else:
                end = find(b"\n\n", start)
                if end < 0:
                    break
                payload, is_error_event = _sse_block(buf[start:end])
                if payload is not None and self._keep(payload, is_error_event):  # None: comment, keep-alive
                    if b"\n" in payload:
                        payload = payload.replace(b"\n", b"\ndata: ")
                    out.append(b"data: " + payload + b"\n\n")
            start = end + 2
        self._buf = buf[start:]
        return b"".join(out)

    def close(self) -> bytes:
        """End of the upstream body. Returns bytes still to forward (a ``[DONE]`` for a
        stream the server completed with usage but did not terminate); sets ``error`` for
        a stream that was cut short."""
        if self.finished or self.error is not None:
            return b""
        if self.usage is not None:
            self.finished = True
            return b"data: [DONE]\n\n"
        self.error = UpstreamProtocolError("stream ended before [DONE]", provider=self._provider)
        return b""

    def _keep(self, payload: bytes, is_error_event: bool) -> bool:
        """Note what the event means for us; False drops it (the usage chunk we injected).
        JSON is decoded only for an event that mentions an error or carries a usage object."""
        if is_error_event:
            self._set_error(error_event(payload))
            return True
        if _SPECIAL.search(payload) is None:
            if payload == b"[DONE]":
                self.finished = True
            return True
        try:
            obj = msgspec.json.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return True
        if type(obj) is not dict:
            return True
        if obj.get("error") is not None or obj.get("object") == "error":
            self._set_error(error_from_payload(None, fields(obj)))
            return True
        if "prompt_filter_results" in obj and not obj.get("choices") and obj.get("usage") is None:
            # Azure opens with prompt annotations in a chunk that is not an OpenAI chunk
            # (empty id, model and object); per-choice content_filter_results still pass.
            return False
        usage = usage_from_body(obj)
        if usage is not None:
            self.usage = usage
            if not self._wants_usage and obj.get("choices") == []:
                return False  # the usage-only chunk we asked for, not the client
        return True

    def _set_error(self, err: GatewayError) -> None:
        err.provider = self._provider
        self.error = err


# What PassthroughStream must look into: an error, a usage object (not ``"usage": null``),
# Azure's prompt annotations. A quoted key cannot match inside a JSON string value, where
# quotes are escaped.
_SPECIAL = re.compile(rb'"(?:error"|usage"\s*:\s*\{|x_groq"|prompt_filter_results")')


def _sse_block(block: bytes) -> tuple[bytes | None, bool]:
    """The general SSE rules for one event block: multi-line data, comments, ``event:``.
    Not transport.sse.SSEDecoder on purpose: bytes stay bytes (no UTF-8 decode), so what
    is forwarded is exactly what the upstream sent."""
    data: list[bytes] = []
    event = b""
    for line in block.split(b"\n"):
        if not line or line[0] == 0x3A:
            continue
        colon = line.find(b":")
        if colon < 0:
            field, value = line, b""
        else:
            field, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value
    if not data:
        return None, False
    return b"\n".join(data), event == b"error"
