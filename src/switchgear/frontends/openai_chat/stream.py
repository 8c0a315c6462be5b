"""Canonical stream events -> ``data: {chat.completion.chunk}`` frames."""

from __future__ import annotations

import time
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
    UsageEvent,
)
from switchgear.frontends.openai_chat.errors import error_object
from switchgear.frontends.openai_chat.response import FINISH, encode, new_id, usage_obj


class StreamRenderer:
    """Canonical stream events -> ``data: {chat.completion.chunk}\\n\\n`` frames.

    The chunk envelope (id, object, created, model) is encoded once, at ``StreamStart``;
    each event then encodes only its choice object. Every choice's first frame carries
    ``role: "assistant"`` (for choice 0 that is the frame sent at ``StreamStart``)."""

    __slots__ = ("_model", "_include_usage", "_prefix", "_roles", "_usage_sent")

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self._model = encode(model)
        self._include_usage = include_usage
        self._prefix = b""
        self._roles: set[int] = set()
        self._usage_sent = False

    def _start(self, id: str, created: int) -> None:
        self._prefix = b"".join((
            b'data: {"id":', encode(id or new_id()), b',"object":"chat.completion.chunk","created":',
            str(created or int(time.time())).encode(), b',"model":', self._model, b',"choices":[',
        ))

    def _frame(self, choice: int, delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> bytes:
        if not self._prefix:
            self._start("", 0)
        if choice not in self._roles:
            self._roles.add(choice)
            delta = {"role": "assistant", **delta}
        body = encode({"index": choice, "delta": delta, "logprobs": logprobs, "finish_reason": finish})
        return self._prefix + body + b"]}\n\n"

    def render(self, event: StreamEvent) -> bytes:
        kind = type(event)
        if kind is TextDelta:
            return self._frame(event.choice, {"content": event.text}, event.logprobs)
        if kind is ToolCallDelta:
            call: dict[str, Any] = {"index": event.index}
            fn: dict[str, Any] = {}
            if event.id is not None:
                call["id"] = event.id
                call["type"] = "function"
            if event.name is not None:
                fn["name"] = event.name
            fn["arguments"] = event.arguments
            call["function"] = fn
            return self._frame(event.choice, {"tool_calls": [call]})
        if kind is ReasoningDelta:
            if not event.text:
                return b""  # signatures and redacted blocks have no OpenAI field
            return self._frame(event.choice, {"reasoning_content": event.text})
        if kind is Finish:
            return self._frame(event.choice, {}, None, FINISH.get(event.reason, "stop"))
        if kind is StreamStart:
            self._start(event.id, event.created)
            return self._frame(0, {"content": ""})
        if kind is UsageEvent:
            if not self._include_usage or self._usage_sent:
                return b""
            self._usage_sent = True
            if not self._prefix:
                self._start("", 0)
            return self._prefix + b'],"usage":' + encode(usage_obj(event.usage)) + b"}\n\n"
        if kind is StreamError:
            return self.error(event.error)
        return b""

    def done(self) -> bytes:
        return b"data: [DONE]\n\n"

    def error(self, err: GatewayError) -> bytes:
        """The terminal in-stream error frame (the OpenAI SDK raises ``APIError`` on it)."""
        return b"data: " + encode({"error": error_object(err)}) + b"\n\n"
