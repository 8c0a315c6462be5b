"""A ``chat.completion`` body -> canonical ChatResponse, and usage for metering."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import UpstreamProtocolError
from switchgear.core.types import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
)
from switchgear.providers.formats.base import Target
from switchgear.providers.formats.openai_chat.errors import error_event
from switchgear.providers.formats.openai_chat.wire import (
    Function,
    WireMessage,
    WireUsage,
    decode_completion,
    decode_usage_only,
)

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def finish(reason: str, stop_reason: Any) -> tuple[FinishReason, str | None]:
    if reason == "stop" and type(stop_reason) is str:
        return "stop_sequence", stop_reason
    # Unknown vendor reasons ("eos", "abort", "error" …) end the turn: "stop".
    return _FINISH.get(reason, "stop"), None


def usage(u: WireUsage) -> Usage:
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


def usage_from_response(body: bytes) -> Usage | None:
    """Usage of a pass-through response body, decoding nothing but the usage object.
    Raises UpstreamProtocolError when the body is not JSON.

    Fast path: the top-level ``"usage"`` key follows ``choices``, near the end. ``{`` plus
    the body from its last occurrence parses as an object only if that occurrence is a
    top-level key (the braces must balance), so no nested "usage" can be mistaken for it;
    anything else takes the full, typed decode."""
    at = body.rfind(b'"usage"')
    if at > 0 and body[:1] == b"{":
        try:
            env = decode_usage_only(b"{" + body[at:])
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            if env.usage is not None:
                return usage(env.usage)
    try:
        env = decode_usage_only(body)
    except msgspec.ValidationError:  # valid JSON, odd shape: fall back to the lenient path
        try:
            obj = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise UpstreamProtocolError("upstream returned a body that is not JSON") from None
        return usage_from_body(obj) if isinstance(obj, dict) else None
    except msgspec.DecodeError:
        raise UpstreamProtocolError("upstream returned a body that is not JSON") from None
    u = env.usage if env.usage is not None else env.x_groq.usage if env.x_groq is not None else None
    return usage(u) if u is not None else None


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """Usage of an already-decoded completion or chunk (the pass-through path)."""
    u = obj.get("usage")
    if type(u) is not dict:
        xg = obj.get("x_groq")
        u = xg.get("usage") if type(xg) is dict else None
        if type(u) is not dict:
            return None
    try:
        return usage(msgspec.convert(u, WireUsage))
    except msgspec.ValidationError:
        return None


def reasoning_text(m: WireMessage) -> str | None:
    if m.reasoning_content:
        return m.reasoning_content
    r = m.reasoning
    return r if type(r) is str and r else None


def content_list(items: list[Any], text: list[str], thinking: list[str]) -> None:
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


def _message_parts(m: WireMessage) -> list[Part]:
    parts: list[Part] = []
    reasoning = reasoning_text(m)
    if reasoning:
        parts.append(ThinkingPart(reasoning))
    content = m.content
    if type(content) is str:
        if content:
            parts.append(TextPart(content))
    elif type(content) is list:
        text: list[str] = []
        thinking: list[str] = []
        content_list(content, text, thinking)
        if thinking:
            parts.append(ThinkingPart("".join(thinking)))
        if text:
            parts.append(TextPart("".join(text)))
    elif content is not None:
        raise UpstreamProtocolError("chat.completion message content is neither a string nor a list")
    if m.refusal:
        parts.append(TextPart(m.refusal))
    for i, tc in enumerate(m.tool_calls or ()):
        fn = tc.function or Function()
        parts.append(ToolCallPart(tc.id or f"call_{i}", fn.name or "", fn.arguments or ""))
    if m.function_call is not None and not m.tool_calls:
        fc = m.function_call
        parts.append(ToolCallPart("call_0", fc.name or "", fc.arguments or ""))
    return parts


def parse_response(body: bytes, target: Target) -> ChatResponse:
    try:
        c = decode_completion(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise UpstreamProtocolError(f"unreadable chat.completion: {e}", provider=target.provider) from None
    if c.error is not None or c.object == "error":  # some servers answer 200 with an error object
        err = error_event(body)
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
            reason, stop_seq = finish(ch.finish_reason, ch.stop_reason)
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
        usage=usage(c.usage) if c.usage is not None else None,
        created=int(c.created or 0),
        system_fingerprint=c.system_fingerprint,
    )
