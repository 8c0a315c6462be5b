"""Anthropic content blocks -> canonical parts, with errors that name the block's path."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import InvalidRequest, UnsupportedParameter
from switchgear.core.signatures import ANTHROPIC_MESSAGES, tag
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

_encode = msgspec.json.encode


def _block(b: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(b, dict) or not isinstance(b.get("type"), str):
        raise InvalidRequest(f"{where}: must be a content block object with a type", param=where)
    return b["type"], b


def _unsupported(kind: str, where: str) -> UnsupportedParameter:
    return UnsupportedParameter(f"{where}: '{kind}' content blocks are not supported by Switchgear", param=f"{where}.type")


def text(b: Any, where: str) -> TextPart:
    kind, b = _block(b, where)
    if kind != "text":
        raise InvalidRequest(f"{where}: only text blocks are allowed here, not '{kind}'", param=f"{where}.type")
    value = b.get("text")
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}.text: must be a string", param=f"{where}.text")
    cache = b.get("cache_control")
    return TextPart(text=value, cache_control=cache) if isinstance(cache, dict) else TextPart(text=value)


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


def _text_or_image(kind: str, b: dict[str, Any], where: str) -> TextPart | ImagePart:
    """A block of user content or of a tool result: the canonical model holds text and images."""
    if kind == "text":
        return text(b, where)
    if kind == "image":
        return _image(b, where)
    raise _unsupported(kind, where)


def user_turn(content: str | list[Any], where: str, out: list[Message]) -> None:
    """Append the messages of one user turn: its tool results first (one ``tool`` message
    each, as Anthropic requires results first), then the rest of the turn."""
    if isinstance(content, str):
        out.append(Message(role="user", parts=[TextPart(text=content)]))
        return
    parts: list[Part] = []
    results = False
    for j, raw_block in enumerate(content):
        at = f"{where}.content.{j}"
        kind, b = _block(raw_block, at)
        if kind == "tool_result":
            out.append(Message(role="tool", parts=[_tool_result(b, at)]))
            results = True
        else:
            parts.append(_text_or_image(kind, b, at))
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
            parts.append(_text_or_image(kind, inner, at))
    elif content is not None:
        raise InvalidRequest(f"{where}.content: must be a string or an array of blocks", param=f"{where}.content")
    is_error = b.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise InvalidRequest(f"{where}.is_error: must be a boolean", param=f"{where}.is_error")
    return ToolResultPart(tool_call_id=tool_use_id, content=parts, is_error=bool(is_error))


def assistant_parts(content: str | list[Any], where: str) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(text=content)] if content else []
    parts: list[Part] = []
    for j, raw_block in enumerate(content):
        at = f"{where}.content.{j}"
        kind, b = _block(raw_block, at)
        if kind == "text":
            parts.append(text(b, at))
        elif kind == "thinking":
            thinking, signature = b.get("thinking"), b.get("signature")
            if not isinstance(thinking, str) or not isinstance(signature, str):
                raise InvalidRequest(f"{at}: thinking blocks need 'thinking' and 'signature' strings", param=at)
            # A signature not yet tagged is Anthropic's own (see the package notes).
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
