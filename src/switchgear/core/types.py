"""Canonical chat types: what every client dialect is parsed into and every wire
format is built from. N frontends + M wire formats, not N x M translations.

Design rules:
- A message is a role plus an *ordered* list of parts, so Anthropic's interleaved
  blocks (thinking, text, tool_use) and OpenAI's content + tool_calls both fit.
- Tool results are parts (``ToolResultPart``) inside a message of role ``tool``;
  formats that carry them in a user message (Anthropic, Gemini, Bedrock) merge
  consecutive ``tool`` messages on the way out and split them on the way in.
- Anything a client sent that has no canonical field is kept in ``extra`` so the
  per-vendor unknown-parameter policy can reject, drop or pass it, never lose it
  silently.
- These are plain ``msgspec.Struct`` values: cheap to build, no validation cost;
  frontends validate while parsing and raise ``InvalidRequest`` with the path.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import msgspec

Role = Literal["system", "developer", "user", "assistant", "tool"]

# Canonical finish reasons. Frontends and formats map to and from these.
#   stop            natural end of turn            (OpenAI stop,   Anthropic end_turn)
#   stop_sequence   a client stop sequence matched (OpenAI stop,   Anthropic stop_sequence)
#   length          max tokens reached             (OpenAI length, Anthropic max_tokens)
#   tool_calls      the model called tools         (OpenAI tool_calls, Anthropic tool_use)
#   content_filter  the provider filtered output   (OpenAI content_filter, Anthropic refusal)
#   pause           long turn paused (Anthropic pause_turn); OpenAI clients see "stop"
FinishReason = Literal["stop", "stop_sequence", "length", "tool_calls", "content_filter", "pause"]


# ---- message parts ---------------------------------------------------------------------


class TextPart(msgspec.Struct, tag="text", omit_defaults=True):
    text: str
    # Anthropic cache_control and citations survive round trips through this field.
    cache_control: dict[str, Any] | None = None


class ImagePart(msgspec.Struct, tag="image", omit_defaults=True):
    """An image either by URL or inline base64 ``data`` with its ``media_type``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None  # OpenAI "low" | "high" | "auto"


class ThinkingPart(msgspec.Struct, tag="thinking", omit_defaults=True):
    """Model reasoning. ``signature`` is tagged with the wire format that issued it,
    ``"{format}:{raw}"`` (core.signatures): only that format sends it back, raw and
    verbatim; to any other vendor the part is unsigned."""

    text: str
    signature: str | None = None


class RedactedThinkingPart(msgspec.Struct, tag="redacted_thinking"):
    data: str


class ToolCallPart(msgspec.Struct, tag="tool_call"):
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it


class ToolResultPart(msgspec.Struct, tag="tool_result", omit_defaults=True):
    tool_call_id: str
    content: list[Union[TextPart, ImagePart]] = []
    is_error: bool = False
    name: str | None = None  # Gemini needs the function name; filled in when known


Part = Union[TextPart, ImagePart, ThinkingPart, RedactedThinkingPart, ToolCallPart, ToolResultPart]


class Message(msgspec.Struct, omit_defaults=True):
    role: Role
    parts: list[Part]
    name: str | None = None

    def text(self) -> str:
        return "".join(p.text for p in self.parts if type(p) is TextPart)


# ---- request ---------------------------------------------------------------------------


class Tool(msgspec.Struct, omit_defaults=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] = {}
    strict: bool | None = None


class ToolChoice(msgspec.Struct, omit_defaults=True):
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None  # when mode == "tool"


class ResponseFormat(msgspec.Struct, omit_defaults=True):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class Reasoning(msgspec.Struct, omit_defaults=True):
    """Ask the model to think. OpenAI speaks ``effort``, Anthropic/Gemini/Bedrock a
    token ``budget``; formats convert one to the other when they must.
    ``budget_tokens == 0`` means thinking off (OpenAI effort "none", Anthropic
    ``thinking: disabled``, Gemini ``thinkingBudget: 0``)."""

    effort: Literal["minimal", "low", "medium", "high"] | None = None
    budget_tokens: int | None = None


