"""Tool-call arguments: canonical JSON text <-> the JSON value a vendor sends or expects."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import InvalidRequest

_decode = msgspec.json.decode


def loads(text: str) -> Any:
    """The JSON value of an arguments text; blank text (what some clients send for a call
    without arguments) is ``{}``. Raises msgspec.DecodeError."""
    if not text or text.isspace():
        return {}
    return _decode(text)


def value(text: str) -> Any:
    """``loads`` for formats that report bad arguments generically (Gemini, Bedrock)."""
    try:
        return loads(text)
    except msgspec.DecodeError:
        raise InvalidRequest("tool call arguments are not valid JSON", param="messages") from None


def text_of(raw: msgspec.Raw) -> str:
    """A vendor's arguments object (kept raw while decoding) -> compact canonical text;
    a ``null`` becomes ``{}``."""
    text = msgspec.json.format(bytes(raw), indent=-1).decode()
    return "{}" if text == "null" else text
