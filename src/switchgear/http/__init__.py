"""Client-facing HTTP/1.1 server (asyncio protocol + httptools)."""

from switchgear.http.server import (
    ClientDisconnected,
    Handler,
    HttpServer,
    Request,
    Responder,
    ServerLimits,
    start_server,
)

__all__ = [
    "ClientDisconnected",
    "Handler",
    "HttpServer",
    "Request",
    "Responder",
    "ServerLimits",
    "start_server",
]
