"""Error bodies of OpenAI-compatible servers -> GatewayError, by HTTP status and the
structured ``code`` / ``type`` fields only."""

from __future__ import annotations

from typing import Any, Mapping

import msgspec

from switchgear.core.errors import (
    ContentFiltered,
    ContextWindowExceeded,
    GatewayError,
    UpstreamOverloaded,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
)
from switchgear.providers.formats.base import Target
from switchgear.providers.formats.http_errors import auth_failed, retry_after


class ErrorFields(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


_CONTEXT_CODES = frozenset({"context_length_exceeded"})
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})


def fields(obj: Any) -> ErrorFields:
    """Pull message/type/code/param out of the many error shapes OpenAI-compatible servers
    send: ``{"error": {...}}``, ``{"error": "text"}``, a bare ``{"message", "type",
    "code"}`` (vLLM, FastAPI ``{"detail": …}``), or a one-element list (Gemini's shim)."""
    if type(obj) is list and obj:
        obj = obj[0]
    if type(obj) is str:
        return ErrorFields(message=obj)
    if type(obj) is not dict:
        return ErrorFields()
    inner = obj.get("error")
    if type(inner) is dict:
        obj = inner
    elif type(inner) is str:
        obj = {**obj, "message": inner}
    message = obj.get("message")
    if type(message) is not str:
        detail = obj.get("detail")
        message = detail if type(detail) is str else None
    code = obj.get("code")
    etype, param = obj.get("type"), obj.get("param")
    return ErrorFields(
        message=message,
        type=etype if type(etype) is str else None,
        code=code if type(code) in (str, int) else None,
        param=param if type(param) is str else None,
    )


def error_from_payload(status: int | None, f: ErrorFields, headers: Mapping[str, str] | None = None) -> GatewayError:
    """Classify by HTTP status and the structured ``code`` / ``type`` fields only."""
    code = f.code if type(f.code) is str else None
    if status is None:  # a mid-stream error object: no status line to go by
        if type(f.code) is int and 400 <= f.code < 600:
            status = f.code
        elif code == "rate_limit_exceeded" or f.type in ("requests", "tokens"):
            status = 429
        elif f.type == "invalid_request_error":
            status = 400
        else:
            status = 500
    message = f.message or f"provider answered HTTP {status}"
    if code in _CONTEXT_CODES or f.type in _CONTEXT_CODES:
        return ContextWindowExceeded(message, param=f.param)
    if code in _FILTER_CODES or f.type in _FILTER_CODES:
        return ContentFiltered(message, param=f.param)
    wait = retry_after(headers) if headers else None
    if status == 401:
        # The vendor's message is not kept: it echoes a masked fragment of our key.
        # UpstreamRejected (a 4xx the provider returned), re-statused as the gateway's fault.
        return auth_failed("the provider rejected the gateway's credentials", UpstreamRejected)
    if status == 429:
        err: GatewayError = UpstreamRateLimited(message, retry_after=wait)
        if code == "insufficient_quota":
            err.code = "upstream_quota_exceeded"
        return err
    if status == 408:
        return UpstreamTimeout(message)
    if status == 404:
        # The model (or deployment) is missing at this provider: another deployment may
        # have it, so this one is worth failing over from.
        err = UpstreamRejected(message, status=404, param=f.param)
        err.retryable = True
        return err
    if 400 <= status < 500:
        return UpstreamRejected(message, status=status, param=f.param)
    if status in (503, 529):
        return UpstreamOverloaded(message, retry_after=wait)
    if status == 504:
        return UpstreamTimeout(message)
    if 500 <= status < 600:
        return UpstreamServerError(message, retry_after=wait)
    return UpstreamProtocolError(f"unexpected HTTP status {status}: {message}")


def parse_error(
    status: int, headers: Mapping[str, str], body: bytes, target: Target | None = None
) -> GatewayError:
    try:
        obj = msgspec.json.decode(body) if body else None
    except (msgspec.DecodeError, UnicodeDecodeError):
        obj = None
    if obj is None:
        text = " ".join(body[:300].decode("utf-8", "replace").split())
        # An HTML error page from a proxy says nothing useful; plain text may.
        f = ErrorFields(message=f"provider answered HTTP {status}" + (f": {text}" if text and text[0] != "<" else ""))
    else:
        f = fields(obj)
    err = error_from_payload(status, f, headers)
    if target is not None:
        err.provider = target.provider
    return err


def error_event(payload: bytes) -> GatewayError:
    """An error inside a 200 body or stream (``{"error": …}`` or an ``event: error`` SSE
    event): JSON in any of the usual error shapes, or plain text."""
    try:
        obj = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        text = payload[:500].decode("utf-8", "replace").strip()
        return UpstreamServerError(text or "upstream stream error")
    return error_from_payload(None, fields(obj))
