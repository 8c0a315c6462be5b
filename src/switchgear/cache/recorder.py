"""A recording proxy for the client's Responder, installed on a cache miss only.

Same interface as http.server.Responder (send / start_stream / write / end, plus
``disconnected``, ``abort`` and ``on_disconnect``), so dispatch, hedging and anything
else that writes through ``ctx.responder`` need not know it is there. It adds the
``x-switchgear-cache`` header and keeps a copy of the body that went out, *after*
each write succeeded; past ``limit`` bytes it stops copying and drops what it had
(the answer is then too large to cache), so its memory is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _content_type(headers: Any, default: str) -> str:
    for name, value in headers:
        if name.lower() == "content-type":
            return value
    return default


class Recorder:
    __slots__ = (
        "complete",
        "content_type",
        "header",
        "inner",
        "key",
        "limit",
        "overflow",
        "parts",
        "size",
        "status",
        "stream",
        "ttl_s",
    )  # fmt: skip

    def __init__(self, inner: Any, key: str, ttl_s: float, limit: int, header: tuple[str, str]) -> None:
        self.inner = inner  # the responder this one wraps (usually the real one)
        self.key = key
        self.ttl_s = ttl_s
        self.limit = limit
        self.header = header  # ("x-switchgear-cache", "miss" | "bypass")
        self.status = 0
        self.stream = False
        self.content_type = ""
        self.parts: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.complete = False  # a whole response went out: send() returned, or end() did

    # ---- recording ------------------------------------------------------------------

    def _keep(self, data: bytes) -> None:
        if self.overflow or not data:
            return
        size = self.size + len(data)
        if size > self.limit:
            self.overflow = True
            self.parts = []  # release what we had: it will never be stored
            return
        self.size = size
        self.parts.append(data)

    def body(self) -> bytes:
        parts = self.parts
        return parts[0] if len(parts) == 1 else b"".join(parts)

    @property
    def storable(self) -> bool:
        """A complete 200 answer that fitted, to a client still there to receive it all."""
        return self.complete and self.status == 200 and not self.overflow and not self.inner.disconnected

    # ---- the Responder interface ----------------------------------------------------

    @property
    def disconnected(self) -> bool:
        return self.inner.disconnected

    def abort(self) -> None:
        self.inner.abort()

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        self.inner.on_disconnect(callback)

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.inner.send(status, [*headers, self.header], body)
        self.status = status
        if status == 200:
            self.content_type = _content_type(headers, "application/json")
            self._keep(body)
        self.complete = True

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        await self.inner.start_stream(status, [*headers, self.header])
        self.status = status
        self.stream = True
        self.content_type = _content_type(headers, "text/event-stream")

    async def write(self, chunk: bytes) -> None:
        await self.inner.write(chunk)
        self._keep(chunk)

    async def end(self, final: bytes = b"") -> None:
        await self.inner.end(final)
        self._keep(final)
        if self.stream:
            self.complete = True
