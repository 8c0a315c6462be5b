"""Anthropic Messages wire format: Switchgear -> ``POST {base_url}/v1/messages``.

Faithful to the published Messages API (messages, streaming, extended and adaptive
thinking, tool use, structured outputs, errors) and to the ``anthropic`` SDK's types.

Translation decisions, all deliberate:

- ``system``/``developer`` messages are hoisted, in order, into the top-level ``system``
  array (text blocks, ``cache_control`` kept). With ``options.mid_conversation_system``
  a system message that directly follows a user turn stays in place as a
  ``{"role": "system"}`` message instead (Claude Opus 4.8 and later accept that there).
- Consecutive ``tool`` messages become one user message of ``tool_result`` blocks; a
  user message right after them is merged into it, after the results (Anthropic wants
  results first and merges consecutive user turns anyway).
- ``max_tokens`` is required by Anthropic: when the client gave none we send
  ``options.default_max_tokens`` (4096).
- Reasoning: by default the budget form ``thinking {type: enabled, budget_tokens}``;
  effort maps to a budget (minimal 1024, low 2048, medium 8192, high 24576), a budget
  below Anthropic's minimum of 1024 is raised to it, and because the budget must be
  below ``max_tokens`` we raise ``max_tokens`` to ``budget + max_tokens`` when needed
  (the answer keeps the room the client asked for). With ``options.thinking: adaptive``
  (models that reject the budget form, Opus 4.7 and later) we send
  ``thinking {type: adaptive}`` and ``output_config.effort`` instead.
- Signatures are tagged ``anthropic_messages:`` on the way in and untagged on the way
  out (core.signatures). Thinking parts without an Anthropic signature (unsigned, or
  signed by another vendor) are left out of assistant turns: Anthropic rejects
  unsigned or foreign-signed thinking blocks, and the text means nothing to Claude.
  Images given as ``data:`` URLs are sent as base64 sources.
- ``temperature``/``top_p``/``top_k`` were removed in API version 2026-10-21: when
  the target's ``anthropic-version`` header is that or newer they count as unsupported
  (the vendor's reject/drop policy applies).
- ``response_format`` json_schema -> ``output_config.format`` (structured outputs);
  json_object has no Anthropic equivalent: rejected, or dropped under a drop policy.

``Target.options`` read here: ``default_max_tokens`` (int), ``thinking``
("budget" | "adaptive"), ``mid_conversation_system`` (bool).
"""

from __future__ import annotations

from typing import Any, Mapping

import msgspec

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
    Reasoning,
    ReasoningDelta,
    RedactedThinkingPart,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UsageEvent,
)
from switchgear.providers.formats.context_window import is_context_window_message
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params
from switchgear.transport.sse import SSEDecoder

name = "anthropic_messages"
PATH = "/v1/messages"

_SAMPLING = frozenset({"temperature", "top_p", "top_k"})
SUPPORTED: frozenset[str] = frozenset(
    {"max_tokens", "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning", "user"}
) | _SAMPLING
_SUPPORTED_WITHOUT_SAMPLING = SUPPORTED - _SAMPLING
_SAMPLING_REMOVED_IN = "2026-10-21"  # anthropic-version that dropped temperature/top_p/top_k

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
_ADAPTIVE_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop_sequence",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "pause",
    # The answer hit the model's context window: to the client it is a truncation.
    "model_context_window_exceeded": "length",
}

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def supported_for(target: Target) -> frozenset[str]:
    """Canonical params this target honours: sampling params depend on the API version."""
    for key, value in target.headers:
        if key.lower() == "anthropic-version":
            return _SUPPORTED_WITHOUT_SAMPLING if value >= _SAMPLING_REMOVED_IN else SUPPORTED
    return SUPPORTED


