"""``POST /embeddings`` on OpenAI-compatible servers."""

from __future__ import annotations

import array
import base64
import sys
from typing import Any

import msgspec

from switchgear.core.errors import UnsupportedParameter, UpstreamProtocolError
from switchgear.core.types import EmbeddingsRequest, EmbeddingsResponse, Usage
from switchgear.providers.formats.base import Target, UpstreamRequest
from switchgear.providers.formats.openai_chat.request import encode, headers, path
from switchgear.providers.formats.openai_chat.wire import decode_embeddings


def build_embeddings_request(req: EmbeddingsRequest, target: Target) -> UpstreamRequest:
    """Always asks for floats: every OpenAI-compatible server supports them; the frontend
    re-encodes base64 for clients that asked for it."""
    body: dict[str, Any] = {"model": target.model, "input": req.input, "encoding_format": "float"}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    if req.user is not None:
        body["user"] = req.user
    if req.extra:
        if target.extra_params == "reject":
            key = next(iter(req.extra))
            raise UnsupportedParameter(
                f"unknown parameter '{key}' is not accepted for provider '{target.provider}' "
                f"({target.vendor}); configure extra_params: pass or drop to allow it",
                param=key,
            )
        if target.extra_params == "pass":
            for key, value in req.extra.items():
                body.setdefault(key, value)
    return UpstreamRequest("POST", path(target, "embeddings"), headers(target), encode(body))


def _floats_from_base64(text: str) -> list[float]:
    arr = array.array("f")
    arr.frombytes(base64.b64decode(text, validate=True))
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tolist()


def parse_embeddings_response(body: bytes, target: Target) -> EmbeddingsResponse:
    try:
        r = decode_embeddings(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise UpstreamProtocolError(f"unreadable embeddings response: {e}", provider=target.provider) from None
    try:
        items = sorted(r.data, key=lambda e: e.index)
        data = [e.embedding if type(e.embedding) is list else _floats_from_base64(e.embedding) for e in items]
    except ValueError as e:  # bad base64 / a byte count that is not a multiple of 4
        raise UpstreamProtocolError(f"unreadable base64 embedding: {e}", provider=target.provider) from None
    usage = None
    if r.usage is not None:
        usage = Usage(input_tokens=r.usage.prompt_tokens or 0)
    return EmbeddingsResponse(model=r.model or target.model, data=data, usage=usage)
