"""The admin API: manage an organisation's teams, principals, keys and grants; read the record.

    gateway ── authenticates (Bearer / x-api-key → Principal) ──> AdminApi.handle
      route      exact segments under /admin/v1/ (router.py, routes.py), else 404 / 405
      authorize  authz.decide by role, before the input is even parsed (403)
      validate   strict msgspec structs for query and body (400 naming the field)
      act        one store transaction (manage.py, record.py); team_admin scope is
                 checked on rows read inside it, so the check and the change agree
      refresh    on_change() after a successful change (this process's snapshot)
      audit      exactly one AdminEvent per request, allowed or not

Objects of another organisation are 404, never 403: a caller cannot learn they exist.
Secrets appear only in the create/rotate response body (field ``key``), never in a
listing, an audit event, an error, or a log line; a secret pasted into a request is
refused and redacted.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import msgspec

from switchgear.admin import authz
from switchgear.admin.call import (
    JSON,
    Call,
    Conflict,
    Unavailable,
    WrongMethod,
    parse_body,
    parse_query,
)
from switchgear.admin.record import AuditRecords
from switchgear.admin.router import NoRoute, Router
from switchgear.admin.router import WrongMethod as NoSuchMethod
from switchgear.admin.routes import ROUTES
from switchgear.core.errors import GatewayError, InternalError, InvalidRequest, NotFound
from switchgear.frontends.openai_chat.errors import error_object
from switchgear.identity import repository as repo
from switchgear.identity.principal import Principal
from switchgear.store.database import Database, StoreError

__all__ = ["ROUTES", "AdminApi", "AdminEvent", "AuditRecords", "Reply"]

log = logging.getLogger("switchgear.admin")

Reply = tuple[int, list[tuple[str, str]], bytes]


class AdminEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One admin request's outcome, for the audit record. ``decision`` is "allow" when the
    action was performed, "deny" when it was refused for any reason (authorization,
    validation, unknown object, conflict, store down); ``rule`` is then the role that
    allowed it or the refusal's error code. ``details`` is the validated input (path
    params, query, body): ids, names, flags — no input carries a secret, and a created
    key's secret is never put here."""

    action: str  # e.g. "keys.create"; "unknown" when no route matched
    decision: Literal["allow", "deny"]
    rule: str  # "org_admin" | "team_admin" | "auditor" | "viewer" | an error code
    principal: Principal
    target: str | None  # the object acted on (or created)
    details: dict[str, Any]
    status: int
    message: str | None = None  # the error message returned (safe to show); None on success
    method: str
    path: str
    client_ip: str | None = None  # the socket peer (never a forwarded-for header)


@dataclass(slots=True)
class _Outcome:
    method: str
    path: str
    action: str = "unknown"
    rule: str = ""
    target: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    status: int = 0
    message: str | None = None
    client_ip: str | None = None


_NO_STORE = ("cache-control", "no-store")  # responses may carry a secret or an org's layout
_encode = msgspec.json.encode
_MAX_MESSAGE = 300
# A gateway key's secret (identity.keys): "sk-sg-" + 8-char id + "_" + the random part.
# Pasted where an id belongs it must not be echoed in an error, the audit event or a log.
_SECRET = re.compile(r"sk-sg-[a-z0-9]{8}_[A-Za-z0-9_-]{8,}")


