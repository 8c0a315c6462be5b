"""A Converse response -> canonical ChatResponse, and the pieces the stream parser shares."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from switchgear.core.errors import UpstreamProtocolError
from switchgear.core.signatures import BEDROCK_CONVERSE, tag
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
from switchgear.providers.formats.base import Target
from switchgear.providers.formats.bedrock_converse.wire import TokenUsage, decode_response
from switchgear.providers.formats.tool_arguments import text_of

FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}  # malformed_model_output / malformed_tool_use and unknown values -> "stop"


def usage(u: TokenUsage) -> Usage:
    return Usage(
        input_tokens=u.input_tokens + u.cache_read_input_tokens + u.cache_write_input_tokens,
        output_tokens=u.output_tokens,
        cached_input_tokens=u.cache_read_input_tokens,
        cache_write_tokens=u.cache_write_input_tokens,
    )


def stop_sequence(fields: dict[str, Any] | None) -> str | None:
    value = fields.get("stop_sequence") if fields else None
    return value if isinstance(value, str) else None


def parse_response(body: bytes, target: Target) -> ChatResponse:
    try:
        resp = decode_response(body)
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
            parts.append(ToolCallPart(b.tool_use.tool_use_id, b.tool_use.name, text_of(b.tool_use.input)))
        elif b.reasoning_content is not None:
            rc = b.reasoning_content
            if rc.reasoning_text is not None:
                sig = rc.reasoning_text.signature
                parts.append(ThinkingPart(rc.reasoning_text.text, tag(BEDROCK_CONVERSE, sig) if sig else None))
            elif rc.redacted_content is not None:
                parts.append(RedactedThinkingPart(rc.redacted_content))
    choice = Choice(
        index=0,
        message=Message(role="assistant", parts=parts),
        finish_reason=FINISH.get(resp.stop_reason, "stop"),
        stop_sequence=stop_sequence(resp.additional_model_response_fields),
    )
    return ChatResponse(
        id=f"bedrock-{uuid.uuid4().hex}",  # Converse bodies carry no id
        model=target.model,
        choices=[choice],
        usage=usage(resp.usage) if resp.usage else None,
    )


def usage_from_body(obj: dict[str, Any]) -> Usage | None:
    """Usage of an already-decoded Converse body or metadata event, if it has one."""
    u = obj.get("usage")
    if type(u) is not dict:
        return None
    try:
        return usage(msgspec.convert(u, TokenUsage))
    except msgspec.ValidationError:
        return None
