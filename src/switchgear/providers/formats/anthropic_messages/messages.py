"""Canonical messages -> Anthropic's top-level ``system`` blocks and ``messages`` turns."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import InvalidRequest, UnsupportedParameter
from switchgear.core.signatures import ANTHROPIC_MESSAGES, untag
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


def messages(msgs: list[Message], mid_system: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, turns)."""
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
        signature = untag(ANTHROPIC_MESSAGES, p.signature)
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
    # Stricter than tool_arguments.value: ``input`` must be an object, and the error
    # names the message and the call.
    try:
        value = tool_arguments.loads(p.arguments)
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
        inline = data_url.split_base64(url)
        if inline is None:
            raise InvalidRequest(f"{where}: image data URLs must be base64 encoded", param=where)
        return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    return {"type": "image", "source": {"type": "url", "url": url}}
