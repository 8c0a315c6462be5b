"""A mock upstream that answers every request with a fixed body after a fixed delay.

nginx cannot delay a response, so the "512 connections to a 50 ms upstream" case uses
this: a raw uvloop asyncio.Protocol HTTP/1.1 keep-alive server (httptools parser),
no framework, so the mock itself stays cheap while hundreds of requests wait.

    python bench/mock_delay.py --port 9102 --body bench/.work/chat.json --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import httptools
import uvloop


class _Conn(asyncio.Protocol):
    __slots__ = ("_transport", "_parser", "_loop", "_pending", "_ok", "_delay")

    def __init__(self, loop: asyncio.AbstractEventLoop, ok: bytes, ok_close: bytes, delay: float) -> None:
        self._loop = loop
        self._ok = (ok, ok_close)
        self._delay = delay
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._pending: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for h in self._pending:
            h.cancel()
        self._pending.clear()

    # httptools callback: a whole request has arrived (the body is ignored).
    def on_message_complete(self) -> None:
        keep = self._parser.should_keep_alive()
        self._pending.append(self._loop.call_later(self._delay, self._reply, keep))

    def _reply(self, keep: bool) -> None:
        self._pending.pop(0)
        t = self._transport
        if t is None or t.is_closing():
            return
        t.write(self._ok[0] if keep else self._ok[1])
        if not keep:
            t.close()


def _response(body: bytes, content_type: str, keep: bool) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
    )
    return head.encode() + body


async def main(host: str, port: int, body: bytes, content_type: str, delay: float) -> None:
    loop = asyncio.get_running_loop()
    ok, ok_close = _response(body, content_type, True), _response(body, content_type, False)
    server = await loop.create_server(lambda: _Conn(loop, ok, ok_close, delay), host, port, backlog=4096,
                                      reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"mock_delay listening on http://{host}:{port} (delay {delay * 1000:.0f} ms)", flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--body", required=True, help="file whose bytes are the response body")
    ap.add_argument("--content-type", default="application/json")
    ap.add_argument("--delay", type=float, default=0.05, help="seconds before each response")
    a = ap.parse_args()
    with open(a.body, "rb") as f:
        payload = f.read()
    uvloop.run(main(a.host, a.port, payload, a.content_type, a.delay))
