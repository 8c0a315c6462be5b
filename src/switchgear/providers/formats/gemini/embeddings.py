"""``batchEmbedContents``: one EmbedContentRequest per input text."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import UnsupportedParameter, UpstreamProtocolError
from switchgear.core.types import EmbeddingsRequest, EmbeddingsResponse, Usage
from switchgear.providers.formats.base import Target, UpstreamRequest
from switchgear.providers.formats.gemini.request import bare_model, encode, headers, model_path
from switchgear.providers.formats.gemini.wire import decode_embeddings


def build_embeddings_request(req: EmbeddingsRequest, target: Target) -> UpstreamRequest:
    if req.input and not isinstance(req.input[0], str):
        raise UnsupportedParameter("Gemini embeddings take text, not token ids", param="input")
    if req.user is not None and target.unsupported_params == "reject":
        raise UnsupportedParameter(
            f"parameter 'user' is not supported by provider '{target.provider}' ({target.vendor}, gemini format)",
            param="user",
        )
    if req.extra and target.extra_params == "reject":
        key = next(iter(req.extra))
        raise UnsupportedParameter(
            f"unknown parameter '{key}' is not accepted for provider '{target.provider}' ({target.vendor})",
            param=key,
        )
    base: dict[str, Any] = {"model": f"models/{bare_model(target)}"}
    if req.dimensions is not None:
        base["outputDimensionality"] = req.dimensions
    if req.extra and target.extra_params == "pass":
        base.update(req.extra)  # e.g. taskType, title: per EmbedContentRequest
    requests = [{**base, "content": {"parts": [{"text": text}]}} for text in req.input]
    body = encode({"requests": requests})
    return UpstreamRequest("POST", model_path(target, "batchEmbedContents"), headers(target), body)


def parse_embeddings_response(body: bytes, target: Target) -> EmbeddingsResponse:
    try:
        resp = decode_embeddings(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise UpstreamProtocolError(f"unreadable Gemini embeddings response: {e}") from None
    usage = None
    if resp.usage_metadata is not None:
        usage = Usage(input_tokens=resp.usage_metadata.prompt_token_count)
    return EmbeddingsResponse(model=target.model, data=[e.values for e in resp.embeddings], usage=usage)
