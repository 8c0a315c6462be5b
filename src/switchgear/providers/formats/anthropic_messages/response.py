"""A Messages API ``message`` -> canonical ChatResponse, and usage for metering."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import UpstreamProtocolError
from switchgear.core.signatures import ANTHROPIC_MESSAGES, tag
from switchgear.core.types import (
    ChatResponse,
    Choice,
    FinishReason,
    Message,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
)
from switchgear.providers.formats.anthropic_messages.errors import error_from_object
from switchgear.providers.formats.base import Target

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
decode = msgspec.json.decode


def parse_response(body: bytes, target: Target) -> ChatResponse:
    obj = _decode_object(body)
    if obj.get("type") == "error":
        raise error_from_object(obj, 200)
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
        usage=usage(obj.get("usage")),
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
            parts.append(ThinkingPart(text=block.get("thinking") or "", signature=tag_signature(block.get("signature"))))
        elif kind == "redacted_thinking":
            parts.append(RedactedThinkingPart(data=block.get("data") or ""))
        elif kind == "tool_use":
            parts.append(
                ToolCallPart(
                    id=block.get("id") or "", name=block.get("name") or "", arguments=arguments_text(block.get("input"))
                )
            )
        # Server-tool blocks (web search, code execution, …) have no canonical form; we
        # never ask for server tools, so they only appear if a passthrough client did.
    return parts


def tag_signature(signature: Any) -> str | None:
    """A signature Anthropic sent, tagged as ours; None when absent or empty."""
    return tag(ANTHROPIC_MESSAGES, signature) if isinstance(signature, str) and signature else None


def arguments_text(value: Any) -> str:
    """A tool_use ``input`` (already decoded with the rest of the body) -> arguments text."""
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
    return usage(env.usage) if env.usage is not None else None


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """The canonical usage of a whole Anthropic message body (pass-through responses)."""
    u = obj.get("usage")
    return usage(u) if isinstance(u, dict) else None


def usage(obj: Any) -> Usage:
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
        obj = decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise UpstreamProtocolError("Anthropic returned a body that is not valid JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamProtocolError("Anthropic returned JSON that is not an object")
    return obj
