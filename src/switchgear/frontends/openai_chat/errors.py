"""The one place GatewayError meets OpenAI's error envelope."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import GatewayError, ModelNotFound

# Our stable codes where OpenAI (or Azure OpenAI) has its own name for the same thing.
_CODE_ALIASES = {"content_filtered": "content_filter"}


def _error_type(err: GatewayError) -> str:
    """The ``type`` OpenAI itself sends for each status (observed on api.openai.com):
    401 invalid_api_key and 404 model_not_found are ``invalid_request_error``; 429 is
    ``requests`` / ``tokens`` (rate) or ``insufficient_quota``; 5xx are ``server_error``.
    OpenAI has no single 403 type; ``permission_error`` names it."""
    status = err.status
    if status == 429:
        if err.code == "upstream_quota_exceeded":
            return "insufficient_quota"
        return "tokens" if "token" in err.code else "requests"
    if status == 403:
        return "permission_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_object(err: GatewayError) -> dict[str, Any]:
    code = "model_not_found" if isinstance(err, ModelNotFound) else _CODE_ALIASES.get(err.code, err.code)
    return {"message": err.public_message(), "type": _error_type(err), "param": err.param, "code": code}


def render_error(err: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("content-type", "application/json"), *err.response_headers()]
    return err.status, headers, msgspec.json.encode({"error": error_object(err)})
