"""The admin API's route table and its matcher: exact segments, nothing normalised.

A path is split on "/" and compared segment by segment with a route's template. A
parameter segment must look like an id (letters, digits, '_' and '-'), so "//",
a trailing "/", "%2F", "..", case variants and other spellings of a path match no
route and are a 404 before any handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PREFIX = "/admin/v1"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"  # as documented (JSON Schema patterns are unanchored)
_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")  # fullmatch: '$' would also accept a trailing newline


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str  # e.g. "/admin/v1/teams/{team_id}/members"
    action: str  # the audit action and the authz table key, e.g. "teams.members.add"
    handler: Callable[[Any], Awaitable[Any]]  # async (Call) -> struct | bytes | None
    summary: str
    status: int = 200  # the success status
    body: type | None = None  # request body struct (JSON)
    query: type | None = None  # query-string struct
    response: type | None = None  # success body struct; None with 204
    media_type: str = "application/json"
    mutates: bool = False  # a successful call changed identities: on_change() runs
    segments: tuple[str, ...] = field(init=False, default=())
    params: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        segs = tuple(self.template.split("/"))
        object.__setattr__(self, "segments", segs)
        object.__setattr__(self, "params", tuple(s[1:-1] for s in segs if s.startswith("{")))


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, str]


class NoRoute(Exception):
    """No template matches the path (404)."""


class WrongMethod(Exception):
    """A template matches the path but not with this method (405)."""

    def __init__(self, allowed: Sequence[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = tuple(allowed)


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        seen: set[tuple[str, str]] = set()
        for r in routes:
            if (r.method, r.template) in seen:
                raise ValueError(f"duplicate route {r.method} {r.template}")
            seen.add((r.method, r.template))
        self.routes = tuple(routes)
        self._by_length: dict[int, list[Route]] = {}
        for r in routes:
            self._by_length.setdefault(len(r.segments), []).append(r)

    def match(self, method: str, path: str) -> Match:
        segs = path.split("/")
        allowed: list[str] = []
        for route in self._by_length.get(len(segs), ()):
            params = _bind(route.segments, segs)
            if params is None:
                continue
            if route.method == method:
                return Match(route, params)
            allowed.append(route.method)
        if allowed:
            raise WrongMethod(allowed)
        raise NoRoute(path)


def _bind(template: tuple[str, ...], segs: list[str]) -> dict[str, Any] | None:
    params: dict[str, str] = {}
    for t, s in zip(template, segs, strict=True):
        if t.startswith("{"):
            if not _ID.fullmatch(s):
                return None
            params[t[1:-1]] = s
        elif t != s:
            return None
    return params
