"""``streamGenerateContent?alt=sse`` chunks -> canonical stream events."""

from __future__ import annotations

import uuid

import msgspec

from switchgear.core.errors import GatewayError, UpstreamProtocolError
from switchgear.core.signatures import GEMINI, tag
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
from switchgear.providers.formats.gemini.errors import status_error
from switchgear.providers.formats.gemini.response import blocked, call_id, finish, logprobs, usage
from switchgear.providers.formats.gemini.wire import Candidate, decode_response
from switchgear.providers.formats.tool_arguments import text_of
from switchgear.transport.sse import SSEDecoder


class StreamParser:
    """``streamGenerateContent?alt=sse`` bytes in, canonical events out."""

    __slots__ = (
        "_sse",
        "_model",
        "_id",
        "_started",
        "_seen",
        "_finished",
        "_calls",
        "_usage",
        "_usage_sent",
        "_failed",
    )

    def __init__(self, target: Target) -> None:
        self._sse = SSEDecoder()
        self._model = target.model
        self._id = ""
        self._started = False
        self._seen: set[int] = set()
        self._finished: set[int] = set()
        self._calls: dict[int, int] = {}  # choice -> function calls so far
        self._usage: Usage | None = None
        self._usage_sent = False
        self._failed = False

    @property
    def _complete(self) -> bool:
        return bool(self._finished) and self._seen <= self._finished

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for ev in self._sse.feed(data):
            if self._failed:
                break
            if ev.data:
                self._chunk(ev.data, out)
        return out

    def close(self) -> list[StreamEvent]:
        if self._failed:
            return []
        out: list[StreamEvent] = []
        if self._usage is not None and not self._usage_sent:
            out.append(UsageEvent(self._usage))
            self._usage_sent = True
        if not self._complete:
            self._failed = True
            out.append(StreamError(UpstreamProtocolError("Gemini stream ended before a finishReason")))
        return out

    def _fail(self, err: GatewayError, out: list[StreamEvent]) -> None:
        self._failed = True
        out.append(StreamError(err))

    def _chunk(self, data: str, out: list[StreamEvent]) -> None:
        try:
            resp = decode_response(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return self._fail(UpstreamProtocolError(f"unreadable Gemini stream chunk: {e}"), out)
        if resp.error is not None:
            return self._fail(status_error(resp.error.code, resp.error, {}), out)
        if not self._started:
            self._started = True
            self._id = resp.response_id or f"gemini-{uuid.uuid4().hex}"
            out.append(StreamStart(id=self._id, model=resp.model_version or self._model))
        if resp.prompt_feedback and resp.prompt_feedback.block_reason and not resp.candidates:
            return self._fail(blocked(resp.prompt_feedback.block_reason), out)
        for cand in resp.candidates:
            self._candidate(cand, out)
        if resp.usage_metadata is not None:
            self._usage = usage(resp.usage_metadata)
        if self._complete and self._usage is not None and not self._usage_sent:
            out.append(UsageEvent(self._usage))
            self._usage_sent = True

    def _candidate(self, cand: Candidate, out: list[StreamEvent]) -> None:
        ch = cand.index
        self._seen.add(ch)
        lp = logprobs(cand.logprobs_result)
        for gp in cand.content.parts if cand.content else ():
            sig = tag(GEMINI, gp.thought_signature) if gp.thought_signature else None
            if gp.thought:
                if gp.text:
                    out.append(ReasoningDelta(text=gp.text, choice=ch))
                if sig:
                    out.append(ReasoningDelta(signature=sig, choice=ch))
                continue
            if sig:
                out.append(ReasoningDelta(signature=sig, choice=ch))
            fc = gp.function_call
            if fc is not None:
                n = self._calls.get(ch, 0)
                self._calls[ch] = n + 1
                cid = fc.id or call_id(self._id, ch, n)
                out.append(ToolCallDelta(index=n, id=cid, name=fc.name, arguments=text_of(fc.args), choice=ch))
            elif gp.text:
                out.append(TextDelta(text=gp.text, choice=ch, logprobs=lp))
                lp = None  # a chunk's logprobs go on its first text delta
        if cand.finish_reason and ch not in self._finished:
            self._finished.add(ch)
            out.append(Finish(reason=finish(cand.finish_reason, self._calls.get(ch, 0) > 0), choice=ch))
