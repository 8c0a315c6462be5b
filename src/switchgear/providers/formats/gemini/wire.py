"""The Gemini API shapes we decode (unknown fields are ignored)."""

from __future__ import annotations

from typing import Any

import msgspec


class Blob(msgspec.Struct, rename="camel"):
    mime_type: str = ""
    data: str = ""


class FunctionCall(msgspec.Struct, rename="camel"):
    name: str = ""
    args: msgspec.Raw = msgspec.Raw(b"{}")
    id: str | None = None


class WirePart(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool = False
    thought_signature: str | None = None
    function_call: FunctionCall | None = None
    inline_data: Blob | None = None


class Content(msgspec.Struct, rename="camel"):
    parts: list[WirePart] = []


class LogprobCandidate(msgspec.Struct, rename="camel"):
    token: str = ""
    log_probability: float = 0.0


class TopCandidates(msgspec.Struct, rename="camel"):
    candidates: list[LogprobCandidate] = []


class LogprobsResult(msgspec.Struct, rename="camel"):
    top_candidates: list[TopCandidates] = []
    chosen_candidates: list[LogprobCandidate] = []


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None
    index: int = 0
    logprobs_result: LogprobsResult | None = None


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    candidates_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    thoughts_token_count: int = 0


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class Status(msgspec.Struct):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[dict[str, Any]] = []


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: Status | None = None  # a mid-stream failure arrives as a chunk


class ErrorBody(msgspec.Struct):
    error: Status | None = None


class Embedding(msgspec.Struct):
    values: list[float] = []


class EmbeddingsBody(msgspec.Struct, rename="camel"):
    embeddings: list[Embedding] = []
    usage_metadata: UsageMetadata | None = None


decode_response = msgspec.json.Decoder(GenerateContentResponse).decode
decode_error = msgspec.json.Decoder(ErrorBody).decode
decode_error_list = msgspec.json.Decoder(list[ErrorBody]).decode
decode_embeddings = msgspec.json.Decoder(EmbeddingsBody).decode
