"""One admin request as a handler sees it, the admin API's own errors, and input parsing.

Inputs are decoded into strict structs (schemas.py); a failure is a 400 whose ``param``
names the field, taken from msgspec's error location ("… - at `$.models[3]`").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec

from switchgear.admin import authz
from switchgear.admin.router import Route
from switchgear.core.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    UnsupportedMediaType,
)
from switchgear.identity.principal import Principal
from switchgear.store.database import Database

if TYPE_CHECKING:
    from switchgear.admin.record import AuditRecords


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class Unavailable(GatewayError):
    status = 503
    code = "store_unavailable"
    retryable = True


class NotImplementedYet(GatewayError):
    status = 501
    code = "not_implemented"


class WrongMethod(MethodNotAllowed):
    def __init__(self, message: str, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed


@dataclass(slots=True)
class Call:
    """One authorized request: who, what they may do (and whether only as team_admin),
    the parsed input, and what to act on. A handler sets ``target`` to what it created."""

    db: Database
    records: AuditRecords | None
    principal: Principal
    org_id: str
    action: str
    allowed: authz.Allowed
    params: dict[str, str]
    query: Any
    body: Any
    target: str | None = None

    @property
    def scoped(self) -> bool:
        return self.allowed.scoped


# ---- parsing -----------------------------------------------------------------------------

JSON = "application/json"
_AT_PATH = re.compile(r"at `\$\.?([^`]*)`")
_FIELD = re.compile(r"field `([^`]*)`")


def _invalid(e: msgspec.ValidationError, where: str) -> InvalidRequest:
    # A missing or unknown field is named apart from where it is: join the two.
    text = str(e)
    parts = [m.group(1) for m in (_AT_PATH.search(text), _FIELD.search(text)) if m and m.group(1)]
    return InvalidRequest(f"invalid {where}: {text}", param=".".join(parts) or None)


def parse_query(route: Route, query: str) -> Any:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True, max_num_fields=20) if query else []
    except ValueError:
        raise InvalidRequest("malformed query string") from None
    if route.query is None:
        if pairs:
            raise InvalidRequest(f"unknown query parameter '{pairs[0][0][:100]}'", param=pairs[0][0][:100])
        return None
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise InvalidRequest(f"query parameter '{name[:100]}' is repeated", param=name[:100])
        values[name] = value
    try:
        return msgspec.convert(values, route.query, strict=False)  # "5" -> 5 for int fields
    except msgspec.ValidationError as e:
        raise _invalid(e, "query parameter") from None


def parse_body(route: Route, headers: dict[str, str], body: bytes) -> Any:
    if route.body is None:
        if body.strip():
            raise InvalidRequest(f"{route.method} {route.template} takes no request body")
        return None
    if not body.strip():
        body = b"{}"  # all-optional bodies (rotate) may be omitted; others fail on their required fields
    else:
        ctype = headers.get("content-type", "").partition(";")[0].strip().lower()
        if ctype != JSON:
            raise UnsupportedMediaType("send the request body as JSON with 'content-type: application/json'")
    try:
        return msgspec.json.decode(body, type=route.body)
    except msgspec.ValidationError as e:
        raise _invalid(e, "request body") from None
    except msgspec.DecodeError:
        raise InvalidRequest("malformed JSON in the request body") from None


def parse_time(value: str | None, name: str) -> float | None:
    """Epoch seconds or an ISO 8601 time (UTC if it names no zone)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRequest(f"{name} must be epoch seconds or an ISO 8601 time", param=name) from None
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(seconds):
        raise InvalidRequest(f"{name} must be a finite time", param=name)
    return seconds
