"""The one place a GatewayError becomes Anthropic's error envelope."""

from __future__ import annotations

from typing import Any

import msgspec

from switchgear.core.errors import GatewayError

# Our status -> Anthropic's error type. Anthropic uses invalid_request_error for any
# other 4xx and api_error for other 5xx; we keep our status either way.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


def error_envelope(err: GatewayError) -> dict[str, Any]:
    status = err.status
    etype = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": err.public_message()}}


def render_error(err: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    """The one place a GatewayError becomes Anthropic's error response."""
    headers = [("content-type", "application/json"), *err.response_headers()]
    return err.status, headers, msgspec.json.encode(error_envelope(err))