# ---- request ---------------------------------------------------------------------------


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, supported_for(target), target)
    options = target.options
    system, messages = _messages(req.messages, bool(options.get("mid_conversation_system", False)))

    body: dict[str, Any] = {"model": target.model}
    max_tokens = req.max_tokens
    if max_tokens is None:
        max_tokens = int(options.get("default_max_tokens", DEFAULT_MAX_TOKENS))
    body["max_tokens"] = max_tokens
    if system:
        body["system"] = system
    body["messages"] = messages
    if req.stream:
        body["stream"] = True
    for field in ("temperature", "top_p", "top_k"):
        value = getattr(req, field)
        if value is not None and field not in dropped:
            body[field] = value
    if req.stop and "stop" not in dropped:
        body["stop_sequences"] = list(req.stop)
    if req.user is not None and "user" not in dropped:
        body["metadata"] = {"user_id": req.user}
    if req.tools and "tools" not in dropped:
        body["tools"] = [_tool(t) for t in req.tools]
    choice = _tool_choice(req, dropped)
    if choice is not None:
        body["tool_choice"] = choice
    output_config: dict[str, Any] = {}
    if req.reasoning is not None and "reasoning" not in dropped:
        _apply_reasoning(req.reasoning, body, output_config, options.get("thinking", "budget"))
    if req.response_format is not None and "response_format" not in dropped:
        _apply_response_format(req, target, output_config)
    if output_config:
        body["output_config"] = output_config
    for key, value in extra.items():
        # Pass-through extras never override what we built; objects we also set
        # (output_config, metadata) are merged with our keys winning.
        mine = body.get(key)
        if mine is None:
            body[key] = value
        elif isinstance(mine, dict) and isinstance(value, dict):
            body[key] = {**value, **mine}
    headers = [*target.headers, ("content-type", "application/json")]
    return UpstreamRequest("POST", PATH, headers, _encode(body), stream=req.stream)


def build_passthrough(raw: dict[str, Any], target: Target, stream: bool) -> UpstreamRequest:
    """Same dialect in and out: every field the client sent survives; only the model changes."""
    body = {**raw, "model": target.model}
    if bool(body.get("stream")) != stream:
        body["stream"] = stream
    headers = [*target.headers, ("content-type", "application/json")]
    return UpstreamRequest("POST", PATH, headers, _encode(body), stream=stream)


