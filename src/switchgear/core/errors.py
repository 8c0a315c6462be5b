"""The one tree of errors Switchgear raises.

Every error carries an HTTP status, a stable machine ``code``, whether it is
``retryable`` (another attempt, possibly elsewhere, may succeed) and whether its
message is ``safe`` to show a client. Frontends map them to the client's error
envelope in exactly one place each (``frontends/*.render_error``).

    GatewayError
    ├── ClientError                     the request itself is wrong (4xx)
    │   ├── InvalidRequest              400 malformed JSON, wrong types, missing fields
    │   │   ├── UnsupportedParameter    400 parameter this upstream cannot honour
    │   │   └── ContextWindowExceeded   400 prompt too long for the model
    │   ├── AuthenticationFailed        401
    │   ├── PermissionDenied            403
    │   ├── NotFound                    404 unknown endpoint
    │   ├── ModelNotFound               404 unknown model
    │   ├── MethodNotAllowed            405
    │   ├── PayloadTooLarge             413
    │   ├── UnsupportedMediaType        415
    │   └── RateLimited                 429 (the gateway's own limits)
    ├── UpstreamError                   a provider failed or refused
    │   ├── UpstreamRejected            4xx the provider returned (status kept)
    │   ├── UpstreamRateLimited         429, Retry-After kept
    │   ├── UpstreamServerError         5xx from the provider -> 502
    │   ├── UpstreamOverloaded          503/529 from the provider -> 503
    │   ├── UpstreamUnavailable         connect refused / reset / closed -> 502
    │   ├── UpstreamTimeout             connect, first token, idle or total -> 504
    │   ├── UpstreamProtocolError       a body we cannot read -> 502
    │   └── ContentFiltered             the provider's safety system refused -> 400
    └── InternalError                   a bug in Switchgear -> 500, message hidden

Foreign exceptions are converted at two borders only: the transport (socket and
timeout errors) and each wire format's ``parse_error`` (vendor error bodies, by
status and structured fields, never by message text).
"""

from __future__ import annotations


class GatewayError(Exception):
    status: int = 500
    code: str = "internal_error"
    retryable: bool = False
    safe: bool = True

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        self.provider = provider
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def public_message(self) -> str:
        return self.message if self.safe else "internal error"

    def response_headers(self) -> list[tuple[str, str]]:
        if self.retry_after is None:
            return []
        return [("retry-after", str(max(0, int(self.retry_after + 0.999))))]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r})"


# ---- the request itself is wrong -------------------------------------------------


class ClientError(GatewayError):
    status = 400
    code = "invalid_request"


class InvalidRequest(ClientError):
    status = 400
    code = "invalid_request"


class UnsupportedParameter(InvalidRequest):
    code = "unsupported_parameter"


class ContextWindowExceeded(InvalidRequest):
    code = "context_length_exceeded"


class AuthenticationFailed(ClientError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(ClientError):
    status = 403
    code = "permission_denied"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class ModelNotFound(ClientError):
    status = 404
    code = "model_not_found"


class MethodNotAllowed(ClientError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(ClientError):
    status = 413
    code = "request_too_large"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(ClientError):
    status = 429
    code = "rate_limit_exceeded"
    retryable = True


# ---- a provider failed ---------------------------------------------------------------


class UpstreamError(GatewayError):
    status = 502
    code = "upstream_error"
    retryable = True


class UpstreamRejected(UpstreamError):
    """A 4xx from the provider that is the request's fault; the status is kept."""

    status = 400
    code = "upstream_rejected"
    retryable = False


class UpstreamRateLimited(UpstreamError):
    status = 429
    code = "rate_limit_exceeded"
    retryable = True


class UpstreamServerError(UpstreamError):
    status = 502
    code = "upstream_server_error"
    retryable = True


class UpstreamOverloaded(UpstreamError):
    status = 503
    code = "upstream_overloaded"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    status = 502
    code = "upstream_unavailable"
    retryable = True


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
    retryable = True


class UpstreamProtocolError(UpstreamError):
    status = 502
    code = "upstream_protocol_error"
    retryable = True


class ContentFiltered(UpstreamError):
    status = 400
    code = "content_filtered"
    retryable = False


class InternalError(GatewayError):
    status = 500
    code = "internal_error"
    safe = False
