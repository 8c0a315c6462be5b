"""Canonical ChatResponse -> an OpenAI ``chat.completion`` body."""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec

from switchgear.core.types import ChatResponse, Message, TextPart, ThinkingPart, ToolCallPart, Usage

encode = msgspec.json.encode

# stop_sequence and pause have no OpenAI reason: "stop" (the matched sequence is lost).
FINISH = {
    "stop": "stop",
    "stop_sequence": "stop",
    "pause": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


def new_id() -> str:
    return "chatcmpl-" + os.urandom(12).hex()


def usage_obj(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def _response_message(m: Message) -> dict[str, Any]:
    text: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for p in m.parts:
        kind = type(p)
        if kind is TextPart:
            text.append(p.text)
        elif kind is ToolCallPart:
            calls.append({"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}})
        elif kind is ThinkingPart and p.text:  # signature-only carriers are not reasoning text
            thinking.append(p.text)
    msg: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text) if text else (None if calls else ""),
        "refusal": None,
    }
    if calls:
        msg["tool_calls"] = calls
    if thinking:
        msg["reasoning_content"] = "".join(thinking)
    return msg


def render_response(resp: ChatResponse, model: str) -> bytes:
    """Canonical response -> an OpenAI ``chat.completion`` body; ``model`` is the name the
    client asked for."""
    out: dict[str, Any] = {
        "id": resp.id or new_id(),
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": model,
        "choices": [
            {
                "index": c.index,
                "message": _response_message(c.message),
                "logprobs": c.logprobs,
                "finish_reason": FINISH.get(c.finish_reason or "stop", "stop"),
            }
            for c in resp.choices
        ],
    }
    if resp.usage is not None:
        out["usage"] = usage_obj(resp.usage)
    if resp.system_fingerprint is not None:
        out["system_fingerprint"] = resp.system_fingerprint
    return encode(out)