def _messages(msgs: list[Message], mid_system: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    results_turn: list[dict[str, Any]] | None = None  # content of the open tool-results user turn
    for i, m in enumerate(msgs):
        role = m.role
        where = f"messages[{i}]"
        if role == "system" or role == "developer":
            blocks = [_system_block(p, where) for p in m.parts]
            if mid_system and out and out[-1]["role"] == "user":  # Anthropic's placement rule
                out.append({"role": "system", "content": blocks})
                results_turn = None
            else:
                system.extend(blocks)
            continue
        if role == "tool":
            blocks = [_tool_result(p, where) for p in m.parts]
            if results_turn is None:
                results_turn = blocks
                out.append({"role": "user", "content": results_turn})
            else:
                results_turn.extend(blocks)
            continue
        if role == "user":
            blocks = [_user_block(p, where) for p in m.parts]
            if results_turn is not None:
                results_turn.extend(blocks)
                results_turn = None
                continue
            out.append({"role": "user", "content": _compact(blocks)})
            continue
        results_turn = None
        blocks = [b for p in m.parts if (b := _assistant_block(p, where)) is not None]
        if blocks:
            out.append({"role": "assistant", "content": _compact(blocks)})
    return system, out


def _compact(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A lone plain text block is sent as a string, as clients usually write it."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        text: str = blocks[0]["text"]
        return text
    return blocks


def _text_block(p: TextPart) -> dict[str, Any]:
    if p.cache_control is None:
        return {"type": "text", "text": p.text}
    return {"type": "text", "text": p.text, "cache_control": p.cache_control}


def _system_block(p: Part, where: str) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return _text_block(p)
    raise UnsupportedParameter(f"{where}: Anthropic system prompts take only text, not {p.__struct_config__.tag}", param=where)


def _user_block(p: Part, where: str) -> dict[str, Any]:
    if isinstance(p, TextPart):
        return _text_block(p)
    if isinstance(p, ImagePart):
        return _image(p, where)
    if isinstance(p, ToolResultPart):
        return _tool_result(p, where)
    raise InvalidRequest(f"{where}: a user message cannot contain {p.__struct_config__.tag} content", param=where)


def _assistant_block(p: Part, where: str) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        return _text_block(p)
    if isinstance(p, ThinkingPart):
        signature = untag(name, p.signature)
        if signature is None:
            return None  # unsigned or another vendor's reasoning: Anthropic rejects it
        return {"type": "thinking", "thinking": p.text, "signature": signature}
    if isinstance(p, RedactedThinkingPart):
        return {"type": "redacted_thinking", "data": p.data}
    if isinstance(p, ToolCallPart):
        return {"type": "tool_use", "id": p.id, "name": p.name, "input": _tool_input(p, where)}
    if isinstance(p, ImagePart):
        return _image(p, where)
    raise InvalidRequest(f"{where}: an assistant message cannot contain {p.__struct_config__.tag} content", param=where)


def _tool_input(p: ToolCallPart, where: str) -> dict[str, Any]:
    text = p.arguments
    if not text or text.isspace():
        return {}
    try:
        value = _decode(text)
    except msgspec.DecodeError:
        raise InvalidRequest(
            f"{where}: arguments of tool call '{p.name}' ({p.id}) are not valid JSON", param=where
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: arguments of tool call '{p.name}' ({p.id}) must be a JSON object", param=where)
    return value


def _tool_result(p: Part, where: str) -> dict[str, Any]:
    if not isinstance(p, ToolResultPart):
        raise InvalidRequest(f"{where}: a tool message must contain only tool results", param=where)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": p.tool_call_id}
    if p.content:
        parts = [_text_block(c) if isinstance(c, TextPart) else _image(c, where) for c in p.content]
        block["content"] = _compact(parts)
    if p.is_error:
        block["is_error"] = True
    return block


def _image(p: ImagePart, where: str) -> dict[str, Any]:
    if p.data is not None:
        if not p.media_type:
            raise InvalidRequest(f"{where}: inline image data needs a media_type", param=where)
        return {"type": "image", "source": {"type": "base64", "media_type": p.media_type, "data": p.data}}
    url = p.url
    if not url:
        raise InvalidRequest(f"{where}: image has neither url nor data", param=where)
    if url.startswith("data:"):
        header, comma, data = url.partition(",")
        if not comma or not header.endswith(";base64"):
            raise InvalidRequest(f"{where}: image data URLs must be base64 encoded", param=where)
        return {"type": "image", "source": {"type": "base64", "media_type": header[5:-7], "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool(t: Tool) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": t.name}
    if t.description is not None:
        tool["description"] = t.description
    tool["input_schema"] = t.parameters or {"type": "object", "properties": {}}
    if t.strict is not None:
        tool["strict"] = t.strict
    return tool


def _tool_choice(req: ChatRequest, dropped: set[str]) -> dict[str, Any] | None:
    tc = req.tool_choice if "tool_choice" not in dropped else None
    serial = req.parallel_tool_calls is False and "parallel_tool_calls" not in dropped
    if tc is None:
        if not (serial and req.tools):
            return None
        choice: dict[str, Any] = {"type": "auto"}
    elif tc.mode == "required":
        choice = {"type": "any"}
    elif tc.mode == "tool":
        if not tc.name:
            raise InvalidRequest("tool_choice of mode 'tool' needs a tool name", param="tool_choice")
        choice = {"type": "tool", "name": tc.name}
    else:
        choice = {"type": tc.mode}  # "auto" | "none"
    if serial and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    return choice


def _apply_reasoning(r: Reasoning, body: dict[str, Any], output_config: dict[str, Any], mode: str) -> None:
    if mode == "adaptive":
        body["thinking"] = {"type": "adaptive"}
        effort = r.effort or _effort_for_budget(r.budget_tokens)
        if effort is not None:
            output_config["effort"] = _ADAPTIVE_EFFORT[effort]
        return
    if r.budget_tokens == 0:  # canonical: a budget of 0 means thinking off
        body["thinking"] = {"type": "disabled"}
        return
    budget = r.budget_tokens if r.budget_tokens is not None else EFFORT_BUDGET[r.effort or "medium"]
    budget = max(budget, MIN_THINKING_BUDGET)
    if body["max_tokens"] <= budget:
        body["max_tokens"] = budget + max(body["max_tokens"], 1)
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}


def _effort_for_budget(budget: int | None) -> str | None:
    if budget is None:
        return None
    if budget <= EFFORT_BUDGET["low"]:
        return "low"
    return "medium" if budget <= EFFORT_BUDGET["medium"] else "high"


def _apply_response_format(req: ChatRequest, target: Target, output_config: dict[str, Any]) -> None:
    rf = req.response_format
    assert rf is not None
    if rf.type == "json_schema":
        if rf.schema is None:
            raise InvalidRequest("response_format json_schema needs a schema", param="response_format")
        output_config["format"] = {"type": "json_schema", "schema": rf.schema}
    elif rf.type == "json_object" and target.unsupported_params == "reject":
        raise UnsupportedParameter(
            f"response_format 'json_object' is not supported by provider '{target.provider}' "
            f"({target.vendor}, {name} format); use a json_schema response format",
            param="response_format",
        )


# ---- response --------------------------------------------------------------------------


def parse_response(body: bytes, target: Target) -> ChatResponse:
    obj = _decode_object(body)
    if obj.get("type") == "error":
        raise _error_from_object(obj, 200)
    content = obj.get("content")
    if not isinstance(content, list) or not isinstance(obj.get("id"), str):
        raise UpstreamProtocolError("Anthropic response is not a message object")
    stop_reason = obj.get("stop_reason")
    choice = Choice(
        index=0,
        message=Message(role="assistant", parts=_parts(content)),
        finish_reason=STOP_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None,
        stop_sequence=obj.get("stop_sequence"),
    )
    model = obj.get("model")
    return ChatResponse(
        id=obj["id"],
        model=model if isinstance(model, str) else target.model,
        choices=[choice],
        usage=_usage(obj.get("usage")),
    )


def _parts(content: list[Any]) -> list[Part]:
    parts: list[Part] = []
    for block in content:
        if not isinstance(block, dict):
            raise UpstreamProtocolError("Anthropic response has a content block that is not an object")
        kind = block.get("type")
        if kind == "text":
            parts.append(TextPart(text=block.get("text") or ""))
        elif kind == "thinking":
            parts.append(ThinkingPart(text=block.get("thinking") or "", signature=_tag(block.get("signature"))))
        elif kind == "redacted_thinking":
            parts.append(RedactedThinkingPart(data=block.get("data") or ""))
        elif kind == "tool_use":
            parts.append(
                ToolCallPart(id=block.get("id") or "", name=block.get("name") or "", arguments=_args(block.get("input")))
            )
        # Server-tool blocks (web search, code execution, …) have no canonical form; we
        # never ask for server tools, so they only appear if a passthrough client did.
    return parts


def _tag(signature: Any) -> str | None:
    """A signature Anthropic sent, tagged as ours; None when absent or empty."""
    return tag(name, signature) if isinstance(signature, str) and signature else None


def _args(value: Any) -> str:
    return _encode(value if value is not None else {}).decode()


class _UsageOnly(msgspec.Struct):
    usage: dict[str, Any] | None = None


_decode_usage_only = msgspec.json.Decoder(_UsageOnly).decode


def usage_from_response(body: bytes) -> Usage | None:
    """Usage of a pass-through message body, decoding nothing but the usage object.
    Raises UpstreamProtocolError when the body is not JSON."""
    try:
        env = _decode_usage_only(body)
    except msgspec.ValidationError:
        return None  # JSON, but not a message with a usage object
    except msgspec.DecodeError:
        raise UpstreamProtocolError("Anthropic returned a body that is not JSON") from None
    return _usage(env.usage) if env.usage is not None else None


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """The canonical usage of a whole Anthropic message body (pass-through responses)."""
    usage = obj.get("usage")
    return _usage(usage) if isinstance(usage, dict) else None


def _usage(obj: Any) -> Usage:
    """Anthropic usage -> canonical. Canonical input counts cache reads and writes too."""
    if not isinstance(obj, dict):
        return Usage()
    fresh = _int(obj.get("input_tokens"))
    read = _int(obj.get("cache_read_input_tokens"))
    write = _int(obj.get("cache_creation_input_tokens"))
    details = obj.get("output_tokens_details")
    thinking = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    return Usage(
        input_tokens=fresh + read + write,
        output_tokens=_int(obj.get("output_tokens")),
        cached_input_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=thinking,
    )


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _decode_object(body: bytes) -> dict[str, Any]:
    try:
        obj = _decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise UpstreamProtocolError("Anthropic returned a body that is not valid JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamProtocolError("Anthropic returned JSON that is not an object")
    return obj


# ---- stream ----------------------------------------------------------------------------


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
                obj = _decode(ev.data)
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
            usage = msg.get("usage")
            self._start_usage = usage if isinstance(usage, dict) else {}
            model = msg.get("model")
            out.append(
                StreamStart(
                    id=msg.get("id") or "",
                    model=model if isinstance(model, str) else self._target.model,
                    usage=_usage(self._start_usage),
                )
            )
        elif kind == "message_delta":
            delta = obj.get("delta") or {}
            reason = delta.get("stop_reason")
            if isinstance(reason, str):
                out.append(Finish(reason=STOP_REASONS.get(reason, "stop"), stop_sequence=delta.get("stop_sequence")))
            usage = obj.get("usage")
            if isinstance(usage, dict):
                # message_delta counts are cumulative; absent ones keep the message_start value.
                merged = {**self._start_usage, **{k: v for k, v in usage.items() if v is not None}}
                out.append(UsageEvent(_usage(merged)))
        elif kind == "message_stop":
            self._finished = True
        elif kind == "error":
            self._failed = True
            out.append(StreamError(_error_from_object(obj, 200)))
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
            signature = _tag(block.get("signature"))
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
                    index=call, id=block.get("id"), name=block.get("name"), arguments=_args(given) if given else ""
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
                out.append(ReasoningDelta(signature=_tag(delta.get("signature")) or ""))
        # citations_delta: canonical text has no citations.


# Block kinds in StreamParser._blocks; tool_use blocks store their call index (>= 0).
_TEXT, _THINKING, _OTHER = -1, -2, -3


class PassthroughStream:
    """Same-dialect streaming: forward Anthropic's events, learn usage and the outcome.

    ``feed`` returns whole events re-framed as ``event: X\\ndata: Y\\n\\n`` with the data
    untouched (never re-serialised). Only message_start, message_delta and error events
    are parsed. ``finished`` turns true at message_stop; ``error`` holds the error of an
    ``event: error`` (which is still forwarded) or, after ``close()``, of a stream that
    ended without message_stop.
    """

    __slots__ = ("_sse", "_start_usage", "_usage", "finished", "error")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._start_usage: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None
        self.finished = False
        self.error: GatewayError | None = None

    @property
    def usage(self) -> Usage | None:
        if self._usage is None:
            return None
        return _usage(self._usage)

    def feed(self, data: bytes) -> bytes:
        chunks: list[bytes] = []
        for ev in self._sse.feed(data):
            name = ev.event
            if name == "message_start":
                obj = _loads(ev.data)
                usage = (obj.get("message") or {}).get("usage") if obj else None
                if isinstance(usage, dict):
                    self._start_usage = usage
                    self._usage = usage
            elif name == "message_delta":
                obj = _loads(ev.data)
                usage = obj.get("usage") if obj else None
                if isinstance(usage, dict):
                    self._usage = {**self._start_usage, **{k: v for k, v in usage.items() if v is not None}}
            elif name == "message_stop":
                self.finished = True
            elif name == "error":
                obj = _loads(ev.data)
                self.error = (
                    _error_from_object(obj, 200)
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
        obj = _decode(data)
    except msgspec.DecodeError:
        return None
    return obj if isinstance(obj, dict) else None


# ---- errors ----------------------------------------------------------------------------

# Status Anthropic pairs with each error type; used when only the type is known
# (an ``event: error`` inside a stream arrives under HTTP 200).
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    try:
        obj = _decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        obj = None
    retry_after = _retry_after(headers)
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        return _error_from_object(obj, status, retry_after)
    text = body[:300].decode("utf-8", "replace").strip()
    return _error(status, None, text or f"HTTP {status} with an empty body", retry_after)


def _error_from_object(obj: dict[str, Any], status: int, retry_after: float | None = None) -> GatewayError:
    err = obj.get("error")
    if not isinstance(err, dict):
        return UpstreamProtocolError("Anthropic sent an error without an error object")
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    message = err.get("message") if isinstance(err.get("message"), str) else ""
    return _error(status, etype, message or (etype or "unknown error"), retry_after)


def _error(status: int, etype: str | None, message: str, retry_after: float | None) -> GatewayError:
    if status < 400:
        status = _TYPE_STATUS.get(etype or "", 500)
    text = f"Anthropic: {message}"
    if status in (401, 403):
        # Our provider credential failed, not the client's: a gateway fault (502).
        return UpstreamError(f"Anthropic rejected the gateway's credentials: {message}", status=502, code="upstream_auth_failed")
    if status == 402:
        return UpstreamError(f"Anthropic refused the gateway's account: {message}", status=502, code="upstream_billing_failed")
    if status == 429:
        return UpstreamRateLimited(text, retry_after=retry_after)
    if status in (503, 529):
        return UpstreamOverloaded(text, retry_after=retry_after)
    if status in (408, 504):
        return UpstreamTimeout(text)
    if status >= 500:
        return UpstreamServerError(text)
    if status == 400 and etype == "invalid_request_error" and is_context_window_message(message):
        return ContextWindowExceeded(text)
    if status == 413:
        return UpstreamRejected(text, status=413, code="request_too_large")
    return UpstreamRejected(text, status=status)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
