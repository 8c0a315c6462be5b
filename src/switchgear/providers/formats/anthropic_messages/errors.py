"""Anthropic error bodies and ``event: error`` events -> GatewayError, by status and
error type."""

from __future__ import annotations

from typing import Any, Mapping

import msgspec

from switchgear.core.errors import (
    ContextWindowExceeded,
    GatewayError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.providers.formats.context_window import is_context_window_message
from switchgear.providers.formats import http_errors

# Status Anthropic pairs with each error type; used when only the type is known
# (an ``event: error`` inside a stream arrives under HTTP 200).
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    try:
        obj = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        obj = None
    retry_after = http_errors.retry_after(headers)
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        return error_from_object(obj, status, retry_after)
    text = body[:300].decode("utf-8", "replace").strip()
    return _error(status, None, text or f"HTTP {status} with an empty body", retry_after)


def error_from_object(obj: dict[str, Any], status: int, retry_after: float | None = None) -> GatewayError:
    err = obj.get("error")
    if not isinstance(err, dict):
        return UpstreamProtocolError("Anthropic sent an error without an error object")
    etype = err.get("type") if isinstance(err.get("type"), str) else None
    message = err.get("message") if isinstance(err.get("message"), str) else ""
    return _error(status, etype, message or (etype or "unknown error"), retry_after)


def _error(status: int, etype: str | None, message: str, retry_after: float | None) -> GatewayError:
    if status < 400:
        status = _TYPE_STATUS.get(etype or "", 500)
    text = f"Anthropic: {message}"
    if status in (401, 403):
        return http_errors.auth_failed(f"Anthropic rejected the gateway's credentials: {message}")
    if status == 402:
        # Like a credential failure: the gateway's account, not the client's request.
        return UpstreamError(f"Anthropic refused the gateway's account: {message}", status=502, code="upstream_billing_failed")
    if status == 429:
        return UpstreamRateLimited(text, retry_after=retry_after)
    if status in (503, 529):
        return UpstreamOverloaded(text, retry_after=retry_after)
    if status in (408, 504):
        return UpstreamTimeout(text)
    if status >= 500:
        return UpstreamServerError(text)
    if status == 400 and etype == "invalid_request_error" and is_context_window_message(message):
        return ContextWindowExceeded(text)
    if status == 413:
        return UpstreamRejected(text, status=413, code="request_too_large")
    return UpstreamRejected(text, status=status)
