"""AWS Bedrock Runtime Converse / ConverseStream wire format.

Endpoints, relative to ``https://bedrock-runtime.{region}.amazonaws.com``::

    POST /model/{modelId}/converse
    POST /model/{modelId}/converse-stream   (application/vnd.amazon.eventstream)

Requests are SigV4-signed by ``providers.sigv4`` after they are built (service
``bedrock``), unless the target authenticates with a Bedrock API key (a bearer
``authorization`` header in ``target.headers``).

Shapes follow the service model botocore ships (``bedrock-runtime`` 2023-09-30).
Where the canonical model and Converse differ:

- ``system``/``developer`` messages are hoisted into ``system`` text blocks. Roles must
  alternate, so consecutive messages of one role are merged; ``tool`` messages become
  ``toolResult`` blocks in a user message. Anthropic ``cache_control`` on a text part
  becomes a ``cachePoint`` block right after it (``ttl`` "1h" kept).
- Images: base64 only (``image {format, source {bytes}}``, bytes base64 in JSON);
  http(s) URLs cannot be fetched by Converse -> UnsupportedParameter.
- Reasoning (Claude on Bedrock) -> ``additionalModelRequestFields.thinking
  {type: enabled, budget_tokens}``; an effort becomes a budget (``EFFORT_BUDGET``, at
  least 1024); budget 0 -> ``{type: disabled}``. Claude needs the budget below
  ``maxTokens``, so as in ``anthropic_messages`` maxTokens becomes budget + the
  client's max_tokens when that is not above the budget, and budget +
  ``options.default_max_tokens`` (4096) when the client gave none.
  ``top_k`` -> ``additionalModelRequestFields.top_k``. Reasoning blocks go back only
  when signed by Bedrock (Claude rejects unsigned ones, and other vendors'
  signatures); redacted ones go back verbatim. Signatures are tagged
  ``bedrock_converse:`` on the way in and untagged on the way out (core.signatures).
- ``response_format`` json_schema -> ``outputConfig.textFormat`` (Converse structured
  output, schema sent as a JSON string). ``json_object`` has no Converse equivalent:
  rejected or dropped per the target's unsupported-parameter policy.
- ``tool_choice`` none has no Converse equivalent: without tool blocks in the history
  the tools are simply not sent; with them (Converse then requires ``toolConfig``) it
  follows the unsupported-parameter policy (reject, or drop = send tools, auto).
- With stop sequences we ask for ``additionalModelResponseFieldPaths ["/stop_sequence"]``
  (the AWS reference's own example), so Claude's matched sequence comes back.
- Not supported: seed, n, penalties, logprobs, parallel_tool_calls, user.
- Streams are AWS event-stream frames, decoded by botocore's EventStreamBuffer (CRC
  checked). Complete after ``messageStop``; ``metadata`` (usage) follows it. A body
  that ends before ``messageStop`` is an UpstreamProtocolError; ``messageStop``
  without ``metadata`` is accepted with unknown usage. Exception frames become
  StreamError with the matching error.
- Usage: ``inputTokens`` excludes cache reads and writes (AWS prompt-caching
  semantics), so input = inputTokens + cacheReadInputTokens + cacheWriteInputTokens.
- Errors: the type from ``x-amzn-ErrorType`` (or the body's ``__type``), message from
  ``{"message": ...}``. "Input too long" has no structured signal (a plain
  ValidationException) and stays an UpstreamRejected(400).
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping
from urllib.parse import quote

import msgspec
from botocore.eventstream import EventStreamBuffer, EventStreamMessage
from botocore.eventstream import ParserError as _EventStreamParserError

from switchgear.core.errors import (
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    UnsupportedParameter,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.core.signatures import tag, untag
from switchgear.core.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    Part,
    ReasoningDelta,
    RedactedThinkingPart,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UsageEvent,
)
from switchgear.providers.formats.context_window import is_context_window_message
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params

name = "bedrock_converse"

SUPPORTED: frozenset[str] = frozenset(
    {
        "include_usage",  # the metadata event always carries usage
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning",
    }
)

# OpenAI-style effort -> Claude thinking budget (the anthropic_messages table).
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
_MIN_BUDGET = 1024

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}  # malformed_model_output / malformed_tool_use and unknown values -> "stop"

_IMAGE_FORMAT = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}

# Converse request members a client may pass through at top level; other extras go
# into additionalModelRequestFields (the model's own parameters).
_TOP_LEVEL = frozenset(
    {
        "guardrailConfig",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
        "additionalModelRequestFields",
    }
)
_JSON = "application/json"


# ---- wire shapes we read (unknown fields, e.g. the stream's "p" padding, are ignored) -----


class _ToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""
    input: msgspec.Raw = msgspec.Raw(b"{}")


class _ReasoningText(msgspec.Struct):
    text: str = ""
    signature: str | None = None


class _Reasoning(msgspec.Struct, rename="camel"):
    reasoning_text: _ReasoningText | None = None
    redacted_content: str | None = None


class _Block(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: _ToolUse | None = None
    reasoning_content: _Reasoning | None = None


class _Message(msgspec.Struct):
    content: list[_Block] = []


class _Output(msgspec.Struct):
    message: _Message | None = None


class _TokenUsage(msgspec.Struct, rename="camel"):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


class _Response(msgspec.Struct, rename="camel"):
    output: _Output | None = None
    stop_reason: str = "end_turn"
    usage: _TokenUsage | None = None
    additional_model_response_fields: dict[str, Any] | None = None


class _StartToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""


class _Start(msgspec.Struct, rename="camel"):
    tool_use: _StartToolUse | None = None


class _DeltaToolUse(msgspec.Struct):
    input: str = ""


class _DeltaReasoning(msgspec.Struct, rename="camel"):
    text: str | None = None
    signature: str | None = None
    redacted_content: str | None = None


class _Delta(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: _DeltaToolUse | None = None
    reasoning_content: _DeltaReasoning | None = None


class _Event(msgspec.Struct, rename="camel"):
    """Any ConverseStream event payload (each event type uses a subset)."""

    content_block_index: int = 0
    start: _Start | None = None
    delta: _Delta | None = None
    stop_reason: str | None = None
    additional_model_response_fields: dict[str, Any] | None = None
    usage: _TokenUsage | None = None
    message: str | None = None  # exception events


class _ErrorBody(msgspec.Struct):
    message: str | None = None
    Message: str | None = None
    type_: str | None = msgspec.field(default=None, name="__type")


_decode_response = msgspec.json.Decoder(_Response).decode
_decode_event = msgspec.json.Decoder(_Event).decode
_decode_error = msgspec.json.Decoder(_ErrorBody).decode
_encode = msgspec.json.Encoder().encode


# ---- request -----------------------------------------------------------------------------


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, SUPPORTED, target)
    system, messages, has_tool_blocks = _messages(req.messages)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if req.max_tokens is not None and "max_tokens" not in dropped:
        inference["maxTokens"] = req.max_tokens
    if req.temperature is not None and "temperature" not in dropped:
        inference["temperature"] = req.temperature
    if req.top_p is not None and "top_p" not in dropped:
        inference["topP"] = req.top_p
    if req.stop is not None and "stop" not in dropped:
        inference["stopSequences"] = req.stop
        # Which sequence matched: Claude reports it there; Converse ignores a valid
        # pointer the model lacks, so asking is safe for every model.
        body["additionalModelResponseFieldPaths"] = ["/stop_sequence"]
    additional: dict[str, Any] = {}
    if req.top_k is not None and "top_k" not in dropped:
        additional["top_k"] = req.top_k
    if req.reasoning is not None and "reasoning" not in dropped:
        thinking = _thinking(req, target, inference)
        if thinking is not None:
            additional["thinking"] = thinking
    if inference:
        body["inferenceConfig"] = inference
    if additional:
        body["additionalModelRequestFields"] = additional
    tool_config = _tool_config(req, dropped, has_tool_blocks, target)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    rf = req.response_format
    if rf is not None and "response_format" not in dropped and rf.type != "text":
        fmt = _text_format(rf, target)
        if fmt is not None:
            body["outputConfig"] = {"textFormat": fmt}
    if extra:
        _merge(body, extra)
    op = "converse-stream" if req.stream else "converse"
    path = f"/model/{quote(target.model, safe='')}/{op}"
    return UpstreamRequest("POST", path, [("content-type", _JSON), *target.headers], _encode(body), req.stream)


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        dest = body if key in _TOP_LEVEL else body.setdefault("additionalModelRequestFields", {})
        mine = dest.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            mine.update(value)
        else:
            dest[key] = value


def _thinking(req: ChatRequest, target: Target, inference: dict[str, Any]) -> dict[str, Any] | None:
    r = req.reasoning
    assert r is not None
    if r.budget_tokens is None and r.effort is None:
        return None
    budget = r.budget_tokens if r.budget_tokens is not None else EFFORT_BUDGET[r.effort or "medium"]
    if budget == 0:
        return {"type": "disabled"}
    budget = max(budget, _MIN_BUDGET)
    # Claude needs budget_tokens < max_tokens; like anthropic_messages, the answer keeps
    # the room the client asked for (or options.default_max_tokens).
    given = inference.get("maxTokens")
    if given is None:
        inference["maxTokens"] = budget + int(target.options.get("default_max_tokens", 4096))
    elif given <= budget:
        inference["maxTokens"] = budget + given
    return {"type": "enabled", "budget_tokens": budget}


def _refuse(param: str, message: str, target: Target) -> bool:
    """Apply the unsupported-parameter policy to a value Converse cannot express.
    Returns True when the parameter is to be dropped."""
    if target.unsupported_params == "reject":
        raise UnsupportedParameter(message, param=param)
    return True


def _tool_config(req: ChatRequest, dropped: set[str], has_tool_blocks: bool, target: Target) -> dict[str, Any] | None:
    if not req.tools or "tools" in dropped:
        return None
    choice = req.tool_choice if "tool_choice" not in dropped else None
    if choice is not None and choice.mode == "none":
        if not has_tool_blocks:
            return None  # no tools offered: the model cannot call one
        _refuse(
            "tool_choice",
            "tool_choice 'none' cannot be expressed in Bedrock Converse when the conversation has tool calls",
            target,
        )
        choice = None
    config: dict[str, Any] = {"tools": [_tool_spec(t) for t in req.tools]}
    if choice is not None:
        if choice.mode == "auto":
            config["toolChoice"] = {"auto": {}}
        elif choice.mode == "required":
            config["toolChoice"] = {"any": {}}
        elif choice.mode == "tool" and choice.name:
            config["toolChoice"] = {"tool": {"name": choice.name}}
    return config


def _tool_spec(tool: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description:
        spec["description"] = tool.description
    spec["inputSchema"] = {"json": tool.parameters or {"type": "object", "properties": {}}}
    if tool.strict is not None:
        spec["strict"] = tool.strict
    return {"toolSpec": spec}


def _text_format(rf: Any, target: Target) -> dict[str, Any] | None:
    if rf.type == "json_object":
        _refuse("response_format", "response_format 'json_object' is not supported by Bedrock Converse", target)
        return None
    if rf.schema is None:
        raise InvalidRequest("response_format json_schema needs a schema", param="response_format")
    js: dict[str, Any] = {"schema": _encode(rf.schema).decode()}
    if rf.name:
        js["name"] = rf.name
    if rf.description:
        js["description"] = rf.description
    return {"type": "json_schema", "structure": {"jsonSchema": js}}


def _cache_point(cache_control: dict[str, Any] | None) -> dict[str, Any] | None:
    if cache_control is None:
        return None
    point: dict[str, Any] = {"type": "default"}
    if cache_control.get("ttl") == "1h":
        point["ttl"] = "1h"
    return {"cachePoint": point}


def _messages(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    has_tool_blocks = False
    for m in messages:
        if m.role == "system" or m.role == "developer":
            for p in m.parts:
                if type(p) is not TextPart:
                    raise InvalidRequest("system messages may only contain text", param="messages")
                if p.text:
                    system.append({"text": p.text})
                cp = _cache_point(p.cache_control)
                if cp:
                    system.append(cp)
            continue
        role = "assistant" if m.role == "assistant" else "user"
        blocks: list[dict[str, Any]] = []
        for p in m.parts:
            has_tool_blocks |= _block(p, role, blocks)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out, has_tool_blocks


def _block(p: Part, role: str, blocks: list[dict[str, Any]]) -> bool:
    """Append the Converse block(s) for one part; True if it was a tool block."""
    if isinstance(p, TextPart):
        if p.text:  # Converse rejects blank text blocks
            blocks.append({"text": p.text})
        cp = _cache_point(p.cache_control)
        if cp:
            blocks.append(cp)
        return False
    if isinstance(p, ImagePart):
        blocks.append(_image(p))
        return False
    if isinstance(p, ToolCallPart) and role == "assistant":
        blocks.append({"toolUse": {"toolUseId": p.id, "name": p.name, "input": _args(p.arguments)}})
        return True
    if isinstance(p, ToolResultPart) and role == "user":
        content = [{"text": c.text} if isinstance(c, TextPart) else _image(c) for c in p.content]
        result: dict[str, Any] = {"toolUseId": p.tool_call_id, "content": content}
        if p.is_error:
            result["status"] = "error"
        blocks.append({"toolResult": result})
        return True
    if isinstance(p, ThinkingPart) and role == "assistant":
        # Claude rejects unsigned reasoning and other vendors' signatures (Gemini carriers too).
        signature = untag(name, p.signature)
        if p.text and signature:
            blocks.append({"reasoningContent": {"reasoningText": {"text": p.text, "signature": signature}}})
        return False
    if isinstance(p, RedactedThinkingPart) and role == "assistant":
        blocks.append({"reasoningContent": {"redactedContent": p.data}})
        return False
    raise InvalidRequest(f"a {type(p).__name__} cannot appear in a {role} message for Bedrock", param="messages")


def _args(arguments: str) -> Any:
    if not arguments.strip():
        return {}
    try:
        return msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        raise InvalidRequest("tool call arguments are not valid JSON", param="messages") from None


def _image(p: ImagePart) -> dict[str, Any]:
    data, media_type = p.data, p.media_type
    if data is None:
        url = p.url or ""
        if not url.startswith("data:"):
            raise UnsupportedParameter(
                "Bedrock Converse cannot fetch image URLs; send the image inline (base64)", param="messages"
            )
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise InvalidRequest("image data URLs must be base64", param="messages")
    fmt = _IMAGE_FORMAT.get((media_type or "").lower())
    if fmt is None:
        raise UnsupportedParameter(f"image type '{media_type}' is not supported by Bedrock Converse", param="messages")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


# ---- response ----------------------------------------------------------------------------


def _usage(u: _TokenUsage) -> Usage:
    return Usage(
        input_tokens=u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens,
        output_tokens=u.output_tokens,
        cached_input_tokens=u.cache_read_input_tokens,
        cache_write_tokens=u.cache_write_input_tokens,
    )


def _compact(raw: msgspec.Raw) -> str:
    text = msgspec.json.format(bytes(raw), indent=-1).decode()
    return "{}" if text == "null" else text


def _stop_sequence(fields: dict[str, Any] | None) -> str | None:
    value = fields.get("stop_sequence") if fields else None
    return value if isinstance(value, str) else None


def parse_response(body: bytes, target: Target) -> ChatResponse:
    try:
        resp = _decode_response(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise UpstreamProtocolError(f"unreadable Bedrock Converse response: {e}") from None
    parts: list[Part] = []
    msg = resp.output.message if resp.output else None
    for b in msg.content if msg else ():
        if b.text is not None:
            last = parts[-1] if parts else None
            if b.text and isinstance(last, TextPart):
                parts[-1] = TextPart(last.text + b.text)  # one answer, one text block
            elif b.text:
                parts.append(TextPart(b.text))
        elif b.tool_use is not None:
            parts.append(ToolCallPart(b.tool_use.tool_use_id, b.tool_use.name, _compact(b.tool_use.input)))
        elif b.reasoning_content is not None:
            rc = b.reasoning_content
            if rc.reasoning_text is not None:
                sig = rc.reasoning_text.signature
                parts.append(ThinkingPart(rc.reasoning_text.text, tag(name, sig) if sig else None))
            elif rc.redacted_content is not None:
                parts.append(RedactedThinkingPart(rc.redacted_content))
    choice = Choice(
        index=0,
        message=Message(role="assistant", parts=parts),
        finish_reason=_FINISH.get(resp.stop_reason, "stop"),
        stop_sequence=_stop_sequence(resp.additional_model_response_fields),
    )
    return ChatResponse(
        id=f"bedrock-{uuid.uuid4().hex}",  # Converse bodies carry no id
        model=target.model,
        choices=[choice],
        usage=_usage(resp.usage) if resp.usage else None,
    )


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """Usage of an already-decoded Converse body or metadata event, if it has one."""
    u = obj.get("usage")
    if type(u) is not dict:
        return None
    try:
        return _usage(msgspec.convert(u, _TokenUsage))
    except msgspec.ValidationError:
        return None


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
            ev = _decode_event(message.payload) if message.payload else _Event()
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return self._fail(UpstreamProtocolError(f"unreadable Bedrock stream event: {e}"), out)
        if kind == "exception":
            etype = str(headers.get(":exception-type", ""))
            return self._fail(_typed_error(etype, ev.message or etype, 0, {}), out)
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
            reason = _FINISH.get(ev.stop_reason or "", "stop")
            out.append(Finish(reason=reason, stop_sequence=_stop_sequence(ev.additional_model_response_fields)))
        elif etype == "metadata":
            self._done = True
            if ev.usage is not None:
                out.append(UsageEvent(_usage(ev.usage)))
        # contentBlockStop and event types added later carry nothing we need

    def _delta(self, ev: _Event, out: list[StreamEvent]) -> None:
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
                out.append(ReasoningDelta(signature=tag(name, rc.signature)))
            if rc.redacted_content:
                out.append(ReasoningDelta(redacted=rc.redacted_content))


# ---- errors ------------------------------------------------------------------------------


def _auth_failed(etype: str, status: int) -> UpstreamError:
    return UpstreamError(
        f"Bedrock rejected the gateway's AWS credentials ({etype or status})",
        status=502,
        code="upstream_auth_failed",
    )


_AUTH_TYPES = frozenset(
    {
        "accessdeniedexception",
        "unrecognizedclientexception",
        "invalidsignatureexception",
        "incompletesignatureexception",
        "missingauthenticationtokenexception",
        "expiredtokenexception",
        "signaturedoesnotmatch",
    }
)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = _header(headers, "retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _typed_error(etype: str, message: str, status: int, headers: Mapping[str, str]) -> GatewayError:
    """Map a Bedrock error type (``ThrottlingException`` or the stream's
    ``throttlingException``) to our error; fall back on the HTTP status."""
    key = etype.lower()
    if key in _AUTH_TYPES or status in (401, 403):
        return _auth_failed(etype, status)
    if key in ("throttlingexception", "servicequotaexceededexception") or (
        status == 429 and key != "modelnotreadyexception"
    ):
        return UpstreamRateLimited(message, retry_after=_retry_after(headers))
    if key in ("serviceunavailableexception", "modelnotreadyexception") or status == 503:
        return UpstreamOverloaded(message, retry_after=_retry_after(headers))
    if key == "modeltimeoutexception" or status in (408, 504):
        return UpstreamTimeout(message)
    if key in ("internalserverexception", "modelerrorexception", "modelstreamerrorexception") or status >= 500:
        return UpstreamServerError(message)
    if key == "resourcenotfoundexception" or status == 404:
        return UpstreamRejected(message, status=404)
    if key == "validationexception":
        if is_context_window_message(message):
            return ContextWindowExceeded(message)
        return UpstreamRejected(message, status=400)
    if 400 <= status < 500:
        return UpstreamRejected(message, status=status)
    return UpstreamServerError(message)  # unknown type and no status (a stream exception)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for k, v in headers.items():
        if k.lower() == name:
            return v
    return None


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    try:
        eb = _decode_error(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        eb = _ErrorBody()
    etype = _header(headers, "x-amzn-errortype") or ""
    etype = etype.split(":", 1)[0]  # "ValidationException:http://internal.amazon.com/..."
    if not etype and eb.type_:
        etype = eb.type_.rsplit("#", 1)[-1]  # "com.amazon.coral.validate#ValidationException"
    message = eb.message or eb.Message or f"Bedrock returned HTTP {status} {etype}".rstrip()
    return _typed_error(etype, message, status, headers)
