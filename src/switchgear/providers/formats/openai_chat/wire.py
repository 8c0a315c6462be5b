"""The Chat Completions response shapes we decode: typed and permissive (unknown fields
are ignored, vendor variations are optional)."""

from __future__ import annotations

from typing import Any

import msgspec


class Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCall(msgspec.Struct):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: Function | None = None


class WireMessage(msgspec.Struct):
    role: str | None = None
    content: Any = None  # str | None; Mistral reasoning models send a list of chunks
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: Function | None = None  # legacy functions API
    reasoning_content: str | None = None  # DeepSeek, vLLM
    reasoning: Any = None  # OpenRouter, Ollama, newer vLLM: a string


class WireChoice(msgspec.Struct):
    index: int = 0
    message: WireMessage | None = None
    delta: WireMessage | None = None
    finish_reason: str | None = None
    stop_reason: Any = None  # vLLM: the stop string that matched (or a stop token id)
    logprobs: Any = None


class PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class WireUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None
    prompt_cache_hit_tokens: int | None = None  # DeepSeek's cache report


class XGroq(msgspec.Struct):
    usage: WireUsage | None = None


class Completion(msgspec.Struct):
    """A ``chat.completion`` or a ``chat.completion.chunk``."""

    id: str | None = None
    object: str | None = None  # "error" on older vLLM's bare error objects
    created: int | float | None = None
    model: str | None = None
    choices: list[WireChoice] | None = None
    usage: WireUsage | None = None
    system_fingerprint: str | None = None
    x_groq: XGroq | None = None  # Groq reports streaming usage here
    error: Any = None


class UsageOnly(msgspec.Struct):
    """What a pass-through response body is decoded as: the usage object and nothing else."""

    usage: WireUsage | None = None
    x_groq: XGroq | None = None


class Embedding(msgspec.Struct):
    embedding: list[float] | str
    index: int = 0


class EmbeddingsUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    total_tokens: int | None = None


class EmbeddingsBody(msgspec.Struct):
    data: list[Embedding]
    model: str | None = None
    usage: EmbeddingsUsage | None = None


decode_completion = msgspec.json.Decoder(Completion).decode
decode_usage_only = msgspec.json.Decoder(UsageOnly).decode
decode_embeddings = msgspec.json.Decoder(EmbeddingsBody).decode
