"""Chat Completions SSE chunks -> canonical stream events (the translated path)."""

from __future__ import annotations

import msgspec

from switchgear.core.errors import GatewayError, UpstreamProtocolError
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
from switchgear.providers.formats.base import Target
from switchgear.providers.formats.openai_chat.errors import error_event
from switchgear.providers.formats.openai_chat.response import content_list, finish, reasoning_text, usage
from switchgear.providers.formats.openai_chat.wire import Completion, decode_completion
from switchgear.transport.sse import SSEDecoder


class StreamParser:
    """OpenAI SSE chunks -> canonical stream events, incrementally.

    Usage is emitted once: at the ``choices: []`` chunk (OpenAI's ``include_usage``), or,
    for servers that put usage on chunks that still carry choices (Mistral, vLLM continuous
    stats, Groq's ``x_groq``), the last one seen is emitted at ``[DONE]``.

    A body that ends without ``data: [DONE]`` is an error, except when it already carried
    a finish reason *and* usage: several OpenAI-compatible servers omit the terminator, and
    such a stream is provably complete (usage is the last thing a server sends).
    """

    __slots__ = ("_provider", "_sse", "_started", "_done", "_failed", "_finished", "_usage", "_usage_sent")

    def __init__(self, target: Target) -> None:
        self._provider = target.provider
        self._sse = SSEDecoder()
        self._started = False
        self._done = False  # saw [DONE]
        self._failed = False  # emitted StreamError
        self._finished = False  # saw a finish_reason
        self._usage: Usage | None = None
        self._usage_sent = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for ev in self._sse.feed(data):
            if self._done or self._failed:
                break
            payload = ev.data
            if payload == "[DONE]" or (payload[:1] != "{" and payload.strip() == "[DONE]"):
                self._done = True
                self._flush_usage(out)
                break
            if ev.event == "error":  # an SSE error event (some compatible servers)
                self._fail(out, error_event(payload.encode()))
                break
            try:
                chunk = decode_completion(payload)
            except msgspec.DecodeError as e:
                self._fail(out, UpstreamProtocolError(f"unreadable chat.completion.chunk: {e}"))
                break
            if chunk.error is not None or chunk.object == "error":
                self._fail(out, error_event(payload.encode()))
                break
            self._chunk(chunk, out)
        return out

    def close(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._done or self._failed:
            return out
        if self._finished and self._usage is not None:
            self._done = True
            self._flush_usage(out)
            return out
        self._fail(out, UpstreamProtocolError("stream ended before [DONE]"))
        return out

    def _fail(self, out: list[StreamEvent], err: GatewayError) -> None:
        err.provider = self._provider
        self._failed = True
        out.append(StreamError(err))

    def _flush_usage(self, out: list[StreamEvent]) -> None:
        if self._usage is not None and not self._usage_sent:
            self._usage_sent = True
            out.append(UsageEvent(self._usage))

    def _chunk(self, chunk: Completion, out: list[StreamEvent]) -> None:
        if not self._started:
            if not chunk.choices and chunk.usage is None:
                return  # Azure opens with a choices-less prompt_filter_results chunk (no id/model)
            self._started = True
            out.append(StreamStart(id=chunk.id or "", model=chunk.model or "", created=int(chunk.created or 0)))
        for ch in chunk.choices or ():
            i = ch.index
            d = ch.delta
            if d is not None:
                reasoning = reasoning_text(d)
                if reasoning:
                    out.append(ReasoningDelta(text=reasoning, choice=i))
                c = d.content
                if type(c) is str:
                    lp = ch.logprobs
                    if c or (type(lp) is dict and lp.get("content")):
                        out.append(TextDelta(c, i, lp))
                elif type(c) is list:
                    text: list[str] = []
                    thinking: list[str] = []
                    content_list(c, text, thinking)
                    if thinking:
                        out.append(ReasoningDelta(text="".join(thinking), choice=i))
                    if text:
                        out.append(TextDelta("".join(text), i, ch.logprobs))
                if d.refusal:
                    out.append(TextDelta(d.refusal, i))
                if d.tool_calls:
                    for pos, tc in enumerate(d.tool_calls):
                        fn = tc.function
                        out.append(
                            ToolCallDelta(
                                index=tc.index if tc.index is not None else pos,
                                id=tc.id,
                                name=fn.name if fn is not None else None,
                                arguments=(fn.arguments or "") if fn is not None else "",
                                choice=i,
                            )
                        )
                elif d.function_call is not None:  # legacy functions API: one call, index 0
                    fc = d.function_call
                    out.append(
                        ToolCallDelta(
                            index=0, id="call_0" if fc.name else None, name=fc.name, arguments=fc.arguments or "", choice=i
                        )
                    )
            if ch.finish_reason:  # some servers send "" for "not yet"
                reason, stop_seq = finish(ch.finish_reason, ch.stop_reason)
                self._finished = True
                out.append(Finish(reason, i, stop_seq))
        u = chunk.usage
        if u is None and chunk.x_groq is not None:
            u = chunk.x_groq.usage
        if u is not None and not self._usage_sent:
            self._usage = usage(u)
            if chunk.choices is not None and not chunk.choices:
                self._flush_usage(out)  # OpenAI's final usage-only chunk
