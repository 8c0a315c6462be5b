"""OpenAI Chat Completions wire format, provider side: Switchgear -> any upstream that
speaks ``POST /v1/chat/completions`` (OpenAI, Azure OpenAI, vLLM, Ollama, Groq, Mistral,
DeepSeek, Together, Fireworks, OpenRouter, llama.cpp …). Vendors differ only in data
carried by ``Target``: base URL, headers, ``renames``, ``unsupported``, ``options``.

Translation choices and their losses (canonical -> OpenAI), stated once here:

- ``ThinkingPart`` / ``RedactedThinkingPart`` in assistant history are dropped. Chat
  Completions has no input field for prior reasoning (OpenAI keeps reasoning items only in
  its Responses API), and DeepSeek documents a 400 when ``reasoning_content`` is sent back
  in input messages. Signatures therefore cannot survive an OpenAI hop.
- ``TextPart.cache_control`` is dropped: OpenAI caches prompts automatically.
- Assistant text and tool calls lose their relative order: OpenAI has one ``content`` and
  one ``tool_calls`` list per message.
- ``ToolResultPart.is_error`` has no OpenAI field and is dropped. Images inside a tool
  result cannot go in a ``tool`` message (text only), so they follow the run of tool
  messages in one ``user`` message, in order.
- ``Reasoning.budget_tokens`` without an effort becomes an effort bucket (see
  ``_effort_for_budget``); a budget of 0 means "no reasoning" -> ``"none"``.
- ``ResponseFormat`` json_schema without a name gets ``"response"`` (OpenAI requires one).
- ``top_k`` is not an OpenAI parameter, so it is not in ``SUPPORTED`` (the vendor's
  unsupported-parameter policy decides), even for vLLM which would accept it.

Reading responses, vendor reasoning fields are accepted as ``ThinkingPart`` /
``ReasoningDelta``: ``reasoning_content`` (DeepSeek, vLLM) and ``reasoning`` (OpenRouter,
Ollama, newer vLLM). ``refusal`` text becomes a ``TextPart`` / ``TextDelta`` (canonical
has no refusal part). A vLLM ``stop_reason`` string marks a matched stop sequence.
"""

from __future__ import annotations

import array
import base64
import re
import sys
import time
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

import msgspec

