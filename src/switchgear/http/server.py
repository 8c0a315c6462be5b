"""The client-facing HTTP/1.1 server: an asyncio protocol driven by httptools.

No framework: a framework layer costs more per request than everything else the
gateway does (see shared/PERFORMANCE.md). One ``_Connection`` per TCP connection
parses requests with a reused ``httptools.HttpRequestParser``; complete requests
are queued and handled one at a time, in order (pipelining), each by one task
running the ``Handler``.

Connection lifecycle and the limits that bound it::

    accept ──> head (header_timeout, max_header_bytes, max_headers)
           ──> body (body_timeout, max_body_bytes: Content-Length is checked
               before a byte is buffered; a too-large body is not read, the
               request goes to the handler with ``Request.error`` set)
           ──> handler (writes back-pressured; a stalled reader is cut off after
               send_timeout)
           ──> keep-alive idle (keepalive_timeout) ──> head ...

Timeouts are deadlines stored on the connection and checked by one ticker per
server, so arming a timeout costs an attribute store, not a timer handle.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools

from switchgear.core.errors import GatewayError, InvalidRequest, PayloadTooLarge

__all__ = [
    "ClientDisconnected",
    "Handler",
    "HttpServer",
    "Request",
    "Responder",
    "ServerLimits",
    "start_server",
]

_log = logging.getLogger("switchgear.http")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_body_bytes: int = 10 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0  # whole request head, from its first byte (slowloris)
    body_timeout: float = 60.0  # whole request body, from the end of the head
    keepalive_timeout: float = 75.0  # idle connection between requests
    send_timeout: float = 60.0  # a client that stops reading our response is cut off
    max_pipelined: int = 16  # queued requests per connection before we stop reading

    def __post_init__(self) -> None:
        if min(self.max_body_bytes, self.max_header_bytes, self.max_headers, self.max_pipelined) < 1:
            raise ValueError("ServerLimits sizes and counts must be at least 1")
        if min(self.header_timeout, self.body_timeout, self.keepalive_timeout, self.send_timeout) <= 0:
            raise ValueError("ServerLimits timeouts must be positive")


class ClientDisconnected(Exception):
    """The client connection is gone; nothing more can be sent."""


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "client", "error")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        client: tuple[str, int] | None,
        error: GatewayError | None = None,
    ) -> None:
        self.method = method
        self.path = path  # raw, exactly as sent: the router judges it
        self.query = query
        self.headers = headers
        self.body = body
        self.client = client
        self.error = error

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path!r} query={self.query!r})"


Handler = Callable[[Request, "Responder"], Awaitable[None]]

# ---- precomputed wire fragments ----------------------------------------------------

_STATUS_LINES: dict[int, str] = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
# Framing is the server's job: these names from a handler are dropped, not doubled.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_NO_BODY_STATUS = frozenset({204, 304})
_METHODS = {
    m.encode(): m for m in ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE")
}
_INTERNAL_ERROR_BODY = b'{"error":{"message":"internal error","type":"internal_error","code":"internal_error"}}'
_LINGER = 2.0  # seconds we keep draining a client's unread upload after an early error


def _plain_error(status: int, code: str, message: str) -> bytes:
    body = b'{"error":{"message":"%s","type":"invalid_request_error","code":"%s"}}' % (
        message.encode(),
        code.encode(),
    )
    return (
        "%sContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (_STATUS_LINES[status], len(body))
    ).encode() + body


_MALFORMED = _plain_error(400, "invalid_request", "malformed HTTP request")
_HEAD_TOO_LARGE = _plain_error(431, "request_header_fields_too_large", "request header fields too large")

_NAME_CACHE_MAX = 1024  # per server: raw header name as sent -> lower-cased str

# Connection read-side phases; each has a deadline checked by the server ticker.
_P_NONE, _P_IDLE, _P_HEAD, _P_BODY, _P_LINGER = range(5)
# Parser position.
_S_BETWEEN, _S_HEAD, _S_BODY = range(3)
# Responder states.
_R_NEW, _R_STREAMING, _R_DONE, _R_RETIRED = range(4)


class _Stop(Exception):
    """Raised from a parser callback to abandon parsing; the reason is on the connection."""


# ---- responder -----------------------------------------------------------------------


class Responder:
    """Writes the response to one request. Valid until its handler returns."""

    __slots__ = ("_conn", "_state", "_head_only", "_keep_alive", "_http10", "_callbacks", "_pending")

    def __init__(self, conn: _Connection, head_only: bool, keep_alive: bool, http10: bool) -> None:
        self._conn = conn
        self._state = _R_NEW
        self._head_only = head_only
        self._keep_alive = keep_alive
        self._http10 = http10
        self._callbacks: list[Callable[[], None]] | None = None
        self._pending: bytes | None = None  # a stream's head, held to share a write with its first chunk

    @property
    def disconnected(self) -> bool:
        return self._conn._lost

    def abort(self) -> None:
        """Drop the connection at once (RST, no more bytes): for a response that can
        no longer be completed honestly, and for the simulator's connection faults."""
        self._conn._abort()

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the client goes away before the response is complete.

        Registering a callback makes the handler responsible for ending itself
        (e.g. by cancelling its upstream call). If none is registered, the server
        cancels the handler task when the client goes away.
        """
        if self._conn._lost:
            callback()
            return
        if self._callbacks is None:
            self._callbacks = [callback]
        else:
            self._callbacks.append(callback)

    def _head(self, status: int, headers: list[tuple[str, str]], framing: str) -> bytes:
        line = _STATUS_LINES.get(status)
        if line is None:
            if not 100 <= status <= 999:
                raise ValueError(f"invalid status {status}")
            line = f"HTTP/1.1 {status} \r\n"
        parts = [line]
        for name, value in headers:
            if name.lower() in _FRAMING:
                continue
            parts.append(f"{name}: {value}\r\n")
        if not self._keep_alive or self._conn._must_close:
            self._keep_alive = False
            parts.append("connection: close\r\n")
        elif self._http10:
            parts.append("connection: keep-alive\r\n")
        parts.append(framing)
        return "".join(parts).encode("latin-1")

    def send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Send a complete response; content-length is added here."""
        if self._state != _R_NEW:
            raise RuntimeError("response already started")
        conn = self._conn
        if conn._lost:
            self._state = _R_DONE
            return
        if status in _NO_BODY_STATUS:
            head = self._head(status, headers, "\r\n")
            body = b""
        else:
            head = self._head(status, headers, "content-length: %d\r\n\r\n" % len(body))
        self._state = _R_DONE
        transport = conn._transport
        if self._head_only or not body:
            transport.write(head)
        elif len(body) < 65536:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        conn._response_done(self._keep_alive)

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the status and headers of a chunked response."""
        if self._state != _R_NEW:
            raise RuntimeError("response already started")
        conn = self._conn
        if conn._lost:
            self._state = _R_DONE
            raise ClientDisconnected
        if self._http10:
            # HTTP/1.0 has no chunked coding: the body ends when the connection does.
            self._keep_alive = False
            head = self._head(status, headers, "\r\n")
        else:
            head = self._head(status, headers, "transfer-encoding: chunked\r\n\r\n")
        self._state = _R_STREAMING
        # Usually the first chunk follows at once: one write (syscall) for both. If it
        # does not, the head still goes out at the end of this loop iteration.
        self._pending = head
        conn._loop.call_soon(self._flush_head)

    def _flush_head(self) -> None:
        head = self._pending
        if head is not None:
            self._pending = None
            transport = self._conn._transport
            if not self._conn._lost and not transport.is_closing():
                transport.write(head)

    async def write(self, chunk: bytes) -> None:
        """Send one chunk; waits while the client is not reading (back-pressure)."""
        if self._state != _R_STREAMING:
            raise RuntimeError("write() needs start_stream() first")
        conn = self._conn
        if conn._lost:
            raise ClientDisconnected
        if not chunk or self._head_only:
            return  # an empty chunk would end the stream
        data = chunk if self._http10 else b"%x\r\n%b\r\n" % (len(chunk), chunk)
        head = self._pending
        if head is not None:
            self._pending = None
            data = head + data
        conn._transport.write(data)
        if conn._write_paused:
            await conn._drain()

    async def end(self, final: bytes = b"") -> None:
        """Finish a streamed response: ``final`` (the last data, if any), the terminating
        chunk and a head still held back go out in a single write (one syscall)."""
        if self._state != _R_STREAMING:
            if self._state == _R_DONE:
                return
            raise RuntimeError("end() needs start_stream() first")
        self._state = _R_DONE
        conn = self._conn
        if conn._lost:
            return
        head = self._pending
        self._pending = None
        if self._head_only:
            data = head or b""
        elif self._http10:  # no chunked coding: the body ends with the connection
            data = (head or b"") + final
        else:
            data = b"%x\r\n%b\r\n%b" % (len(final), final, _LAST_CHUNK) if final else _LAST_CHUNK
            if head is not None:
                data = head + data
        if data:
            conn._transport.write(data)
        conn._response_done(self._keep_alive)


# ---- connection ----------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_server", "_loop", "_handler", "_limits", "_names", "_parser", "_transport", "_client",
        "_lost", "_must_close", "_closing", "_reading_done", "_draining",
        "_pstate", "_url", "_headers", "_nheaders", "_head_bytes", "_head_raw", "_began",
        "_chunks", "_body_len", "_upgrade_body",
        "_req", "_req_keep", "_req_head", "_req_http10", "_continue_pending",
        "_queue", "_task", "_responder", "_read_paused",
        "_write_paused", "_drain_waiter",
        "_phase", "_deadline", "_wdeadline",
    )  # fmt: skip

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = server._loop
        self._handler = server._handler
        self._limits = server._limits
        self._names = server._names
        self._parser = httptools.HttpRequestParser(self)
        self._transport: Any = None
        self._client: tuple[str, int] | None = None
        self._lost = False
        self._must_close = False  # close after the current response; queued requests are dropped
        self._closing = False  # close has been initiated
        self._reading_done = False  # no further request will be parsed
        self._draining = False  # discarding an upload we refused (lingering close)
        self._pstate = _S_BETWEEN
        self._url = b""
        self._headers: dict[str, str] = {}
        self._nheaders = 0
        self._head_bytes = 0  # url + completed header lines of the head being read
        self._head_raw = 0  # raw bytes of later packets while the head was still incomplete
        self._began = False  # a message began in the packet being fed
        self._chunks: list[bytes] = []
        self._body_len = 0
        self._upgrade_body = 0  # body bytes still to read ourselves (see on_headers_complete)
        self._req: Request | None = None  # request whose body is being read
        self._req_keep = True
        self._req_head = False
        self._req_http10 = False
        self._continue_pending = False
        self._queue: deque[tuple[Request, bool, bool, bool] | bytes] = deque()
        self._task: asyncio.Task[None] | None = None
        self._responder: Responder | None = None
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._phase = _P_NONE
        self._deadline = 0.0
        self._wdeadline = 0.0

    # -- asyncio.Protocol --

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._client = (peer[0], peer[1])
        self._server._connections.add(self)
        self._arm(_P_HEAD, self._limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._phase = _P_NONE
        self._wdeadline = 0.0
        self._server._forget(self)
        self._queue.clear()
        in_write = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # the handler's write() raises ClientDisconnected
            in_write = True
        responder = self._responder
        if responder is not None and responder._state in (_R_NEW, _R_STREAMING):
            callbacks = responder._callbacks
            if callbacks:
                for cb in callbacks:
                    try:
                        cb()
                    except Exception:
                        _log.exception("on_disconnect callback failed")
            elif self._task is not None and not in_write:
                # Nobody can be answered and nobody asked to be told: stop the work.
                self._task.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._wdeadline = self._loop.time() + self._limits.send_timeout

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wdeadline = 0.0
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is None or waiter.done():
            waiter = self._drain_waiter = self._loop.create_future()
        await waiter
        if self._lost:
            raise ClientDisconnected

    def data_received(self, data: bytes) -> None:
        if self._reading_done:
            return  # draining a refused upload, or bytes after a final request
        if self._upgrade_body:
            self._read_upgrade_body(data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            # httptools wraps what a callback raised; _Stop means we already reacted.
            if isinstance(exc.__context__, _Stop):
                return
            _log.error("request parser callback failed", exc_info=exc.__context__)
            self._bad_request(_MALFORMED)
        except httptools.HttpParserUpgrade as exc:
            if self._upgrade_body:
                self._read_upgrade_body(data[exc.args[0] :])
            else:
                # The request is queued; what follows would be another protocol.
                self._stop_reading()
        except httptools.HttpParserError:
            if self._pstate == _S_BODY and self._req is not None:
                self._body_failed(InvalidRequest("malformed request body (chunked encoding)"))
            else:
                self._bad_request(_MALFORMED)
        else:
            if self._pstate == _S_HEAD:
                # Bounds what httptools buffers for a header line that never ends.
                if self._began:
                    self._began = False
                else:
                    self._head_raw += len(data)
                    if self._head_raw > self._limits.max_header_bytes:
                        self._bad_request(_HEAD_TOO_LARGE)

    def eof_received(self) -> bool | None:
        # A client's FIN is taken as "gone" (cancels upstream work); half-closed
        # clients that still want an answer are not supported.
        return None

    # -- httptools callbacks --

    def on_message_begin(self) -> None:
        self._pstate = _S_HEAD
        self._url = b""
        self._headers = {}
        self._nheaders = 0
        self._head_bytes = 0
        self._head_raw = 0
        self._began = True
        self._arm(_P_HEAD, self._limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._nheaders += 1
        self._head_bytes += len(name) + len(value)
        limits = self._limits
        if self._nheaders > limits.max_headers or self._head_bytes > limits.max_header_bytes:
            self._bad_request(_HEAD_TOO_LARGE)
            raise _Stop
        # Inlined, as in transport/client.py _Conn.on_header: this runs once per header, and a shared helper would
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
        parser = self._parser
        url = self._url
        q = url.find(b"?")
        if q < 0:
            path = url.decode("latin-1")
            query = ""
        else:
            path = url[:q].decode("latin-1")
            query = url[q + 1 :].decode("latin-1")
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("latin-1")
        headers = self._headers
        req = Request(method, path, query, headers, b"", self._client)
        keep = parser.should_keep_alive()
        http10 = parser.get_http_version() == "1.0"
        self._req_keep = keep
        self._req_head = method == "HEAD"
        self._req_http10 = http10
        self._chunks.clear()
        self._body_len = 0

        limits = self._limits
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
            # Refused before a byte of the body is buffered. No 100 Continue is sent.
            req.error = PayloadTooLarge(
                f"request body of {length} bytes is over the limit of {limits.max_body_bytes} bytes"
            )
            self._refuse_body(req)
            raise _Stop

        if parser.should_upgrade() and method != "CONNECT":
            # We ignore Upgrade (RFC 9110 allows it), but httptools then skips the
            # body: a Content-Length body is read by hand, then the connection closes.
            if "transfer-encoding" in headers:
                req.error = InvalidRequest("a request with Upgrade must send its body with Content-Length")
                self._refuse_body(req)
                raise _Stop
            if length is not None and length.isdigit() and int(length) > 0:
                self._upgrade_body = int(length)
            self._req_keep = False

        self._req = req
        self._pstate = _S_BODY
        self._arm(_P_BODY, limits.body_timeout)
        expect = headers.get("expect")
        if expect is not None and not http10 and expect.lower() == "100-continue":
            if self._task is None and not self._queue:
                self._transport.write(_CONTINUE)
            else:
                self._continue_pending = True  # sent when the requests ahead are answered

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self._limits.max_body_bytes:
            req = self._req
            assert req is not None
            req.error = PayloadTooLarge(
                f"request body is over the limit of {self._limits.max_body_bytes} bytes"
            )
            self._req = None
            self._chunks.clear()
            self._refuse_body(req)
            raise _Stop
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._upgrade_body:
            return  # httptools skipped the body; _read_upgrade_body completes the request
        req = self._req
        self._pstate = _S_BETWEEN
        self._continue_pending = False
        if req is None:
            return
        self._req = None
        chunks = self._chunks
        if chunks:
            req.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
        if not self._req_keep:
            self._reading_done = True
        self._phase = _P_NONE  # the handler owns the time now
        self._enqueue(req)

    def _read_upgrade_body(self, data: bytes) -> None:
        need = self._upgrade_body
        if len(data) > need:
            data = data[:need]  # what follows would be the other protocol
        if data:
            self._chunks.append(data)
            self._upgrade_body = need = need - len(data)
        if need == 0:
            self._reading_done = True
            self.on_message_complete()

    # -- request dispatch --

    def _enqueue(self, item: Request | bytes) -> None:
        if isinstance(item, Request):
            entry: tuple[Request, bool, bool, bool] | bytes = (
                item,
                self._req_head,
                self._req_keep and not self._reading_done,
                self._req_http10,
            )
        else:
            entry = item
        if self._task is None and not self._queue:
            self._task = self._loop.create_task(self._run(entry))
            return
        self._queue.append(entry)
        if not self._read_paused and len(self._queue) >= self._limits.max_pipelined:
            self._read_paused = True
            self._transport.pause_reading()

    async def _run(self, entry: tuple[Request, bool, bool, bool] | bytes) -> None:
        handler = self._handler
        queue = self._queue
        try:
            while True:
                if isinstance(entry, bytes):  # a server-made error reply, then close
                    if not self._lost:
                        self._transport.write(entry)
                        self._close()
                    return
                req, head_only, keep, http10 = entry
                responder = Responder(self, head_only, keep, http10)
                self._responder = responder
                try:
                    await handler(req, responder)
                except (ClientDisconnected, asyncio.CancelledError):
                    if not self._lost:
                        raise
                    return
                except Exception:
                    _log.exception("handler failed on %s %s", req.method, req.path)
                    self._after_handler_error(responder)
                else:
                    # After a disconnect, returning without (finishing) a response is normal.
                    if responder._state == _R_NEW and not self._lost:
                        _log.error("handler returned without responding to %s %s", req.method, req.path)
                        self._after_handler_error(responder)
                    elif responder._state == _R_STREAMING and not self._lost:
                        _log.error("handler returned mid-stream on %s %s", req.method, req.path)
                        self._abort()
                responder._state = _R_RETIRED
                self._responder = None
                if self._lost or self._must_close or not queue:
                    return
                entry = queue.popleft()
                if self._read_paused and len(queue) <= self._limits.max_pipelined // 2:
                    self._read_paused = False
                    self._transport.resume_reading()
        finally:
            self._task = None
            self._responder = None
            if not self._lost:
                self._idle()

    def _after_handler_error(self, responder: Responder) -> None:
        if self._lost:
            return
        if responder._state == _R_NEW:
            responder.send(500, [("content-type", "application/json")], _INTERNAL_ERROR_BODY)
        elif responder._state == _R_STREAMING:
            self._abort()  # the status line is out: only a cut connection says "incomplete"

    def _response_done(self, keep_alive: bool) -> None:
        if not keep_alive:
            self._must_close = True
            self._close()

    def _idle(self) -> None:
        """The handler finished and nothing is queued: wait for the next request."""
        if self._closing:
            return
        if self._must_close or self._reading_done:
            self._close()
            return
        if self._continue_pending:
            self._continue_pending = False
            self._transport.write(_CONTINUE)
        if self._pstate == _S_BETWEEN and not self._draining:
            self._arm(_P_IDLE, self._limits.keepalive_timeout)

    # -- refusing and closing --

    def _refuse_body(self, req: Request) -> None:
        """Hand ``req`` (with its error) to the handler without reading its body;
        the rest of the upload is drained and the connection closed after the reply."""
        self._req = None
        self._pstate = _S_BETWEEN
        self._continue_pending = False
        self._reading_done = True
        self._draining = True
        self._phase = _P_NONE
        self._req_keep = False
        self._enqueue(req)

    def _body_failed(self, error: GatewayError) -> None:
        req = self._req
        assert req is not None
        req.error = error
        self._chunks.clear()
        self._refuse_body(req)

    def _bad_request(self, reply: bytes) -> None:
        """Malformed or oversized head: reply (after the requests ahead) and close."""
        if self._reading_done:
            return
        self._reading_done = True
        self._draining = True
        self._phase = _P_NONE
        self._enqueue(reply)

    def _stop_reading(self) -> None:
        self._reading_done = True
        if self._task is None and not self._queue:
            self._close()

    def _close(self) -> None:
        """Close after what was written is flushed. If we refused an upload, keep
        reading (and discarding) for a while so the client sees our reply rather
        than a reset."""
        if self._lost or self._closing:
            return
        self._closing = True
        self._must_close = True
        if self._draining and self._transport.can_write_eof():
            self._transport.write_eof()
            self._arm(_P_LINGER, _LINGER)
            if self._read_paused:
                self._read_paused = False
                self._transport.resume_reading()
            if self._write_paused:
                self._wdeadline = self._loop.time() + self._limits.send_timeout
        else:
            self._phase = _P_NONE
            self._transport.close()
            if self._write_paused:
                # close() waits for the buffer to flush: bound that by send_timeout.
                self._wdeadline = self._loop.time() + self._limits.send_timeout

    def _abort(self) -> None:
        if not self._lost:
            self._must_close = True
            self._transport.abort()

    def _shutdown(self) -> None:
        """Server closing: idle connections go now, busy ones after their response."""
        self._must_close = True
        self._reading_done = True
        self._queue.clear()
        if self._task is None:
            self._close()

    # -- timeouts --

    def _arm(self, phase: int, timeout: float) -> None:
        self._phase = phase
        self._deadline = self._loop.time() + timeout

    def _check(self, now: float) -> None:
        """Called by the server ticker."""
        if self._wdeadline and now >= self._wdeadline:
            self._abort()  # the client stopped reading our response
            return
        phase = self._phase
        if phase == _P_NONE or now < self._deadline:
            return
        self._phase = _P_NONE
        if phase == _P_BODY and self._req is not None:
            # The head was fine: the handler renders the error, then we close.
            self._body_failed(
                InvalidRequest("request body not received in time", status=408, code="request_timeout")
            )
            return
        # Slow head, idle keep-alive, or linger over: just go.
        self._transport.close() if phase == _P_LINGER else self._abort()


# ---- server --------------------------------------------------------------------------


class HttpServer(asyncio.AbstractServer):
    """The listening server. ``close()`` stops accepting and closes idle
    connections; busy ones close after their current response. ``wait_closed()``
    waits until every connection is gone."""

    def __init__(self, handler: Handler, limits: ServerLimits, loop: asyncio.AbstractEventLoop) -> None:
        self._handler = handler
        self._limits = limits
        self._loop = loop
        self._connections: set[_Connection] = set()
        self._names: dict[bytes, str] = {}
        self._server: asyncio.AbstractServer | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._closed: asyncio.Future[None] | None = None
        shortest = min(limits.header_timeout, limits.body_timeout, limits.keepalive_timeout, limits.send_timeout)
        self._tick = max(0.01, min(1.0, shortest / 4))

    def _protocol(self) -> _Connection:
        return _Connection(self)

    def _forget(self, conn: _Connection) -> None:
        connections = self._connections
        connections.discard(conn)
        if not connections and self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None

    def _on_tick(self) -> None:
        now = self._loop.time()
        for conn in list(self._connections):
            if conn._phase or conn._wdeadline:
                conn._check(now)
        if self._server is not None or self._connections:
            self._ticker = self._loop.call_later(self._tick, self._on_tick)
        else:
            self._ticker = None
        if self._server is None and not self._connections and self._closed is not None:
            if not self._closed.done():
                self._closed.set_result(None)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._connections):
            conn._shutdown()
        if self._closed is None:
            self._closed = self._loop.create_future()
        if not self._connections:
            self._closed.set_result(None)
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await self._closed

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start_serving(self) -> None:
        if self._server is not None:
            await self._server.start_serving()

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("server is closed")
        await self._server.serve_forever()


async def start_server(
    handler: Handler,
    host: str | None,
    port: int | None,
    limits: ServerLimits = ServerLimits(),
    *,
    sock: socket.socket | None = None,
    backlog: int = 2048,
) -> HttpServer:
    """Listen on ``host:port`` (port 0: ephemeral) or on an already bound ``sock``."""
    loop = asyncio.get_running_loop()
    server = HttpServer(handler, limits, loop)
    if sock is not None:
        inner = await loop.create_server(server._protocol, sock=sock, backlog=backlog)
    else:
        inner = await loop.create_server(server._protocol, host, port, backlog=backlog, reuse_address=True)
    server._server = inner
    server._ticker = loop.call_later(server._tick, server._on_tick)
    return server
