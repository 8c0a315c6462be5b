"""Canonical ChatResponse -> an Anthropic ``message``, and the pieces the stream renderer
shares with it (usage, ids, signatures as the client sees them)."""

from __future__ import annotations

import os
from typing import Any

import msgspec

from switchgear.core.errors import UpstreamProtocolError
from switchgear.core.signatures import ANTHROPIC_MESSAGES, origin, untag
from switchgear.core.types import (
    ChatResponse,
    FinishReason,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    Usage,
)

encode = msgspec.json.encode
_decode = msgspec.json.decode

STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "stop_sequence": "stop_sequence",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "pause": "pause_turn",
}


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
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_json(resp.usage, final=True),
    }
    return encode(body)


def _content_block(p: Part) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    if isinstance(p, ThinkingPart):
        # Anthropic clients require a signature; unsigned reasoning gets an empty one.
        return {"type": "thinking", "thinking": p.text, "signature": client_signature(p.signature)}
    if isinstance(p, RedactedThinkingPart):
        return {"type": "redacted_thinking", "data": p.data}
    if isinstance(p, ToolCallPart):
        return {"type": "tool_use", "id": p.id or new_id("toolu_"), "name": p.name, "input": _tool_input(p)}
    return None  # images and tool results cannot appear in an Anthropic answer


def client_signature(sig: str | None) -> str:
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
    # The model's output, not the client's: bad arguments are the upstream's fault.
    if not p.arguments or p.arguments.isspace():
        return {}
    try:
        value = _decode(p.arguments)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamProtocolError(f"the model's arguments for tool '{p.name}' are not a JSON object")
    return value


def usage_json(u: Usage | None, final: bool) -> dict[str, Any]:
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


def message_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("msg_") else new_id("msg_")


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()
