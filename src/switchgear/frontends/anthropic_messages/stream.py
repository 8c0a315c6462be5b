"""Canonical stream events -> the SSE sequence Anthropic clients expect."""

from __future__ import annotations

from typing import Any

from switchgear.core.errors import GatewayError
from switchgear.core.types import (
    Finish,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from switchgear.frontends.anthropic_messages.errors import error_envelope
from switchgear.frontends.anthropic_messages.response import (
    STOP_REASONS,
    client_signature,
    encode,
    message_id,
    new_id,
    usage_json,
)


def _frame(event: bytes, payload: dict[str, Any]) -> bytes:
    return b"event: " + event + b"\ndata: " + encode(payload) + b"\n\n"


_TEXT_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}\n\n'
_THINKING_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"thinking_delta","thinking":%s}}\n\n'
_SIGNATURE_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"signature_delta","signature":%s}}\n\n'
_JSON_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%s}}\n\n'
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'

# Kinds of the open content block.
_NONE, _TEXT, _THINKING, _TOOL = 0, 1, 2, 3


class StreamRenderer:
    """Canonical stream events -> the SSE sequence Anthropic clients expect.

    message_start, then per content block content_block_start / _delta / _stop (a new
    block opens whenever the kind or the tool call changes), then message_delta and
    message_stop. Usage may arrive after Finish (OpenAI upstreams send it last), so
    message_delta is held until usage arrives or ``done()``. Only choice 0 is rendered.
    """

    __slots__ = ("_model", "_started", "_stopped", "_index", "_kind", "_tool", "_signed", "_finish", "_usage", "_delta_sent")

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._stopped = False
        self._index = -1  # index of the last opened content block
        self._kind = _NONE  # kind of the open block
        self._tool = -1  # canonical tool call index of the open tool_use block
        self._signed = False  # the open thinking block got its signature: it is complete
        self._finish: Finish | None = None
        self._usage: Usage | None = None
        self._delta_sent = False

    def render(self, ev: StreamEvent) -> bytes:
        if self._stopped:
            return b""
        if isinstance(ev, StreamStart):
            return self._start(ev)
        head = b"" if self._started else self._start(None)
        if isinstance(ev, TextDelta):
            if ev.choice or not ev.text:
                return head
            if self._kind != _TEXT:
                head += self._open(_TEXT, {"type": "text", "text": ""})
            return head + _TEXT_DELTA % (self._index, encode(ev.text))
        if isinstance(ev, ToolCallDelta):
            return head + self._tool_delta(ev)
        if isinstance(ev, ReasoningDelta):
            return head + self._reasoning(ev)
        if isinstance(ev, Finish):
            if ev.choice:
                return head
            self._finish = ev
            head += self._close()
            return head + self._message_delta() if self._usage is not None else head
        if isinstance(ev, UsageEvent):
            self._usage = ev.usage
            return head + self._message_delta() if self._finish is not None else head
        if isinstance(ev, StreamError):
            return head + self.error(ev.error)
        return head

    def done(self) -> bytes:
        """End of a normal stream: flush what is held and send message_stop."""
        if self._stopped:
            return b""
        out = b"" if self._started else self._start(None)
        out += self._close()
        if not self._delta_sent:
            out += self._message_delta()
        self._stopped = True
        return out + _MESSAGE_STOP

    def error(self, err: GatewayError) -> bytes:
        """The terminal ``event: error`` frame, in Anthropic's error envelope."""
        self._stopped = True
        return _frame(b"error", error_envelope(err))

    def _start(self, ev: StreamStart | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(ev.id if ev is not None else ""),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(ev.usage if ev is not None else None, final=False),
        }
        return _frame(b"message_start", {"type": "message_start", "message": message})

    def _open(self, kind: int, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._kind = kind
        self._signed = False
        return out + _frame(
            b"content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}
        )

    def _close(self) -> bytes:
        if self._kind == _NONE:
            return b""
        self._kind = _NONE
        return _BLOCK_STOP % self._index

    def _tool_delta(self, ev: ToolCallDelta) -> bytes:
        if ev.choice:
            return b""
        out = b""
        if self._kind != _TOOL or self._tool != ev.index:
            block = {"type": "tool_use", "id": ev.id or new_id("toolu_"), "name": ev.name or "", "input": {}}
            out = self._open(_TOOL, block)
            self._tool = ev.index
        if ev.arguments:
            out += _JSON_DELTA % (self._index, encode(ev.arguments))
        return out

    def _reasoning(self, ev: ReasoningDelta) -> bytes:
        if ev.choice:
            return b""
        out = b""
        if ev.redacted is not None:
            out += self._open(_THINKING, {"type": "redacted_thinking", "data": ev.redacted}) + self._close()
        if ev.text:
            if self._kind != _THINKING or self._signed:
                out += self._open(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
            out += _THINKING_DELTA % (self._index, encode(ev.text))
        if ev.signature:
            if self._kind != _THINKING or self._signed:
                out += self._open(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
            out += _SIGNATURE_DELTA % (self._index, encode(client_signature(ev.signature)))
            self._signed = True  # a signature ends its block; more thinking is a new block
        return out

    def _message_delta(self) -> bytes:
        finish = self._finish
        reason = STOP_REASONS[finish.reason] if finish is not None else "end_turn"
        usage = usage_json(self._usage, final=True) if self._usage is not None else {"output_tokens": 0}
        self._delta_sent = True
        return _frame(
            b"message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": finish.stop_sequence if finish else None},
                "usage": usage,
            },
        )