class ChatRequest(msgspec.Struct, omit_defaults=True):
    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False  # OpenAI stream_options.include_usage
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None  # end-user id for abuse tracking (OpenAI user, Anthropic metadata.user_id)
    # Client fields with no canonical home. Subject to the vendor's unknown-parameter policy.
    extra: dict[str, Any] = {}


# Canonical field names a wire format may declare it supports; ``model``, ``messages``
# and ``stream`` are always supported. Used by providers.formats.base.check_params.
OPTIONAL_PARAMS: tuple[str, ...] = (
    "include_usage",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning",
    "user",
)


# ---- response --------------------------------------------------------------------------


class Usage(msgspec.Struct, omit_defaults=True):
    """Normalised token usage. ``input_tokens`` counts *all* prompt tokens, including
    cached ones (``cached_input_tokens`` is a subset) and cache writes
    (``cache_write_tokens`` is a subset). ``output_tokens`` includes reasoning
    (``reasoning_tokens`` is a subset). ``estimated`` marks counted, not reported."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Choice(msgspec.Struct, omit_defaults=True):
    index: int
    message: Message  # role "assistant"
    finish_reason: FinishReason | None = None
    stop_sequence: str | None = None
    logprobs: Any = None  # OpenAI-shaped logprobs object, passed through verbatim


class ChatResponse(msgspec.Struct, omit_defaults=True):
    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int = 0
    system_fingerprint: str | None = None


# ---- stream events ---------------------------------------------------------------------
# A stream is: StreamStart, then any mix of deltas, Finish per choice, Usage (at most
# once, usually last), and ends either normally or with StreamError. ``choice`` is the
# choice index (n > 1); ``index`` on tool calls is the call's position in the message.


class StreamStart(msgspec.Struct, tag="start", omit_defaults=True):
    id: str
    model: str
    created: int = 0
    usage: Usage | None = None  # Anthropic reports input tokens up front


class TextDelta(msgspec.Struct, tag="text", omit_defaults=True):
    text: str
    choice: int = 0
    logprobs: Any = None


class ReasoningDelta(msgspec.Struct, tag="reasoning", omit_defaults=True):
    text: str = ""
    # End of a thinking block (Anthropic signature_delta, Bedrock, Gemini thoughtSignature);
    # tagged "{format}:{raw}" with the issuing wire format, as ThinkingPart.signature.
    signature: str | None = None
    redacted: str | None = None  # a whole redacted_thinking block's data
    choice: int = 0


class ToolCallDelta(msgspec.Struct, tag="tool_call", omit_defaults=True):
    index: int
    id: str | None = None  # present on the first delta of a call
    name: str | None = None  # present on the first delta of a call
    arguments: str = ""  # a fragment of the JSON arguments text
    choice: int = 0


class Finish(msgspec.Struct, tag="finish", omit_defaults=True):
    reason: FinishReason
    choice: int = 0
    stop_sequence: str | None = None


class UsageEvent(msgspec.Struct, tag="usage"):
    usage: Usage


class StreamError(msgspec.Struct, tag="error"):
    """The stream broke after it started. ``error`` is a core.errors.GatewayError."""

    error: Any


StreamEvent = Union[StreamStart, TextDelta, ReasoningDelta, ToolCallDelta, Finish, UsageEvent, StreamError]


# ---- embeddings ------------------------------------------------------------------------


class EmbeddingsRequest(msgspec.Struct, omit_defaults=True):
    model: str
    input: list[str] | list[list[int]]
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] | None = None
    user: str | None = None
    extra: dict[str, Any] = {}


class EmbeddingsResponse(msgspec.Struct, omit_defaults=True):
    model: str
    data: list[list[float]]
    usage: Usage | None = None
