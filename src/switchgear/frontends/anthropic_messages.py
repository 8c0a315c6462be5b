"""Anthropic Messages dialect, client side: ``POST /v1/messages`` as the ``anthropic`` SDK speaks it.

``parse_body`` checks the top level cheaply (the raw dict is what pass-through sends
on); ``to_canonical`` does the full conversion; ``render_response``,
``StreamRenderer`` and ``render_error`` speak back in Anthropic's shapes.

Decisions worth knowing:
- ``tool_result`` blocks of a user turn become separate ``tool`` messages placed before
  the rest of that turn (Anthropic requires results first, so order is kept).
- Anthropic streams always report usage, so a streaming request asks the upstream for
  usage (``include_usage``).
- ``thinking {type: enabled, budget_tokens}`` -> ``Reasoning(budget_tokens)``;
  ``thinking {type: adaptive}`` -> ``Reasoning(effort)`` from ``output_config.effort``
  (Anthropic's default, high, when absent; xhigh and max map to high, the highest
  canonical effort). ``output_config.effort`` without adaptive thinking stays in
  ``extra``. ``thinking.display`` is a presentation choice and is not carried.
- Things the canonical model cannot hold are refused with UnsupportedParameter naming
  them (document and search_result blocks, Files API sources, server tools), except
  ``cache_control`` on tools, images and tool blocks, which is a caching hint with no
  canonical home and is not carried (text blocks keep theirs).
- ``max_tokens`` is required, as Anthropic requires it; 0 is accepted (Anthropic uses
  it to pre-warm the prompt cache).
- For n > 1 only choice 0 is rendered: Anthropic messages have one answer.
- Thinking signatures (core.signatures): a signature the client sends that is not
  tagged is Anthropic's own and is tagged ``anthropic_messages:``. Rendering, an
  Anthropic signature is shown raw (the next turn can pass through unchanged); one
  from another vendor (Bedrock, a Gemini carrier) is shown tagged, opaque to the
  client, and recognised when the client sends it back. Pass-through bodies are
  never touched, so ``has_tagged_signature`` tells the pipeline when a body must be
  translated instead (a foreign signature would be rejected by Anthropic).
"""

from __future__ import annotations

import os
from typing import Any

import msgspec

from switchgear.core.errors import GatewayError, InvalidRequest, UnsupportedParameter, UpstreamProtocolError
from switchgear.core.signatures import ANTHROPIC_MESSAGES, origin, tag, untag
from switchgear.core.types import (
    ChatRequest,
    ChatResponse,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    Part,
    Reasoning,
    ReasoningDelta,
    RedactedThinkingPart,
    ResponseFormat,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallDelta,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    Usage,
    UsageEvent,
)

_encode = msgspec.json.encode
_decode = msgspec.json.decode

_ROLES = frozenset({"user", "assistant", "system"})
# Top-level fields with a canonical home; everything else goes to ChatRequest.extra.
_KNOWN = frozenset(
    {
        "model", "messages", "max_tokens", "stream", "system", "temperature", "top_p", "top_k",
        "stop_sequences", "metadata", "tools", "tool_choice", "thinking", "output_config",
    }
)  # fmt: skip
_NUMBER = (int, float)
# Optional top-level fields and the JSON types they must have (null counts as absent).
_OPTIONAL_TYPES: tuple[tuple[str, tuple[type, ...], str], ...] = (
    ("stream", (bool,), "a boolean"),
    ("system", (str, list), "a string or an array of text blocks"),
    ("temperature", _NUMBER, "a number"),
    ("top_p", _NUMBER, "a number"),
    ("top_k", (int,), "an integer"),
    ("stop_sequences", (list,), "an array of strings"),
    ("metadata", (dict,), "an object"),
    ("tools", (list,), "an array"),
    ("tool_choice", (dict,), "an object"),
    ("thinking", (dict,), "an object"),
    ("output_config", (dict,), "an object"),
)
_TOOL_FIELDS = frozenset({"type", "name", "description", "input_schema", "strict", "cache_control", "eager_input_streaming"})
_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}

STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "pause": "pause_turn",
}


# ---- request ---------------------------------------------------------------------------


