"""The Converse / ConverseStream shapes we decode (unknown fields, e.g. the stream's "p"
padding, are ignored)."""

from __future__ import annotations

from typing import Any

import msgspec


class ToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""
    input: msgspec.Raw = msgspec.Raw(b"{}")


class ReasoningText(msgspec.Struct):
    text: str = ""
    signature: str | None = None


class ReasoningContent(msgspec.Struct, rename="camel"):
    reasoning_text: ReasoningText | None = None
    redacted_content: str | None = None


class Block(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: ToolUse | None = None
    reasoning_content: ReasoningContent | None = None


class WireMessage(msgspec.Struct):
    content: list[Block] = []


class Output(msgspec.Struct):
    message: WireMessage | None = None


class TokenUsage(msgspec.Struct, rename="camel"):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


class ConverseResponse(msgspec.Struct, rename="camel"):
    output: Output | None = None
    stop_reason: str = "end_turn"
    usage: TokenUsage | None = None
    additional_model_response_fields: dict[str, Any] | None = None


class StartToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""


class Start(msgspec.Struct, rename="camel"):
    tool_use: StartToolUse | None = None


class DeltaToolUse(msgspec.Struct):
    input: str = ""


class DeltaReasoning(msgspec.Struct, rename="camel"):
    text: str | None = None
    signature: str | None = None
    redacted_content: str | None = None


class Delta(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: DeltaToolUse | None = None
    reasoning_content: DeltaReasoning | None = None


class Event(msgspec.Struct, rename="camel"):
    """Any ConverseStream event payload (each event type uses a subset)."""

    content_block_index: int = 0
    start: Start | None = None
    delta: Delta | None = None
    stop_reason: str | None = None
    additional_model_response_fields: dict[str, Any] | None = None
    usage: TokenUsage | None = None
    message: str | None = None  # exception events


class ErrorBody(msgspec.Struct):
    message: str | None = None
    Message: str | None = None
    type_: str | None = msgspec.field(default=None, name="__type")


decode_response = msgspec.json.Decoder(ConverseResponse).decode
decode_event = msgspec.json.Decoder(Event).decode
decode_error = msgspec.json.Decoder(ErrorBody).decode
