"""Bedrock errors -> GatewayError: the type from ``x-amzn-ErrorType`` (or the body's
``__type``, or a stream's ``:exception-type``), the HTTP status as a fallback."""

from __future__ import annotations

from typing import Mapping

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
from switchgear.providers.formats.bedrock_converse.wire import ErrorBody, decode_error
from switchgear.providers.formats.context_window import is_context_window_message
from switchgear.providers.formats.http_errors import auth_failed, header, retry_after

_AUTH_TYPES = frozenset(
    {
        "accessdeniedexception",
        "unrecognizedclientexception",
        "invalidsignatureexception",
        "incompletesignatureexception",
        "missingauthenticationtokenexception",
        "expiredtokenexception",
        "signaturedoesnotmatch",
    }
)


def typed_error(etype: str, message: str, status: int, headers: Mapping[str, str]) -> GatewayError:
    """Map a Bedrock error type (``ThrottlingException`` or the stream's
    ``throttlingException``) to our error; fall back on the HTTP status."""
    key = etype.lower()
    if key in _AUTH_TYPES or status in (401, 403):
        return auth_failed(f"Bedrock rejected the gateway's AWS credentials ({etype or status})")
    if key in ("throttlingexception", "servicequotaexceededexception") or (
        status == 429 and key != "modelnotreadyexception"
    ):
        return UpstreamRateLimited(message, retry_after=retry_after(headers))
    if key in ("serviceunavailableexception", "modelnotreadyexception") or status == 503:
        return UpstreamOverloaded(message, retry_after=retry_after(headers))
    if key == "modeltimeoutexception" or status in (408, 504):
        return UpstreamTimeout(message)
    if key in ("internalserverexception", "modelerrorexception", "modelstreamerrorexception") or status >= 500:
        return UpstreamServerError(message)
    if key == "resourcenotfoundexception" or status == 404:
        return UpstreamRejected(message, status=404)
    if key == "validationexception":
        if is_context_window_message(message):
            return ContextWindowExceeded(message)
        return UpstreamRejected(message, status=400)
    if 400 <= status < 500:
        return UpstreamRejected(message, status=status)
    return UpstreamServerError(message)  # unknown type and no status (a stream exception)


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
    try:
        eb = decode_error(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        eb = ErrorBody()
    etype = header(headers, "x-amzn-errortype") or ""
    etype = etype.split(":", 1)[0]  # "ValidationException:http://internal.amazon.com/..."
    if not etype and eb.type_:
        etype = eb.type_.rsplit("#", 1)[-1]  # "com.amazon.coral.validate#ValidationException"
    message = eb.message or eb.Message or f"Bedrock returned HTTP {status} {etype}".rstrip()
    return typed_error(etype, message, status, headers)