def parse_body(body: bytes) -> dict[str, Any]:
    """Decode and check the top level. Hot path: isinstance checks only."""
    try:
        obj = _decode(body)
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not valid UTF-8") from None
    except msgspec.DecodeError as e:
        if not _is_utf8(body):
            raise InvalidRequest("request body is not valid UTF-8") from None
        raise InvalidRequest(f"request body is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidRequest("request body must be a JSON object")
    model = obj.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: field required, a non-empty string", param="model")
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: field required, a non-empty array", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InvalidRequest(f"messages.{i}: must be an object", param=f"messages.{i}")
        if m.get("role") not in _ROLES:
            raise InvalidRequest(
                f"messages.{i}.role: must be 'user', 'assistant' or 'system'", param=f"messages.{i}.role"
            )
        if not isinstance(m.get("content"), (str, list)):
            raise InvalidRequest(
                f"messages.{i}.content: must be a string or an array of content blocks", param=f"messages.{i}.content"
            )
    max_tokens = obj.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 0:
        raise InvalidRequest("max_tokens: field required, a non-negative integer", param="max_tokens")
    for field, types, what in _OPTIONAL_TYPES:
        value = obj.get(field)
        if value is not None and (not isinstance(value, types) or (type(value) is bool and bool not in types)):
            raise InvalidRequest(f"{field}: must be {what}", param=field)
    return obj


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def to_canonical(raw: dict[str, Any]) -> ChatRequest:
    messages: list[Message] = []
    system = raw.get("system")
    if isinstance(system, str):
        if system:
            messages.append(Message(role="system", parts=[TextPart(text=system)]))
    elif system:
        messages.append(Message(role="system", parts=[_text(b, f"system.{j}") for j, b in enumerate(system)]))
    for i, m in enumerate(raw["messages"]):
        where = f"messages.{i}"
        role = m["role"]
        content = m["content"]
        if role == "user":
            _user_turn(content, where, messages)
        elif role == "assistant":
            messages.append(Message(role="assistant", parts=_assistant_parts(content, where)))
        elif isinstance(content, str):
            messages.append(Message(role="system", parts=[TextPart(text=content)]))
        else:
            messages.append(Message(role="system", parts=[_text(b, f"{where}.content.{j}") for j, b in enumerate(content)]))

    extra = {k: v for k, v in raw.items() if k not in _KNOWN}
    user = None
    metadata = raw.get("metadata")
    if metadata:
        user = metadata.get("user_id")
        if user is not None and not isinstance(user, str):
            raise InvalidRequest("metadata.user_id: must be a string", param="metadata.user_id")
        rest = {k: v for k, v in metadata.items() if k != "user_id"}
        if rest:
            extra["metadata"] = rest
    stop = raw.get("stop_sequences")
    if stop:
        for j, s in enumerate(stop):
            if not isinstance(s, str):
                raise InvalidRequest(f"stop_sequences.{j}: must be a string", param=f"stop_sequences.{j}")
    tool_choice, parallel = _tool_choice(raw.get("tool_choice"))
    thinking = raw.get("thinking")
    output_config = raw.get("output_config") or {}
    response_format, effort, config_rest = _output_config(output_config)
    reasoning = _reasoning(thinking, effort)
    if effort is not None and (thinking is None or thinking.get("type") != "adaptive"):
        config_rest["effort"] = output_config["effort"]  # effort alone is not a thinking request
    if config_rest:
        extra["output_config"] = config_rest
    stream = raw.get("stream") is True
    tools = raw.get("tools")
    return ChatRequest(
        model=raw["model"],
        messages=messages,
        stream=stream,
        include_usage=stream,
        max_tokens=raw["max_tokens"],
        temperature=raw.get("temperature"),
        top_p=raw.get("top_p"),
        top_k=raw.get("top_k"),
        stop=list(stop) if stop else None,
        tools=_tools(tools) if tools else None,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=response_format,
        reasoning=reasoning,
        user=user,
        extra=extra,
    )


def _block(b: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(b, dict) or not isinstance(b.get("type"), str):
        raise InvalidRequest(f"{where}: must be a content block object with a type", param=where)
    return b["type"], b


def _unsupported(kind: str, where: str) -> UnsupportedParameter:
    return UnsupportedParameter(f"{where}: '{kind}' content blocks are not supported by Switchgear", param=f"{where}.type")


def _text(b: Any, where: str) -> TextPart:
    kind, b = _block(b, where)
    if kind != "text":
        raise InvalidRequest(f"{where}: only text blocks are allowed here, not '{kind}'", param=f"{where}.type")
    text = b.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{where}.text: must be a string", param=f"{where}.text")
    cache = b.get("cache_control")
    return TextPart(text=text, cache_control=cache) if isinstance(cache, dict) else TextPart(text=text)


def _image(b: dict[str, Any], where: str) -> ImagePart:
    source = b.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        data, media = source.get("data"), source.get("media_type")  # type: ignore[union-attr]
        if isinstance(data, str) and isinstance(media, str):
            return ImagePart(data=data, media_type=media)
    elif kind == "url":
        url = source.get("url")  # type: ignore[union-attr]
        if isinstance(url, str):
            return ImagePart(url=url)
    elif kind is not None:
        raise UnsupportedParameter(
            f"{where}.source: '{kind}' image sources are not supported by Switchgear", param=f"{where}.source.type"
        )
    raise InvalidRequest(
        f"{where}.source: must be a base64 source (media_type, data) or a url source", param=f"{where}.source"
    )


def _user_turn(content: str | list[Any], where: str, out: list[Message]) -> None:
    if isinstance(content, str):
        out.append(Message(role="user", parts=[TextPart(text=content)]))
        return
    parts: list[Part] = []
    results = False
    for j, raw_block in enumerate(content):
        at = f"{where}.content.{j}"
        kind, b = _block(raw_block, at)
        if kind == "text":
            parts.append(_text(b, at))
        elif kind == "image":
            parts.append(_image(b, at))
        elif kind == "tool_result":
            out.append(Message(role="tool", parts=[_tool_result(b, at)]))
            results = True
        else:
            raise _unsupported(kind, at)
    if parts or not results:
        out.append(Message(role="user", parts=parts))


def _tool_result(b: dict[str, Any], where: str) -> ToolResultPart:
    tool_use_id = b.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise InvalidRequest(f"{where}.tool_use_id: field required, a string", param=f"{where}.tool_use_id")
    content = b.get("content")
    parts: list[TextPart | ImagePart] = []
    if isinstance(content, str):
        if content:
            parts.append(TextPart(text=content))
    elif isinstance(content, list):
        for k, raw_block in enumerate(content):
            at = f"{where}.content.{k}"
            kind, inner = _block(raw_block, at)
            if kind == "text":
                parts.append(_text(inner, at))
            elif kind == "image":
                parts.append(_image(inner, at))
            else:
                raise _unsupported(kind, at)
    elif content is not None:
        raise InvalidRequest(f"{where}.content: must be a string or an array of blocks", param=f"{where}.content")
    is_error = b.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise InvalidRequest(f"{where}.is_error: must be a boolean", param=f"{where}.is_error")
    return ToolResultPart(tool_call_id=tool_use_id, content=parts, is_error=bool(is_error))


def _assistant_parts(content: str | list[Any], where: str) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    parts: list[Part] = []
    for j, raw_block in enumerate(content):
        at = f"{where}.content.{j}"
        kind, b = _block(raw_block, at)
        if kind == "text":
            parts.append(_text(b, at))
        elif kind == "thinking":
            thinking, signature = b.get("thinking"), b.get("signature")
            if not isinstance(thinking, str) or not isinstance(signature, str):
                raise InvalidRequest(f"{at}: thinking blocks need 'thinking' and 'signature' strings", param=at)
            # A signature not yet tagged is Anthropic's own (see the module notes).
            tagged = tag(ANTHROPIC_MESSAGES, signature) if signature else None
            parts.append(ThinkingPart(text=thinking, signature=tagged))
        elif kind == "redacted_thinking":
            data = b.get("data")
            if not isinstance(data, str):
                raise InvalidRequest(f"{at}.data: must be a string", param=f"{at}.data")
            parts.append(RedactedThinkingPart(data=data))
        elif kind == "tool_use":
            call_id, name, args = b.get("id"), b.get("name"), b.get("input")
            if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(args, dict):
                raise InvalidRequest(f"{at}: tool_use blocks need 'id', 'name' and an 'input' object", param=at)
            parts.append(ToolCallPart(id=call_id, name=name, arguments=_encode(args).decode()))
        else:
            raise _unsupported(kind, at)
    return parts


def _tools(raw_tools: list[Any]) -> list[Tool]:
    tools: list[Tool] = []
    for i, t in enumerate(raw_tools):
        where = f"tools.{i}"
        if not isinstance(t, dict):
            raise InvalidRequest(f"{where}: must be an object", param=where)
        kind = t.get("type")
        if kind is not None and kind != "custom":
            raise UnsupportedParameter(
                f"{where}: server tool '{kind}' is not supported by Switchgear; only client tools are",
                param=f"{where}.type",
            )
        for key in t:
            if key not in _TOOL_FIELDS:
                raise UnsupportedParameter(f"{where}.{key}: not supported by Switchgear", param=f"{where}.{key}")
        name, schema = t.get("name"), t.get("input_schema")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{where}.name: field required, a string", param=f"{where}.name")
        if not isinstance(schema, dict):
            raise InvalidRequest(f"{where}.input_schema: field required, an object", param=f"{where}.input_schema")
        description, strict = t.get("description"), t.get("strict")
        if description is not None and not isinstance(description, str):
            raise InvalidRequest(f"{where}.description: must be a string", param=f"{where}.description")
        if strict is not None and not isinstance(strict, bool):
            raise InvalidRequest(f"{where}.strict: must be a boolean", param=f"{where}.strict")
        tools.append(Tool(name=name, description=description, parameters=schema, strict=strict))
    return tools


def _tool_choice(tc: dict[str, Any] | None) -> tuple[ToolChoice | None, bool | None]:
    if tc is None:
        return None, None
    kind = tc.get("type")
    if kind == "auto":
        choice = ToolChoice(mode="auto")
    elif kind == "any":
        choice = ToolChoice(mode="required")
    elif kind == "none":
        choice = ToolChoice(mode="none")
    elif kind == "tool":
        name = tc.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("tool_choice.name: field required for type 'tool'", param="tool_choice.name")
        choice = ToolChoice(mode="tool", name=name)
    else:
        raise InvalidRequest("tool_choice.type: must be 'auto', 'any', 'tool' or 'none'", param="tool_choice.type")
    return choice, (False if tc.get("disable_parallel_tool_use") is True else None)


def _output_config(oc: dict[str, Any]) -> tuple[ResponseFormat | None, str | None, dict[str, Any]]:
    rest = {k: v for k, v in oc.items() if k not in ("format", "effort")}
    fmt = oc.get("format")
    response_format = None
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise InvalidRequest(
                "output_config.format: must be {type: json_schema, schema: {...}}", param="output_config.format"
            )
        response_format = ResponseFormat(type="json_schema", schema=fmt["schema"])
    effort = oc.get("effort")
    if effort is not None and effort not in _EFFORT:
        raise InvalidRequest(
            "output_config.effort: must be 'low', 'medium', 'high', 'xhigh' or 'max'", param="output_config.effort"
        )
    return response_format, effort, rest


def _reasoning(thinking: dict[str, Any] | None, effort: str | None) -> Reasoning | None:
    if thinking is None:
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if type(budget) is not int or budget < 1:
            raise InvalidRequest("thinking.budget_tokens: field required, a positive integer", param="thinking.budget_tokens")
        return Reasoning(budget_tokens=budget)
    if kind == "adaptive":
        return Reasoning(effort=_EFFORT[effort] if effort is not None else "high")  # type: ignore[arg-type]
    if kind == "disabled":
        return None
    raise UnsupportedParameter(
        "thinking.type: must be 'enabled', 'adaptive' or 'disabled' for Switchgear", param="thinking.type"
    )


# ---- response --------------------------------------------------------------------------


def render_response(resp: ChatResponse, model: str) -> bytes:
    """Canonical -> Anthropic ``message``. Only choice 0 is rendered (Anthropic has one)."""
    choice = resp.choices[0] if resp.choices else None
    content: list[dict[str, Any]] = []
    reason, sequence = "end_turn", None
    if choice is not None:
        for p in choice.message.parts:
            block = _content_block(p)
            if block is not None:
                content.append(block)
        if choice.finish_reason is not None:
            reason = STOP_REASONS[choice.finish_reason]
        sequence = choice.stop_sequence
    body = {
        "id": _message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": _usage_json(resp.usage, final=True),
    }
    return _encode(body)


def _content_block(p: Part) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    if isinstance(p, ThinkingPart):
        # Anthropic clients require a signature; unsigned reasoning gets an empty one.
        return {"type": "thinking", "thinking": p.text, "signature": _client_signature(p.signature)}
    if isinstance(p, RedactedThinkingPart):
        return {"type": "redacted_thinking", "data": p.data}
    if isinstance(p, ToolCallPart):
        return {"type": "tool_use", "id": p.id or _new_id("toolu_"), "name": p.name, "input": _tool_input(p)}
    return None  # images and tool results cannot appear in an Anthropic answer


def _client_signature(sig: str | None) -> str:
    """What an Anthropic client sees: our own signatures raw, other vendors' tagged
    (opaque to the client; ``to_canonical`` recognises the tag when it comes back)."""
    if not sig:
        return ""
    raw = untag(ANTHROPIC_MESSAGES, sig)
    return raw if raw is not None else sig


def has_tagged_signature(raw: dict[str, Any]) -> bool:
    """Does a client body (checked by ``parse_body``) carry a thinking signature in
    tagged form (another vendor's, as rendered to the client)? Anthropic would reject
    it, so such a body must be translated (which drops it), not passed through."""
    for m in raw["messages"]:
        if m.get("role") != "assistant" or not isinstance(m.get("content"), list):
            continue
        for b in m["content"]:
            if isinstance(b, dict) and b.get("type") == "thinking":
                sig = b.get("signature")
                if isinstance(sig, str) and origin(sig) is not None:
                    return True
    return False


def _tool_input(p: ToolCallPart) -> dict[str, Any]:
    if not p.arguments or p.arguments.isspace():
        return {}
    try:
        value = _decode(p.arguments)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamProtocolError(f"the model's arguments for tool '{p.name}' are not a JSON object")
    return value


def _usage_json(u: Usage | None, final: bool) -> dict[str, Any]:
    """Anthropic's input_tokens excludes cache reads and writes; canonical input includes them."""
    if u is None:
        return {"input_tokens": 0, "output_tokens": 0}
    out: dict[str, Any] = {
        "input_tokens": max(0, u.input_tokens - u.cached_input_tokens - u.cache_write_tokens),
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
    }
    if final and u.reasoning_tokens:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


def _message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else _new_id("msg_")


def _new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


# ---- stream ----------------------------------------------------------------------------


def _frame(event: bytes, payload: dict[str, Any]) -> bytes:
    return b"event: " + event + b"\ndata: " + _encode(payload) + b"\n\n"


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
            return head + _TEXT_DELTA % (self._index, _encode(ev.text))
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
        return _frame(b"error", _error_envelope(err))

    def _start(self, ev: StreamStart | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        message = {
            "id": _message_id(ev.id if ev is not None else ""),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage_json(ev.usage if ev is not None else None, final=False),
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
            block = {"type": "tool_use", "id": ev.id or _new_id("toolu_"), "name": ev.name or "", "input": {}}
            out = self._open(_TOOL, block)
            self._tool = ev.index
        if ev.arguments:
            out += _JSON_DELTA % (self._index, _encode(ev.arguments))
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
            out += _THINKING_DELTA % (self._index, _encode(ev.text))
        if ev.signature:
            if self._kind != _THINKING or self._signed:
                out += self._open(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
            out += _SIGNATURE_DELTA % (self._index, _encode(_client_signature(ev.signature)))
            self._signed = True  # a signature ends its block; more thinking is a new block
        return out

    def _message_delta(self) -> bytes:
        finish = self._finish
        reason = STOP_REASONS[finish.reason] if finish is not None else "end_turn"
        usage = _usage_json(self._usage, final=True) if self._usage is not None else {"output_tokens": 0}
        self._delta_sent = True
        return _frame(
            b"message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": finish.stop_sequence if finish else None},
                "usage": usage,
            },
        )


# ---- errors ----------------------------------------------------------------------------

# Our status -> Anthropic's error type. Anthropic uses invalid_request_error for any
# other 4xx and api_error for other 5xx; we keep our status either way.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


def _error_envelope(err: GatewayError) -> dict[str, Any]:
    status = err.status
    etype = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": err.public_message()}}


def render_error(err: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    """The one place a GatewayError becomes Anthropic's error response."""
    headers = [("content-type", "application/json"), *err.response_headers()]
    return err.status, headers, _encode(_error_envelope(err))