from switchgear.core.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    UnsupportedParameter,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.core.types import (
    OPTIONAL_PARAMS,
    ChatRequest,
    ChatResponse,
    Choice,
    EmbeddingsRequest,
    EmbeddingsResponse,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    Part,
    ReasoningDelta,
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
from switchgear.providers.formats.base import Target, UpstreamRequest, check_params
from switchgear.transport.sse import SSEDecoder

name = "openai_chat"

# Every canonical parameter except top_k has an OpenAI body field.
SUPPORTED: frozenset[str] = frozenset(OPTIONAL_PARAMS) - {"top_k"}

_JSON_CT = ("content-type", "application/json")
_encode = msgspec.json.encode


# ---- request building ------------------------------------------------------------------


def build_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    dropped, extra = check_params(req, SUPPORTED, target)
    body: dict[str, Any] = {"model": target.model, "messages": _messages(req.messages)}
    if req.stream:
        body["stream"] = True
        # Always ask for usage: metering needs it even when the client did not.
        body["stream_options"] = {"include_usage": True}

    def put(field: str, key: str, value: Any) -> None:
        if value is not None and field not in dropped:
            body[key] = value

    put("max_tokens", "max_tokens", req.max_tokens)
    put("temperature", "temperature", req.temperature)
    put("top_p", "top_p", req.top_p)
    put("stop", "stop", req.stop)
    put("seed", "seed", req.seed)
    put("n", "n", req.n)
    put("presence_penalty", "presence_penalty", req.presence_penalty)
    put("frequency_penalty", "frequency_penalty", req.frequency_penalty)
    put("logprobs", "logprobs", req.logprobs)
    put("top_logprobs", "top_logprobs", req.top_logprobs)
    if req.tools is not None and "tools" not in dropped:
        body["tools"] = [_tool(t) for t in req.tools]
    if req.tool_choice is not None and "tool_choice" not in dropped:
        tc = req.tool_choice
        body["tool_choice"] = (
            {"type": "function", "function": {"name": tc.name}} if tc.mode == "tool" else tc.mode
        )
    put("parallel_tool_calls", "parallel_tool_calls", req.parallel_tool_calls)
    if req.response_format is not None and "response_format" not in dropped:
        body["response_format"] = _response_format(req.response_format)
    if req.reasoning is not None and "reasoning" not in dropped:
        effort = req.reasoning.effort
        if effort is None and req.reasoning.budget_tokens is not None:
            effort = _effort_for_budget(req.reasoning.budget_tokens)
        if effort is not None:
            body["reasoning_effort"] = effort
    put("user", "user", req.user)
    for key, value in extra.items():
        body.setdefault(key, value)  # a canonical field always wins over a same-named extra
    _apply_renames(body, target)
    return UpstreamRequest("POST", _path(target, "chat/completions"), _headers(target), _encode(body), req.stream)


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
        _apply_renames(body, target)
    return UpstreamRequest("POST", _path(target, "chat/completions"), _headers(target), _encode(body), stream)


def _path(target: Target, op: str) -> str:
    version = target.options.get("api_version") if target.options else None
    if version:
        # Azure OpenAI: base_url is the resource endpoint and the deployment is in the path.
        return f"/openai/deployments/{target.model}/{op}?api-version={version}"
    return "/" + op


def _headers(target: Target) -> list[tuple[str, str]]:
    return [*target.headers, _JSON_CT]


def _apply_renames(body: dict[str, Any], target: Target) -> None:
    for old, new in target.renames:
        if old in body:
            value = body.pop(old)
            body.setdefault(new, value)  # a client that already used the new name wins


# Upper budget bound of each effort: the inverse of the effort -> budget table the
# budget-speaking formats use (minimal 1024, low 2048, medium 8192, high 24576).
_EFFORT_CEILINGS = ((1024, "minimal"), (2048, "low"), (8192, "medium"))


def _effort_for_budget(budget: int) -> str:
    """Token budget -> OpenAI effort bucket. 0 asks for no reasoning at all."""
    if budget <= 0:
        return "none"
    for ceiling, effort in _EFFORT_CEILINGS:
        if budget <= ceiling:
            return effort
    return "high"


def _tool(t: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name}
    if t.description is not None:
        fn["description"] = t.description
    if t.parameters:
        fn["parameters"] = t.parameters
    if t.strict is not None:
        fn["strict"] = t.strict
    return {"type": "function", "function": fn}


def _response_format(rf: Any) -> dict[str, Any]:
    if rf.type != "json_schema":
        return {"type": rf.type}
    js: dict[str, Any] = {"name": rf.name or "response"}
    if rf.description is not None:
        js["description"] = rf.description
    if rf.schema is not None:
        js["schema"] = rf.schema
    if rf.strict is not None:
        js["strict"] = rf.strict
    return {"type": "json_schema", "json_schema": js}


# Magic prefixes of base64-encoded images, for inline data that arrived without a media type.
_B64_MAGIC = (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"), ("UklGR", "image/webp"))


def _image_url(p: ImagePart) -> dict[str, Any]:
    if p.url is not None:
        url = p.url
    else:
        media = p.media_type
        if media is None:
            data = p.data or ""
            media = next((m for magic, m in _B64_MAGIC if data.startswith(magic)), "image/png")
        url = f"data:{media};base64,{p.data or ''}"
    img: dict[str, Any] = {"url": url}
    if p.detail is not None:
        img["detail"] = p.detail
    return {"type": "image_url", "image_url": img}


def _content(parts: list[Any]) -> str | list[dict[str, Any]]:
    """A single text part becomes a string (what most servers expect); else an array."""
    if len(parts) == 1 and type(parts[0]) is TextPart:
        return parts[0].text
    out: list[dict[str, Any]] = []
    for p in parts:
        kind = type(p)
        if kind is TextPart:
            out.append({"type": "text", "text": p.text})
        elif kind is ImagePart:
            out.append(_image_url(p))
    return out if out else ""


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Content that must follow a run of tool messages (tool messages carry text only).
    pending: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            for p in m.parts:
                kind = type(p)
                if kind is ToolResultPart:
                    out.append(_tool_message(p, pending))
                elif kind is TextPart:
                    pending.append({"type": "text", "text": p.text})
                elif kind is ImagePart:
                    pending.append(_image_url(p))
            continue
        if pending:
            out.append({"role": "user", "content": pending})
            pending = []
        out.append(_assistant_message(m) if m.role == "assistant" else _plain_message(m))
    if pending:
        out.append({"role": "user", "content": pending})
    return out


def _tool_message(p: ToolResultPart, pending: list[dict[str, Any]]) -> dict[str, Any]:
    texts: list[str] = []
    for c in p.content:
        if type(c) is TextPart:
            texts.append(c.text)
        else:
            pending.append(_image_url(c))
    content: Any
    if len(texts) == 1:
        content = texts[0]
    elif texts:
        content = [{"type": "text", "text": t} for t in texts]
    else:
        content = ""
    return {"role": "tool", "tool_call_id": p.tool_call_id, "content": content}


def _plain_message(m: Message) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": m.role, "content": _content(m.parts)}
    if m.name is not None:
        msg["name"] = m.name
    return msg


def _assistant_message(m: Message) -> dict[str, Any]:
    texts: list[TextPart] = []
    calls: list[dict[str, Any]] = []
    for p in m.parts:
        kind = type(p)
        if kind is TextPart:
            texts.append(p)
        elif kind is ToolCallPart:
            calls.append({"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}})
        # ThinkingPart / RedactedThinkingPart: no input field in Chat Completions (module doc).
    content: Any
    if len(texts) == 1:
        content = texts[0].text
    elif texts:
        content = [{"type": "text", "text": t.text} for t in texts]
    else:
        content = None if calls else ""
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        msg["tool_calls"] = calls
    if m.name is not None:
        msg["name"] = m.name
    return msg


# ---- response wire shapes --------------------------------------------------------------
# Typed, permissive decoders: unknown fields are ignored, vendor variations are optional.


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: _Function | None = None


class _Message(msgspec.Struct):
    role: str | None = None
    content: Any = None  # str | None; Mistral reasoning models send a list of chunks
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None
    function_call: _Function | None = None  # legacy functions API
    reasoning_content: str | None = None  # DeepSeek, vLLM
    reasoning: Any = None  # OpenRouter, Ollama, newer vLLM: a string


class _Choice(msgspec.Struct):
    index: int = 0
    message: _Message | None = None
    delta: _Message | None = None
    finish_reason: str | None = None
    stop_reason: Any = None  # vLLM: the stop string that matched (or a stop token id)
    logprobs: Any = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None
    prompt_cache_hit_tokens: int | None = None  # DeepSeek's cache report


class _XGroq(msgspec.Struct):
    usage: _Usage | None = None


class _Completion(msgspec.Struct):
    """A ``chat.completion`` or a ``chat.completion.chunk``."""

    id: str | None = None
    object: str | None = None  # "error" on older vLLM's bare error objects
    created: int | float | None = None
    model: str | None = None
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    system_fingerprint: str | None = None
    x_groq: _XGroq | None = None  # Groq reports streaming usage here
    error: Any = None


_decode_completion = msgspec.json.Decoder(_Completion).decode

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def _finish(reason: str, stop_reason: Any) -> tuple[FinishReason, str | None]:
    if reason == "stop" and type(stop_reason) is str:
        return "stop_sequence", stop_reason
    # Unknown vendor reasons ("eos", "abort", "error" …) end the turn: "stop".
    return _FINISH.get(reason, "stop"), None


def _usage(u: _Usage) -> Usage:
    pd = u.prompt_tokens_details
    cached = pd.cached_tokens if pd is not None and pd.cached_tokens is not None else u.prompt_cache_hit_tokens
    cd = u.completion_tokens_details
    return Usage(
        input_tokens=u.prompt_tokens or 0,
        output_tokens=u.completion_tokens or 0,
        cached_input_tokens=cached or 0,
        cache_write_tokens=(pd.cache_write_tokens or 0) if pd is not None else 0,
        reasoning_tokens=(cd.reasoning_tokens or 0) if cd is not None else 0,
    )


class _UsageOnly(msgspec.Struct):
    usage: _Usage | None = None
    x_groq: _XGroq | None = None


_decode_usage_only = msgspec.json.Decoder(_UsageOnly).decode


def usage_from_response(body: bytes) -> Usage | None:
    """Usage of a pass-through response body, decoding nothing but the usage object
    (msgspec skips the rest without building it). Raises UpstreamProtocolError when
    the body is not JSON."""
    try:
        env = _decode_usage_only(body)
    except msgspec.ValidationError:  # valid JSON, odd shape: fall back to the lenient path
        try:
            obj = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise UpstreamProtocolError("upstream returned a body that is not JSON") from None
        return usage_from_body(obj) if isinstance(obj, dict) else None
    except msgspec.DecodeError:
        raise UpstreamProtocolError("upstream returned a body that is not JSON") from None
    u = env.usage if env.usage is not None else env.x_groq.usage if env.x_groq is not None else None
    return _usage(u) if u is not None else None


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """Usage of an already-decoded completion or chunk (the pass-through path)."""
    u = obj.get("usage")
    if type(u) is not dict:
        xg = obj.get("x_groq")
        u = xg.get("usage") if type(xg) is dict else None
        if type(u) is not dict:
            return None
    try:
        return _usage(msgspec.convert(u, _Usage))
    except msgspec.ValidationError:
        return None


def _reasoning_text(m: _Message) -> str | None:
    if m.reasoning_content:
        return m.reasoning_content
    r = m.reasoning
    return r if type(r) is str and r else None


def _content_list(items: list[Any], text: list[str], thinking: list[str]) -> None:
    """Mistral's content chunks: text chunks and thinking chunks holding text chunks."""
    for item in items:
        if type(item) is not dict:
            continue
        kind = item.get("type")
        if kind == "text" and type(item.get("text")) is str:
            text.append(item["text"])
        elif kind == "thinking":
            inner = item.get("thinking")
            if type(inner) is str:
                thinking.append(inner)
            elif type(inner) is list:
                thinking.extend(i["text"] for i in inner if type(i) is dict and type(i.get("text")) is str)


def _message_parts(m: _Message) -> list[Part]:
    parts: list[Part] = []
    reasoning = _reasoning_text(m)
    if reasoning:
        parts.append(ThinkingPart(reasoning))
    content = m.content
    if type(content) is str:
        if content:
            parts.append(TextPart(content))
    elif type(content) is list:
        text: list[str] = []
        thinking: list[str] = []
        _content_list(content, text, thinking)
        if thinking:
            parts.append(ThinkingPart("".join(thinking)))
        if text:
            parts.append(TextPart("".join(text)))
    elif content is not None:
        raise UpstreamProtocolError("chat.completion message content is neither a string nor a list")
    if m.refusal:
        parts.append(TextPart(m.refusal))
    for i, tc in enumerate(m.tool_calls or ()):
        fn = tc.function or _Function()
        parts.append(ToolCallPart(tc.id or f"call_{i}", fn.name or "", fn.arguments or ""))
    if m.function_call is not None and not m.tool_calls:
        fc = m.function_call
        parts.append(ToolCallPart("call_0", fc.name or "", fc.arguments or ""))
    return parts


def parse_response(body: bytes, target: Target) -> ChatResponse:
    try:
        c = _decode_completion(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise UpstreamProtocolError(f"unreadable chat.completion: {e}", provider=target.provider) from None
    if c.error is not None or c.object == "error":  # some servers answer 200 with an error object
        err = _error_event(body)
        err.provider = target.provider
        raise err
    if not c.choices:
        raise UpstreamProtocolError("chat.completion has no choices", provider=target.provider)
    choices: list[Choice] = []
    for ch in c.choices:
        m = ch.message
        if m is None:
            raise UpstreamProtocolError(f"chat.completion choice {ch.index} has no message", provider=target.provider)
        reason: FinishReason | None = None
        stop_seq = None
        if ch.finish_reason:
            reason, stop_seq = _finish(ch.finish_reason, ch.stop_reason)
        try:
            parts = _message_parts(m)
        except UpstreamProtocolError as e:
            e.provider = target.provider
            raise
        choices.append(Choice(ch.index, Message("assistant", parts), reason, stop_seq, ch.logprobs))
    return ChatResponse(
        id=c.id or "",
        model=c.model or target.model,
        choices=choices,
        usage=_usage(c.usage) if c.usage is not None else None,
        created=int(c.created or 0),
        system_fingerprint=c.system_fingerprint,
    )


# ---- streaming: translated -------------------------------------------------------------


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
                self._fail(out, _error_event(payload.encode()))
                break
            try:
                chunk = _decode_completion(payload)
            except msgspec.DecodeError as e:
                self._fail(out, UpstreamProtocolError(f"unreadable chat.completion.chunk: {e}"))
                break
            if chunk.error is not None or chunk.object == "error":
                self._fail(out, _error_event(payload.encode()))
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

    def _chunk(self, chunk: _Completion, out: list[StreamEvent]) -> None:
        if not self._started:
            if not chunk.choices and chunk.usage is None:
                return  # Azure opens with a choices-less prompt_filter_results chunk (no id/model)
            self._started = True
            out.append(StreamStart(id=chunk.id or "", model=chunk.model or "", created=int(chunk.created or 0)))
        for ch in chunk.choices or ():
            i = ch.index
            d = ch.delta
            if d is not None:
                reasoning = _reasoning_text(d)
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
                    _content_list(c, text, thinking)
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
                reason, stop_seq = _finish(ch.finish_reason, ch.stop_reason)
                self._finished = True
                out.append(Finish(reason, i, stop_seq))
        u = chunk.usage
        if u is None and chunk.x_groq is not None:
            u = chunk.x_groq.usage
        if u is not None and not self._usage_sent:
            self._usage = _usage(u)
            if chunk.choices is not None and not chunk.choices:
                self._flush_usage(out)  # OpenAI's final usage-only chunk


# ---- streaming: pass-through -----------------------------------------------------------


class PassthroughStream:
    """Same-dialect streaming: forwards each SSE event re-framed as ``data: <data>\\n\\n``
    without re-serialising JSON. It parses JSON only for the chunk that carries usage
    (or an error); drops the usage-only chunk when the client did not ask for usage (we
    injected ``include_usage``) and Azure's choices-less prompt-annotation chunk (not an
    OpenAI chunk); ``finished`` tells whether ``[DONE]`` arrived; ``error`` holds an
    upstream ``{"error": …}`` event (which is still forwarded). Call ``close()`` at the end
    of the upstream body."""

    __slots__ = ("_provider", "_wants_usage", "_buf", "usage", "finished", "error")

    def __init__(self, target: Target | None = None, *, client_wants_usage: bool = True) -> None:
        self._provider = target.provider if target is not None else None
        self._wants_usage = client_wants_usage
        self._buf = b""
        self.usage: Usage | None = None
        self.finished = False
        self.error: GatewayError | None = None

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
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
            self._set_error(_error_event(payload))
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
            self._set_error(_error_from_payload(None, _fields(obj)))
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


def _error_event(payload: bytes) -> GatewayError:
    """An ``event: error`` SSE event: JSON in any of the usual error shapes, or plain text."""
    try:
        obj = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        text = payload[:500].decode("utf-8", "replace").strip()
        return UpstreamServerError(text or "upstream stream error")
    return _error_from_payload(None, _fields(obj))


# What PassthroughStream must look into: an error, a usage object (not ``"usage": null``),
# Azure's prompt annotations. A quoted key cannot match inside a JSON string value, where
# quotes are escaped.
_SPECIAL = re.compile(rb'"(?:error"|usage"\s*:\s*\{|x_groq"|prompt_filter_results")')


def _sse_block(block: bytes) -> tuple[bytes | None, bool]:
    """The general SSE rules for one event block: multi-line data, comments, ``event:``."""
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


# ---- errors ----------------------------------------------------------------------------


class _ErrorFields(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


_CONTEXT_CODES = frozenset({"context_length_exceeded"})
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})


def _fields(obj: Any) -> _ErrorFields:
    """Pull message/type/code/param out of the many error shapes OpenAI-compatible servers
    send: ``{"error": {...}}``, ``{"error": "text"}``, a bare ``{"message", "type",
    "code"}`` (vLLM, FastAPI ``{"detail": …}``), or a one-element list (Gemini's shim)."""
    if type(obj) is list and obj:
        obj = obj[0]
    if type(obj) is str:
        return _ErrorFields(message=obj)
    if type(obj) is not dict:
        return _ErrorFields()
    inner = obj.get("error")
    if type(inner) is dict:
        obj = inner
    elif type(inner) is str:
        obj = {**obj, "message": inner}
    message = obj.get("message")
    if type(message) is not str:
        detail = obj.get("detail")
        message = detail if type(detail) is str else None
    code = obj.get("code")
    etype, param = obj.get("type"), obj.get("param")
    return _ErrorFields(
        message=message,
        type=etype if type(etype) is str else None,
        code=code if type(code) in (str, int) else None,
        param=param if type(param) is str else None,
    )


def _error_from_payload(
    status: int | None, f: _ErrorFields, headers: Mapping[str, str] | None = None
) -> GatewayError:
    """Classify by HTTP status and the structured ``code`` / ``type`` fields only."""
    code = f.code if type(f.code) is str else None
    if status is None:  # a mid-stream error object: no status line to go by
        if type(f.code) is int and 400 <= f.code < 600:
            status = f.code
        elif code == "rate_limit_exceeded" or f.type in ("requests", "tokens"):
            status = 429
        elif f.type == "invalid_request_error":
            status = 400
        else:
            status = 500
    message = f.message or f"provider answered HTTP {status}"
    if code in _CONTEXT_CODES or f.type in _CONTEXT_CODES:
        return ContextWindowExceeded(message, param=f.param)
    if code in _FILTER_CODES or f.type in _FILTER_CODES:
        return ContentFiltered(message, param=f.param)
    retry_after = _retry_after(headers) if headers else None
    if status == 401:
        # Our provider credential is bad: not the client's fault, and not something the
        # client can fix with its own key. 502 (another deployment may work: retryable).
        # The vendor's message is not kept: it echoes a masked fragment of our key.
        err: GatewayError = UpstreamRejected(
            "the provider rejected the gateway's credentials", status=502, code="upstream_auth_failed"
        )
        err.retryable = True
        return err
    if status == 429:
        err = UpstreamRateLimited(message, retry_after=retry_after)
        if code == "insufficient_quota":
            err.code = "upstream_quota_exceeded"
        return err
    if status == 408:
        return UpstreamTimeout(message)
    if status == 404:
        # The model (or deployment) is missing at this provider: another deployment may
        # have it, so this one is worth failing over from.
        err = UpstreamRejected(message, status=404, param=f.param)
        err.retryable = True
        return err
    if 400 <= status < 500:
        return UpstreamRejected(message, status=status, param=f.param)
    if status in (503, 529):
        return UpstreamOverloaded(message, retry_after=retry_after)
    if status == 504:
        return UpstreamTimeout(message)
    if 500 <= status < 600:
        return UpstreamServerError(message, retry_after=retry_after)
    return UpstreamProtocolError(f"unexpected HTTP status {status}: {message}")


def parse_error(
    status: int, headers: Mapping[str, str], body: bytes, target: Target | None = None
) -> GatewayError:
    try:
        obj = msgspec.json.decode(body) if body else None
    except (msgspec.DecodeError, UnicodeDecodeError):
        obj = None
    if obj is None:
        text = " ".join(body[:300].decode("utf-8", "replace").split())
        # An HTML error page from a proxy says nothing useful; plain text may.
        f = _ErrorFields(message=f"provider answered HTTP {status}" + (f": {text}" if text and text[0] != "<" else ""))
    else:
        f = _fields(obj)
    err = _error_from_payload(status, f, headers)
    if target is not None:
        err.provider = target.provider
    return err


def _header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    """A header by lower-case name from a mapping (any case) or a list of pairs."""
    get = getattr(headers, "get", None)
    if get is not None:
        value = get(name)
        if value is not None:
            return value
    pairs = headers.items() if hasattr(headers, "items") else headers
    for k, v in pairs:
        if k.lower() == name:
            return v
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    ms = _header(headers, "retry-after-ms")  # OpenAI sends both; the SDKs prefer this one
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = _header(headers, "retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# ---- embeddings ------------------------------------------------------------------------


def build_embeddings_request(req: EmbeddingsRequest, target: Target) -> UpstreamRequest:
    """Always asks for floats: every OpenAI-compatible server supports them; the frontend
    re-encodes base64 for clients that asked for it."""
    body: dict[str, Any] = {"model": target.model, "input": req.input, "encoding_format": "float"}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    if req.user is not None:
        body["user"] = req.user
    if req.extra:
        if target.extra_params == "reject":
            key = next(iter(req.extra))
            raise UnsupportedParameter(
                f"unknown parameter '{key}' is not accepted for provider '{target.provider}' "
                f"({target.vendor}); configure extra_params: pass or drop to allow it",
                param=key,
            )
        if target.extra_params == "pass":
            for key, value in req.extra.items():
                body.setdefault(key, value)
    return UpstreamRequest("POST", _path(target, "embeddings"), _headers(target), _encode(body))


class _Embedding(msgspec.Struct):
    embedding: list[float] | str
    index: int = 0


class _EmbeddingsUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    total_tokens: int | None = None


class _EmbeddingsBody(msgspec.Struct):
    data: list[_Embedding]
    model: str | None = None
    usage: _EmbeddingsUsage | None = None


_decode_embeddings = msgspec.json.Decoder(_EmbeddingsBody).decode


def _floats_from_base64(text: str) -> list[float]:
    arr = array.array("f")
    arr.frombytes(base64.b64decode(text, validate=True))
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tolist()


def parse_embeddings_response(body: bytes, target: Target) -> EmbeddingsResponse:
    try:
        r = _decode_embeddings(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise UpstreamProtocolError(f"unreadable embeddings response: {e}", provider=target.provider) from None
    try:
        items = sorted(r.data, key=lambda e: e.index)
        data = [e.embedding if type(e.embedding) is list else _floats_from_base64(e.embedding) for e in items]
    except ValueError as e:  # bad base64 / a byte count that is not a multiple of 4
        raise UpstreamProtocolError(f"unreadable base64 embedding: {e}", provider=target.provider) from None
    usage = None
    if r.usage is not None:
        usage = Usage(input_tokens=r.usage.prompt_tokens or 0)
    return EmbeddingsResponse(model=r.model or target.model, data=data, usage=usage)
