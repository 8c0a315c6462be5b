"""Gemini errors (``{"error": {code, message, status, details}}``) -> GatewayError, by
HTTP status, RPC status and ErrorInfo reason."""

from __future__ import annotations

from typing import Any, Mapping

import msgspec

from switchgear.core.errors import (
    ContextWindowExceeded,
    GatewayError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.providers.formats.context_window import is_context_window_message
from switchgear.providers.formats.gemini.wire import Status, decode_error, decode_error_list
from switchgear.providers.formats.http_errors import auth_failed, retry_after


def _retry_delay(details: list[dict[str, Any]], headers: Mapping[str, str]) -> float | None:
    """google.rpc.RetryInfo in the body first; the Retry-After header otherwise."""
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = d.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return float(delay[:-1])
                except ValueError:
                    pass
    return retry_after(headers)


def _error_reason(details: list[dict[str, Any]]) -> str:
    for d in details:
        if str(d.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            return str(d.get("reason", ""))
    return ""


def status_error(status: int, st: Status, headers: Mapping[str, str]) -> GatewayError:
    rpc = st.status
    msg = st.message or f"Gemini returned HTTP {status}"
    reason = _error_reason(st.details)
    if status in (401, 403) or rpc in ("UNAUTHENTICATED", "PERMISSION_DENIED") or reason.startswith("API_KEY_"):
        return auth_failed(f"Gemini rejected the gateway's credentials ({status} {rpc})".rstrip())
    if status == 429 or rpc == "RESOURCE_EXHAUSTED":
        return UpstreamRateLimited(msg, retry_after=_retry_delay(st.details, headers))
    if status == 503 or rpc == "UNAVAILABLE":
        return UpstreamOverloaded(msg, retry_after=_retry_delay(st.details, headers))
    if status == 504 or rpc == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(msg)
    if status >= 500 or rpc == "INTERNAL":
        return UpstreamServerError(msg)
    if status == 404 or rpc == "NOT_FOUND":
        return UpstreamRejected(msg, status=404)
    if rpc == "INVALID_ARGUMENT" and is_context_window_message(msg):
        return ContextWindowExceeded(msg)
    if 400 <= status < 500 or rpc in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return UpstreamRejected(msg, status=status if 400 <= status < 500 else 400)
    return UpstreamServerError(msg)  # no usable status (e.g. a mid-stream error without code)


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    st: Status | None = None
    try:
        st = decode_error(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        try:  # streaming endpoints may wrap the error in a JSON array
            items = decode_error_list(body)
            st = items[0].error if items else None
        except (msgspec.DecodeError, msgspec.ValidationError):
            st = None
    return status_error(status, st or Status(code=status), headers)