class AdminApi:
    def __init__(
        self,
        db: Database,
        audit: Callable[[AdminEvent], None],
        on_change: Callable[[], Awaitable[None]],
        records: AuditRecords | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.on_change = on_change
        self.records = records
        self.router = Router(ROUTES)

    async def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, principal: Principal,
        client_ip: str | None = None,
    ) -> Reply:
        """Serve one authenticated admin request: (status, headers, body).

        Shielded: if the client goes away mid-request, the work (maybe a committed change)
        still finishes and is audited; only the reply is lost."""
        return await asyncio.shield(self._handle(method, path, query, headers, body, principal, client_ip))

    async def _handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, principal: Principal,
        client_ip: str | None,
    ) -> Reply:
        out = _Outcome(method, path[:200], client_ip=client_ip)
        try:
            status, ctype, payload = await self._serve(out, method, path, query, headers, body, principal)
            out.status = status
            reply: Reply = (status, [_NO_STORE] if status == 204 else [("content-type", ctype), _NO_STORE], payload)
        except GatewayError as e:
            reply = self._refuse(out, e)
        except repo.NotFound as e:
            reply = self._refuse(out, NotFound(str(e)))
        except repo.Conflict as e:  # a concurrent create took the name after our own check
            reply = self._refuse(out, Conflict(str(e), param="name"))
        except repo.Invalid as e:
            reply = self._refuse(out, InvalidRequest(str(e)))
        except StoreError as e:
            log.error("admin %s: store unavailable: %s", out.action, e)
            reply = self._refuse(out, Unavailable("store unavailable; try again"))
        except Exception:
            log.exception("admin %s failed", out.action)
            reply = self._refuse(out, InternalError("internal error"))
        self._record(out, principal)
        return reply

    async def _serve(
        self, out: _Outcome, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
        principal: Principal,
    ) -> tuple[int, str, bytes]:
        try:
            match = self.router.match(method, path)
        except NoRoute:
            raise NotFound(f"unknown admin endpoint: {method} {path[:200]}") from None
        except NoSuchMethod as e:
            raise WrongMethod(f"{method} is not allowed on {path[:200]}; use {', '.join(e.allowed)}",
                              e.allowed) from None
        route = match.route
        out.action = route.action
        if match.params:
            out.target = match.params[route.params[-1]]
            out.details["params"] = match.params
        if _SECRET.search(path) or _SECRET.search(unquote(query)) or _SECRET.search(body.decode("latin-1")):
            raise InvalidRequest("the request contains an API key secret: send key ids (key_…) or prefixes, "
                                 "never a secret; treat this key as exposed and rotate it")
        # Authorize on the role first: a caller who may not act learns nothing from validation.
        allowed = authz.decide(principal, route.action)
        out.rule = allowed.rule
        assert principal.org_id is not None  # decide() allows no caller outside an organisation
        parsed_query = parse_query(route, query)
        if parsed_query is not None:
            out.details["query"] = msgspec.to_builtins(parsed_query)
        parsed_body = parse_body(route, headers, body)
        if parsed_body is not None:
            out.details["body"] = msgspec.to_builtins(parsed_body)
        call = Call(self.db, self.records, principal, principal.org_id, route.action, allowed, match.params,
                    parsed_query, parsed_body, out.target)
        result = await route.handler(call)
        out.target = call.target
        if route.mutates:
            await self._changed(route.action)
        if route.status == 204:
            return 204, JSON, b""
        return route.status, route.media_type, result if isinstance(result, bytes) else _encode(result)

    async def _changed(self, action: str) -> None:
        # The change is committed: report success even if this process's reload fails
        # (other processes reload on the revision bump; this one on its next check).
        try:
            await self.on_change()
        except Exception:
            log.exception("admin %s: identity snapshot refresh failed after a committed change", action)

    def _refuse(self, out: _Outcome, err: GatewayError) -> Reply:
        message = _scrub(err.public_message())
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
        err.message = message
        out.status = err.status
        out.message = message
        out.rule = err.code
        headers = [("content-type", JSON), _NO_STORE, *err.response_headers()]
        if isinstance(err, WrongMethod):
            headers.append(("allow", ", ".join(err.allowed)))
        return err.status, headers, _encode({"error": error_object(err)})

    def _record(self, out: _Outcome, principal: Principal) -> None:
        event = AdminEvent(
            action=out.action, decision="allow" if out.status < 400 else "deny", rule=out.rule,
            principal=principal, target=None if out.target is None else _scrub(out.target),
            details=_scrub_all(out.details), status=out.status, message=out.message, method=out.method,
            path=_scrub(out.path), client_ip=out.client_ip,
        )
        try:
            self.audit(event)
        except Exception:  # the change (if any) is committed: say so loudly, do not fail the reply
            log.exception("admin %s: audit event could not be recorded", out.action)


def _scrub(text: str) -> str:
    return _SECRET.sub(lambda m: m.group(0)[:14] + "_[redacted]", text)


def _scrub_all(details: dict[str, Any]) -> dict[str, Any]:
    raw = _encode(details).decode()
    if not _SECRET.search(raw):
        return details
    return msgspec.json.decode(_scrub(raw).encode())  # type: ignore[no-any-return]
