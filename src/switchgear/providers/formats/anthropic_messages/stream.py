"""Anthropic SSE events -> canonical stream events (the translated path)."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import UpstreamProtocolError
from switchgear.core.types import (
    Finish,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageEvent,
)
from switchgear.providers.formats.anthropic_messages.errors import error_from_object
from switchgear.providers.formats.anthropic_messages.response import (
    STOP_REASONS,
    arguments_text,
    decode,
    tag_signature,
    usage,
)
from switchgear.providers.formats.base import Target
from switchgear.transport.sse import SSEDecoder

# Block kinds in StreamParser._blocks; tool_use blocks store their call index (>= 0).
_TEXT, _THINKING, _OTHER = -1, -2, -3


class StreamParser:
    """Anthropic SSE -> canonical stream events. Bytes may be split anywhere."""

    __slots__ = ("_target", "_sse", "_blocks", "_tools", "_start_usage", "_finished", "_failed")

    def __init__(self, target: Target) -> None:
        self._target = target
        self._sse = SSEDecoder()
        self._blocks: dict[int, int] = {}  # content block index -> kind (or tool call index)
        self._tools = 0  # tool_use blocks seen so far: the next call's index
        self._start_usage: dict[str, Any] = {}
        self._finished = False
        self._failed = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for ev in self._sse.feed(data):
            if self._finished or self._failed or ev.event == "ping":
                continue
            try:
                obj = decode(ev.data)
            except (msgspec.DecodeError, UnicodeDecodeError):
                obj = None
            if not isinstance(obj, dict):
                self._failed = True
                out.append(StreamError(UpstreamProtocolError("Anthropic stream event is not a JSON object")))
                continue
            self._event(obj, out)
        return out

    def close(self) -> list[StreamEvent]:
        if self._finished or self._failed:
            return []
        self._failed = True
        return [StreamError(UpstreamProtocolError("Anthropic stream ended before message_stop"))]

    def _event(self, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        kind = obj.get("type")
        if kind == "content_block_delta":
            self._delta(obj, out)
        elif kind == "content_block_start":
            self._block_start(obj, out)
        elif kind == "message_start":
            msg = obj.get("message") or {}
            u = msg.get("usage")
            self._start_usage = u if isinstance(u, dict) else {}
            model = msg.get("model")
            out.append(
                StreamStart(
                    id=msg.get("id") or "",
                    model=model if isinstance(model, str) else self._target.model,
                    usage=usage(self._start_usage),
                )
            )
        elif kind == "message_delta":
            delta = obj.get("delta") or {}
            reason = delta.get("stop_reason")
            if isinstance(reason, str):
                out.append(Finish(reason=STOP_REASONS.get(reason, "stop"), stop_sequence=delta.get("stop_sequence")))
            u = obj.get("usage")
            if isinstance(u, dict):
                # message_delta counts are cumulative; absent ones keep the message_start value.
                merged = {**self._start_usage, **{k: v for k, v in u.items() if v is not None}}
                out.append(UsageEvent(usage(merged)))
        elif kind == "message_stop":
            self._finished = True
        elif kind == "error":
            self._failed = True
            out.append(StreamError(error_from_object(obj, 200)))
        # content_block_stop and event types added later need nothing from us.

    def _block_start(self, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        index = obj.get("index")
        block = obj.get("content_block")
        if type(index) is not int or not isinstance(block, dict):
            return
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _TEXT
            if block.get("text"):
                out.append(TextDelta(text=block["text"]))
        elif kind == "thinking":
            self._blocks[index] = _THINKING
            if block.get("thinking"):
                out.append(ReasoningDelta(text=block["thinking"]))
            signature = tag_signature(block.get("signature"))
            if signature:
                out.append(ReasoningDelta(signature=signature))
        elif kind == "redacted_thinking":
            self._blocks[index] = _OTHER
            out.append(ReasoningDelta(redacted=block.get("data") or ""))
        elif kind == "tool_use":
            call = self._tools
            self._tools += 1
            self._blocks[index] = call
            given = block.get("input")
            out.append(
                ToolCallDelta(
                    index=call, id=block.get("id"), name=block.get("name"), arguments=arguments_text(given) if given else ""
                )
            )
        else:
            self._blocks[index] = _OTHER

    def _delta(self, obj: dict[str, Any], out: list[StreamEvent]) -> None:
        index = obj.get("index")
        kind = self._blocks.get(index, _OTHER) if type(index) is int else _OTHER
        delta = obj.get("delta")
        if not isinstance(delta, dict):
            return
        dtype = delta.get("type")
        if dtype == "text_delta":
            if kind == _TEXT:
                out.append(TextDelta(text=delta.get("text") or ""))
        elif dtype == "input_json_delta":
            if kind >= 0 and delta.get("partial_json"):
                out.append(ToolCallDelta(index=kind, arguments=delta["partial_json"]))
        elif dtype == "thinking_delta":
            if kind == _THINKING:
                out.append(ReasoningDelta(text=delta.get("thinking") or ""))
        elif dtype == "signature_delta":
            if kind == _THINKING:
                out.append(ReasoningDelta(signature=tag_signature(delta.get("signature")) or ""))
        # citations_delta: canonical text has no citations.
