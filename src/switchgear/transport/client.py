"""Pooled upstream HTTP/1.1 client: asyncio protocols + httptools, one pool per origin.

The upstream client is the most expensive part of common gateway stacks (see
shared/PERFORMANCE.md), so this one does per request only what it must: join a
request head from a pre-encoded host line, reuse a warm connection and its
parser, and arm one timer.

This module is the transport border: socket, TLS, parser and timeout errors are
converted here, and only here, into ``core.errors`` types::

    refused / reset / closed before a complete response  -> UpstreamUnavailable
    connect, pool, first byte, idle gap, total timeouts   -> UpstreamTimeout
    a response we cannot parse                            -> UpstreamProtocolError

A pooled connection the upstream closed while idle is detected when it is taken
from the pool; if the close races with our request (nothing of the response has
arrived yet), the request is retried once on a fresh connection.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httptools

from switchgear.core.errors import (
    GatewayError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = ["UpstreamPool", "UpstreamResponse"]

# Framing and routing are ours: these names from a caller are dropped, not doubled.
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})
_NAME_CACHE_MAX = 1024
_HIGH_WATER = 1 << 20  # buffered, unconsumed body bytes before we stop reading
# Deadlines are checked by one sweep per pool every _TICK seconds rather than a timer
# per exchange: arming and cancelling a loop timer costs ~3 us, a request's whole
# budget is tens of us, and a timeout firing up to _TICK late is harmless.
_TICK = 0.1

# Connection states.
_IDLE, _WAIT_HEAD, _BODY, _DONE, _CLOSED = range(5)


class _Stale(Exception):
    """A reused connection closed before any byte of the response: safe to retry."""


class _StopParsing(Exception):
    """Raised from a parser callback: nothing more is to be parsed on this connection."""


class _Conn(asyncio.Protocol):
    """One upstream connection; at most one request in flight."""

    __slots__ = (
        "_pool", "_loop", "_transport", "_parser", "_names",
        "_state", "_reused", "_got_bytes", "_keep_alive", "_until_close", "_head_only",
        "_informational", "_status", "_headers", "_chunks", "_buffered", "_read_all",
        "_read_paused", "_error", "_head_waiter", "_waiter",
        "_watched", "_fb_deadline", "_idle_timeout", "_total_deadline", "_last_data", "_saw_data",
        "_idle_since",
    )  # fmt: skip

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool
        self._loop = pool._loop
        self._transport: Any = None
        self._parser = httptools.HttpResponseParser(self)
        self._names = pool._names
        self._state = _IDLE
        self._reused = False
        self._got_bytes = False
        self._keep_alive = False
        self._until_close = False
        self._head_only = False
        self._informational = False
        self._status = 0
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._read_all = False
        self._read_paused = False
        self._error: GatewayError | None = None
        self._head_waiter: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._watched = False  # in the pool's set of exchanges whose deadlines it sweeps
        self._fb_deadline = 0.0
        self._idle_timeout = 0.0
        self._total_deadline = 0.0
        self._last_data = 0.0  # sweep time at which body bytes were last seen
        self._saw_data = False  # body bytes arrived since the last sweep
        self._idle_since = 0.0

    # -- asyncio.Protocol --

    def connection_made(self, transport: Any) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state != _WAIT_HEAD and state != _BODY:
            # Bytes nobody asked for: this connection cannot be trusted again.
            if state == _IDLE:
                self._pool._forget_idle(self)
                self._close()
            elif state == _DONE:
                self._keep_alive = False
            return
        self._got_bytes = True
        self._saw_data = True
        try:
            self._parser.feed_data(data)
            # Per read, not per body piece: httptools calls on_body once per chunk.
            if self._chunks and not self._read_all:
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if self._state == _BODY:
                    self._buffered += len(data)
                    if self._buffered > _HIGH_WATER and not self._read_paused:
                        self._read_paused = True
                        self._transport.pause_reading()
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            state = self._state
            if state == _WAIT_HEAD or state == _BODY:
                if isinstance(exc, httptools.HttpParserUpgrade):
                    reason = "upstream switched protocols"
                else:
                    reason = f"malformed upstream response: {exc}"
                self._fail(UpstreamProtocolError(reason))
            elif state == _DONE:
                self._keep_alive = False  # parsing stopped on purpose (HEAD)

    def eof_received(self) -> bool | None:
        return None  # close; connection_lost decides what the EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        state = self._state
        self._transport = None
        self._cancel_timer()
        if state == _DONE:
            self._keep_alive = False  # complete response, then the upstream closed: fine
            return
        self._state = _CLOSED
        if state == _WAIT_HEAD:
            if self._reused and not self._got_bytes:
                self._wake_head(_Stale())
            else:
                self._wake_head(UpstreamUnavailable(_closed_message("before a complete response", exc)))
        elif state == _BODY:
            if self._until_close and self._error is None:
                self._keep_alive = False
                self._state = _DONE  # the body ended with the connection, as announced
            elif self._error is None:
                self._error = UpstreamUnavailable(_closed_message("in the middle of the body", exc))
            self._wake()
        elif state == _IDLE:
            self._pool._forget_idle(self)

    # -- httptools callbacks --

    def on_message_begin(self) -> None:
        self._headers = {}
        self._informational = False

    def on_header(self, name: bytes, value: bytes) -> None:
        # Inlined, as in http/server.py _Connection.on_header: this runs once per header, and a shared helper would
        # add a call per header on the hot path (~1-2 us a request for ~20 headers).
        names = self._names
        key = names.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(names) < _NAME_CACHE_MAX:
                names[name] = key
        headers = self._headers
        prev = headers.get(key)
        if prev is None:
            headers[key] = value.decode("latin-1")
        else:
            headers[key] = prev + ", " + value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:
                self._fail(UpstreamProtocolError("upstream switched protocols"))
                raise _StopParsing
            self._informational = True  # 100 / 103: the real response follows
            return
        self._status = status
        self._state = _BODY
        headers = self._headers
        self._until_close = (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "")
            and status != 204
            and status != 304
            and not self._head_only
        )
        if self._head_only:
            # httptools cannot be told "no body follows"; finish here and drop the connection.
            self._keep_alive = False
            self._state = _DONE
            self._cancel_timer()
        self._wake_head(None)
        if self._head_only:
            raise _StopParsing  # what follows would be a body that is not there

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)  # the consumer is woken once per read, in data_received

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self._state != _BODY:
            return
        self._keep_alive = self._parser.should_keep_alive()
        self._state = _DONE
        self._cancel_timer()
        self._wake()

    # -- one exchange --

    async def exchange(
        self,
        payload: bytes | tuple[bytes, bytes],
        head_only: bool,
        first_byte_timeout: float | None,
        idle_timeout: float | None,
        total_deadline: float,
    ) -> None:
        """Send the request and wait for the response head."""
        transport = self._transport
        if transport is None:  # lost between connect and now
            raise _Stale() if self._reused else UpstreamUnavailable("upstream closed the connection")
        loop = self._loop
        self._state = _WAIT_HEAD
        self._head_only = head_only
        self._got_bytes = False
        self._error = None
        self._chunks.clear()
        self._buffered = 0
        self._read_all = False
        self._idle_timeout = idle_timeout or 0.0
        self._total_deadline = total_deadline
        now = loop.time()  # not the pool's cached time: acquiring may have waited
        self._fb_deadline = now + first_byte_timeout if first_byte_timeout else 0.0
        self._last_data = now
        self._saw_data = False
        if self._fb_deadline or total_deadline or idle_timeout:
            self._pool._watch(self)
        waiter = self._head_waiter = loop.create_future()
        if isinstance(payload, bytes):
            transport.write(payload)
        else:
            transport.writelines(payload)
        await waiter

    def check_deadlines(self, now: float) -> bool:
        """Called by the pool's sweep; False once this exchange needs no more watching."""
        state = self._state
        if state == _WAIT_HEAD:
            deadline, phase = self._fb_deadline, "first byte"
        elif state == _BODY:
            if self._saw_data or self._read_paused:  # paused: we are the slow side, not upstream
                self._saw_data = False
                self._last_data = now
            if self._idle_timeout:
                deadline, phase = self._last_data + self._idle_timeout, "idle gap between chunks"
            else:
                deadline, phase = 0.0, ""
        else:
            self._watched = False
            return False
        total = self._total_deadline
        if total and (not deadline or total < deadline):
            deadline, phase = total, "total"
        if deadline and now >= deadline:
            self._fail(UpstreamTimeout(f"upstream timed out ({phase})"))
            return False
        return True

    def _cancel_timer(self) -> None:
        if self._watched:
            self._pool._unwatch(self)

    def _wake_head(self, exc: BaseException | None) -> None:
        waiter = self._head_waiter
        if waiter is not None:
            self._head_waiter = None
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_body(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = self._loop.create_future()
        await waiter

    def _fail(self, exc: GatewayError) -> None:
        """End the exchange with ``exc`` and drop the connection."""
        state = self._state
        if state == _WAIT_HEAD:
            self._wake_head(exc)
        elif state == _BODY:
            self._error = exc
            self._wake()
        self._close()

    def took_chunks(self) -> None:
        self._buffered = 0
        if self._read_paused:
            self._read_paused = False
            self._saw_data = True  # we were the slow side, not upstream: restart the idle clock
            if self._state == _BODY:
                self._transport.resume_reading()

    def _close(self) -> None:
        self._state = _CLOSED
        self._cancel_timer()
        transport = self._transport
        if transport is not None:
            self._transport = None
            transport.abort()


def _earliest(*deadlines: float) -> float:
    best = 0.0
    for d in deadlines:
        if d and (not best or d < best):
            best = d
    return best


def _closed_message(when: str, exc: Exception | None) -> str:
    if exc is None:
        return f"upstream closed the connection {when}"
    return f"upstream connection lost {when}: {type(exc).__name__}"


class UpstreamResponse:
    """The status and headers of an upstream response; the body is read on demand."""

    __slots__ = ("status", "headers", "_conn", "_pool")

    def __init__(self, status: int, headers: dict[str, str], conn: _Conn, pool: UpstreamPool) -> None:
        self.status = status
        self.headers = headers
        self._conn: _Conn | None = conn
        self._pool = pool

    async def read(self) -> bytes:
        """The whole body. The connection goes back to the pool when it is complete."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("response body already consumed or closed")
        if conn._state == _BODY:
            conn._read_all = True
            conn.took_chunks()
            try:
                while conn._state == _BODY and conn._error is None:
                    await conn.wait_body()
            except BaseException:
                self._discard()
                raise
        return self._finish()

    @property
    def complete(self) -> bool:
        """The whole body has been received (what iteration returned was the last of it)."""
        conn = self._conn
        return conn is None or conn._state == _DONE

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        chunks = conn._chunks
        while not chunks:
            if conn._state != _BODY or conn._error is not None:
                self._finish()
                raise StopAsyncIteration
            try:
                await conn.wait_body()
            except BaseException:
                self._discard()
                raise
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        conn.took_chunks()
        if conn._state == _DONE:
            self._release(conn)  # the last bytes are out: the connection is free now
        return data

    def _finish(self) -> bytes:
        conn = self._conn
        assert conn is not None
        error = conn._error
        if error is not None or conn._state != _DONE:
            self._discard()
            if error is None:
                error = UpstreamUnavailable("upstream connection lost in the middle of the body")
            raise error
        chunks = conn._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._release(conn)
        return body

    def _release(self, conn: _Conn) -> None:
        self._conn = None
        self._pool._release(conn)

    def _discard(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn._close()
            self._pool._release(conn)

    def close(self) -> None:
        """Release the connection: back to the pool if the body was read to its end
        on a keep-alive connection, else closed."""
        conn = self._conn
        if conn is None:
            return
        if conn._state == _DONE:  # all received; unread bytes do not dirty the connection
            conn._chunks.clear()
            self._release(conn)
        else:
            self._discard()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    def __del__(self) -> None:
        # A response nobody closed must not hold its pool slot forever.
        if self._conn is not None:
            try:
                self._discard()
            except Exception:  # the loop may be gone already
                pass

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"UpstreamResponse({self.status})"


class UpstreamPool:
    """Keep-alive connections to one origin, shared by all requests to it."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 256,
        connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_idle: float = 60.0,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"upstream base_url must be http(s)://host[:port][/prefix], got {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = None
        if url.scheme == "https":
            self._ssl = ssl_context if ssl_context is not None else ssl.create_default_context()
        # The Host header is the authority exactly as configured, so request signers
        # that derive it from the same URL agree with what we send.
        self._host_line = f"host: {url.netloc.rpartition('@')[2]}\r\n"
        self._prefix = url.path.rstrip("/")
        self._max = max_connections
        self._connect_timeout = connect_timeout
        self._keepalive_idle = keepalive_idle
        self._idle: deque[_Conn] = deque()  # oldest on the left, warmest on the right
        self._count = 0  # open or opening connections (pool slots in use)
        self._waiters: deque[asyncio.Future[_Conn | None]] = deque()
        self._names: dict[bytes, str] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._loop: Any = None
        self._watched: set[_Conn] = set()  # exchanges in flight with a deadline
        self._ticker: asyncio.TimerHandle | None = None

    def _watch(self, conn: _Conn) -> None:
        conn._watched = True
        self._watched.add(conn)
        if self._ticker is None:
            self._ticker = self._loop.call_later(_TICK, self._tick)

    def _unwatch(self, conn: _Conn) -> None:
        conn._watched = False
        self._watched.discard(conn)

    def _tick(self) -> None:
        """The deadline sweep: every in-flight exchange's timeouts, every _TICK seconds."""
        now = self._loop.time()
        for conn in list(self._watched):
            if not conn.check_deadlines(now):
                self._watched.discard(conn)
        self._ticker = self._loop.call_later(_TICK, self._tick) if self._watched else None

    def __repr__(self) -> str:
        return f"UpstreamPool({self._host}:{self._port}{self._prefix}, {self._count}/{self._max})"

    async def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        first_byte_timeout: float | None = None,
        idle_timeout: float | None = None,
        total_timeout: float | None = None,
    ) -> UpstreamResponse:
        """Send one request; return once the response head is in."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        total_deadline = loop.time() + total_timeout if total_timeout else 0.0

        parts = [f"{method} {self._prefix}{path} HTTP/1.1\r\n", self._host_line]
        for name, value in headers:
            if name.lower() in _RESERVED:
                continue
            parts.append(f"{name}: {value}\r\n")
        if body or method not in _BODYLESS_METHODS:
            parts.append("content-length: %d\r\n\r\n" % len(body))
        else:
            parts.append("\r\n")
        head = "".join(parts).encode("latin-1")
        payload: bytes | tuple[bytes, bytes]
        if not body:
            payload = head
        elif len(body) < 65536:
            payload = head + body
        else:
            payload = (head, body)
        head_only = method == "HEAD"

        fresh = False
        while True:
            conn = await self._acquire(fresh, total_deadline)
            try:
                await conn.exchange(payload, head_only, first_byte_timeout, idle_timeout, total_deadline)
            except _Stale:
                self._release(conn)
                if fresh:
                    raise UpstreamUnavailable("upstream closed the connection before responding") from None
                fresh = True  # the request was never seen; try once more, on a new connection
                continue
            except BaseException:
                # Timeout, error, or our caller was cancelled: never pool a dirty connection.
                conn._close()
                self._release(conn)
                raise
            return UpstreamResponse(conn._status, conn._headers, conn, self)

    # -- the pool --

    async def _acquire(self, fresh: bool, total_deadline: float) -> _Conn:
        """A pooled connection, or a new one (``fresh``: never a pooled one)."""
        if self._closed:
            raise UpstreamUnavailable("upstream pool is closed")
        idle = self._idle
        if idle and not fresh:
            oldest_ok = self._loop.time() - self._keepalive_idle
            while idle:
                conn = idle.pop()
                if conn._state == _IDLE and conn._idle_since > oldest_ok:
                    conn._reused = True
                    return conn
                conn._close()
                self._count -= 1
        if self._count < self._max:
            self._count += 1
        elif idle:  # fresh, and the pool is full: an idle connection gives up its slot
            idle.popleft()._close()
        else:
            handed = await self._wait_for_slot(total_deadline)
            if handed is not None:
                if not fresh and handed._state == _IDLE:
                    handed._reused = True
                    return handed
                handed._close()  # closed during the hand-off, or we need a fresh one
        # We hold a slot: open a connection in it.
        try:
            return await self._connect(total_deadline)
        except BaseException:
            self._free_slot()
            raise

    async def _wait_for_slot(self, total_deadline: float) -> _Conn | None:
        """Wait for a released connection (returned) or a freed slot (None)."""
        loop = self._loop
        timeout, phase = self._connect_timeout, "pool"
        if total_deadline and total_deadline - loop.time() < timeout:
            timeout, phase = max(0.0, total_deadline - loop.time()), "total"
        waiter: asyncio.Future[_Conn | None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(timeout, _expire_waiter, waiter, phase)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed something just as we were cancelled: pass it on.
            if waiter.done() and not waiter.cancelled():
                conn = waiter.result()
                if conn is None:
                    self._free_slot()
                else:
                    self._release(conn)
            raise
        finally:
            timer.cancel()
            if not waiter.done():
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass

    async def _connect(self, total_deadline: float) -> _Conn:
        loop = self._loop
        timeout, phase = self._connect_timeout, "connect"
        if total_deadline and total_deadline - loop.time() < timeout:
            timeout, phase = max(0.0, total_deadline - loop.time()), "total"
        conn = _Conn(self)
        try:
            async with asyncio.timeout(timeout):
                if self._ssl is None:
                    await loop.create_connection(lambda: conn, self._host, self._port)
                else:
                    await loop.create_connection(
                        lambda: conn,
                        self._host,
                        self._port,
                        ssl=self._ssl,
                        server_hostname=self._host,
                        ssl_handshake_timeout=timeout or None,
                    )
        except TimeoutError:
            raise UpstreamTimeout(f"upstream timed out ({phase}) to {self._host}:{self._port}") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS verification
            raise UpstreamUnavailable(
                f"cannot connect to {self._host}:{self._port}: {type(exc).__name__}: {exc.strerror or exc}"
            ) from None
        return conn

    def _release(self, conn: _Conn) -> None:
        """A request is done with ``conn``: pool it if it is clean, else free its slot."""
        state = conn._state
        if (state == _DONE and conn._keep_alive or state == _IDLE) and not self._closed:
            conn._state = _IDLE
            conn._reused = False
            waiters = self._waiters
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(conn)
                    return
            conn._idle_since = self._loop.time()
            self._idle.append(conn)
            if self._sweeper is None:
                self._sweeper = self._loop.call_later(self._keepalive_idle, self._sweep)
            return
        if conn._state != _CLOSED:
            conn._close()
        self._free_slot()

    def _free_slot(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        self._count -= 1

    def _forget_idle(self, conn: _Conn) -> None:
        """An idle connection was closed by the upstream."""
        try:
            self._idle.remove(conn)
        except ValueError:
            return  # being handed to a waiter, who will find it closed and reuse the slot
        self._free_slot()

    def _sweep(self) -> None:
        self._sweeper = None
        idle = self._idle
        now = self._loop.time()
        limit = self._keepalive_idle
        while idle and now - idle[0]._idle_since >= limit:
            conn = idle.popleft()
            conn._close()
            self._free_slot()
        if idle:
            self._sweeper = self._loop.call_at(idle[0]._idle_since + limit, self._sweep)

    async def aclose(self) -> None:
        """Close idle connections now and busy ones when released; refuse new requests."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        while self._idle:
            self._idle.pop()._close()
            self._count -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamUnavailable("upstream pool is closed"))


def _expire_waiter(waiter: asyncio.Future[_Conn | None], phase: str) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout(f"upstream timed out ({phase}): all connections busy"))
