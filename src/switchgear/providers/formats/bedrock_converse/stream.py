"""ConverseStream (AWS event-stream frames) -> canonical stream events."""

from __future__ import annotations

import uuid

import msgspec
from botocore.eventstream import EventStreamBuffer, EventStreamMessage
from botocore.eventstream import ParserError as _EventStreamParserError

from switchgear.core.errors import GatewayError, UpstreamProtocolError, UpstreamServerError
from switchgear.core.signatures import BEDROCK_CONVERSE, tag
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
from switchgear.providers.formats.base import Target
from switchgear.providers.formats.bedrock_converse.errors import typed_error
from switchgear.providers.formats.bedrock_converse.response import FINISH, stop_sequence, usage
from switchgear.providers.formats.bedrock_converse.wire import Event, decode_event


class StreamParser:
    """ConverseStream event-stream bytes in, canonical events out."""

    __slots__ = ("_buf", "_model", "_started", "_stopped", "_done", "_failed", "_tools")

    def __init__(self, target: Target) -> None:
        self._buf = EventStreamBuffer()
        self._model = target.model
        self._started = False
        self._stopped = False  # messageStop seen: the message is complete
        self._done = False  # metadata seen: nothing more is expected
        self._failed = False
        self._tools: dict[int, int] = {}  # contentBlockIndex -> tool call index

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._failed:
            return out
        self._buf.add_data(data)
        try:
            for message in self._buf:
                self._message(message, out)
                if self._failed:
                    break
        except _EventStreamParserError as e:
            self._fail(UpstreamProtocolError(f"corrupt Bedrock event stream: {e}"), out)
        return out

    def close(self) -> list[StreamEvent]:
        if self._failed or self._stopped:
            return []
        self._failed = True
        return [StreamError(UpstreamProtocolError("Bedrock ConverseStream ended before messageStop"))]

    def _fail(self, err: GatewayError, out: list[StreamEvent]) -> None:
        self._failed = True
        out.append(StreamError(err))

    def _start(self, out: list[StreamEvent]) -> None:
        if not self._started:
            self._started = True
            out.append(StreamStart(id=f"bedrock-{uuid.uuid4().hex}", model=self._model))

    def _message(self, message: EventStreamMessage, out: list[StreamEvent]) -> None:
        headers = message.headers
        kind = headers.get(":message-type", "event")
        if kind == "error":  # generic event-stream error frame: code and message in headers
            code, text = headers.get(":error-code", "error"), headers.get(":error-message", "")
            return self._fail(UpstreamServerError(f"Bedrock stream error {code}: {text}"), out)
        try:
            ev = decode_event(message.payload) if message.payload else Event()
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return self._fail(UpstreamProtocolError(f"unreadable Bedrock stream event: {e}"), out)
        if kind == "exception":
            etype = str(headers.get(":exception-type", ""))
            return self._fail(typed_error(etype, ev.message or etype, 0, {}), out)
        etype = headers.get(":event-type")
        if etype == "messageStart":
            self._start(out)
        elif etype == "contentBlockDelta":
            self._start(out)
            self._delta(ev, out)
        elif etype == "contentBlockStart":
            self._start(out)
            tu = ev.start.tool_use if ev.start else None
            if tu is not None:
                index = len(self._tools)
                self._tools[ev.content_block_index] = index
                out.append(ToolCallDelta(index=index, id=tu.tool_use_id, name=tu.name))
        elif etype == "messageStop":
            self._start(out)
            self._stopped = True
            reason = FINISH.get(ev.stop_reason or "", "stop")
            out.append(Finish(reason=reason, stop_sequence=stop_sequence(ev.additional_model_response_fields)))
        elif etype == "metadata":
            self._done = True
            if ev.usage is not None:
                out.append(UsageEvent(usage(ev.usage)))
        # contentBlockStop and event types added later carry nothing we need

    def _delta(self, ev: Event, out: list[StreamEvent]) -> None:
        d = ev.delta
        if d is None:
            return
        if d.text is not None:
            if d.text:
                out.append(TextDelta(text=d.text))
        elif d.tool_use is not None:
            index = self._tools.get(ev.content_block_index)
            if index is None:
                return self._fail(UpstreamProtocolError("Bedrock tool input delta without a toolUse start"), out)
            out.append(ToolCallDelta(index=index, arguments=d.tool_use.input))
        elif d.reasoning_content is not None:
            rc = d.reasoning_content
            if rc.text:
                out.append(ReasoningDelta(text=rc.text))
            if rc.signature:
                out.append(ReasoningDelta(signature=tag(BEDROCK_CONVERSE, rc.signature)))
            if rc.redacted_content:
                out.append(ReasoningDelta(redacted=rc.redacted_content))
