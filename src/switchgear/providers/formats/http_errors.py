"""What every format's ``parse_error`` reads the same way: headers, Retry-After, and the
provider refusing the gateway's own credentials."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

from switchgear.core.errors import UpstreamError


def header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    """A header by lower-case name from a mapping (any case) or a list of pairs."""
    get = getattr(headers, "get", None)
    if get is not None:
        value = get(name)
        if value is not None:
            return value
    pairs: Any = headers.items() if hasattr(headers, "items") else headers
    for k, v in pairs:
        if k.lower() == name:
            return v
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: ``retry-after-ms`` (OpenAI sends both; the SDKs prefer it), else
    ``Retry-After`` as delta-seconds or an HTTP-date. Never negative; None when absent
    or unreadable."""
    ms = header(headers, "retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = header(headers, "retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def auth_failed(message: str, cls: type[UpstreamError] = UpstreamError) -> UpstreamError:
    """The provider refused the gateway's credential: not the client's fault and not one
    the client can fix with its own key, so a 502; another deployment may hold a working
    key, so retryable. ``message`` must not echo the vendor's text where that quotes the key."""
    err = cls(message, status=502, code="upstream_auth_failed")
    err.retryable = True
    return err
