"""Canonical messages -> Converse ``system`` and ``messages`` blocks (roles alternate)."""

from __future__ import annotations

from typing import Any

from switchgear.core.errors import InvalidRequest, UnsupportedParameter
from switchgear.core.signatures import BEDROCK_CONVERSE, untag
from switchgear.core.types import (
    ImagePart,
    Message,
    Part,
    RedactedThinkingPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)
from switchgear.providers.formats import data_url, tool_arguments

_IMAGE_FORMAT = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def messages(msgs: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(system blocks, messages, whether any tool block was written)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    has_tool_blocks = False
    for m in msgs:
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


def _cache_point(cache_control: dict[str, Any] | None) -> dict[str, Any] | None:
    if cache_control is None:
        return None
    point: dict[str, Any] = {"type": "default"}
    if cache_control.get("ttl") == "1h":
        point["ttl"] = "1h"
    return {"cachePoint": point}


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
        blocks.append({"toolUse": {"toolUseId": p.id, "name": p.name, "input": tool_arguments.value(p.arguments)}})
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
        signature = untag(BEDROCK_CONVERSE, p.signature)
        if p.text and signature:
            blocks.append({"reasoningContent": {"reasoningText": {"text": p.text, "signature": signature}}})
        return False
    if isinstance(p, RedactedThinkingPart) and role == "assistant":
        blocks.append({"reasoningContent": {"redactedContent": p.data}})
        return False
    raise InvalidRequest(f"a {type(p).__name__} cannot appear in a {role} message for Bedrock", param="messages")


def _image(p: ImagePart) -> dict[str, Any]:
    data, media_type = p.data, p.media_type
    if data is None:
        url = p.url or ""
        if not url.startswith("data:"):
            raise UnsupportedParameter(
                "Bedrock Converse cannot fetch image URLs; send the image inline (base64)", param="messages"
            )
        inline = data_url.split_base64(url)
        if inline is None:
            raise InvalidRequest("image data URLs must be base64", param="messages")
        media_type, data = inline
    fmt = _IMAGE_FORMAT.get((media_type or "").lower())
    if fmt is None:
        raise UnsupportedParameter(f"image type '{media_type}' is not supported by Bedrock Converse", param="messages")
    return {"image": {"format": fmt, "source": {"bytes": data}}}
