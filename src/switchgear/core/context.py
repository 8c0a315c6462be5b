"""Per-request state: one RequestContext travels through the pipeline.

Stage configuration is immutable and shared; everything that varies per request
lives here, in slots, so building one costs a single allocation.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from switchgear.core.errors import GatewayError
from switchgear.core.types import ChatRequest, Usage

# Request ids: a random per-process prefix and a counter (unique, and ~100x cheaper than uuid4).
_PREFIX = "req_" + os.urandom(6).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):08x}"


class RequestContext:
    __slots__ = (
        "request_id",
        "started",
        "endpoint",
        "headers",
        "responder",
        "client_ip",
        "body",
        "raw",
        "canonical",
        "model",
        "stream",
        "include_usage",
        "principal",
        "rule",
        "requirements",
        "team_id",
        "extra_headers",
        "cost_nano",
        "route",
        "upstream_model",
        "deployment",
        "attempts",
        "failures",
        "usage",
        "status",
        "error",
        "first_byte_at",
        "response_started",
        "state",
    )

    def __init__(self, endpoint: str, headers: dict[str, str], body: bytes, responder: Any) -> None:
        self.request_id = new_request_id()
        self.started = time.perf_counter()
        self.endpoint = endpoint  # "chat" | "messages" | "embeddings" | …
        self.headers = headers  # the client's request headers (lower-cased)
        self.body = body  # the client's request body, as received
        self.responder = responder  # http.server.Responder: how the answer goes out
        self.client_ip: str | None = None  # the socket peer (never X-Forwarded-For: spoofable)
        self.raw: dict[str, Any] | None = None  # the parsed client body, as sent
        self.canonical: ChatRequest | None = None  # built lazily: pass-through never needs it
        self.model = ""  # the model name the client asked for
        self.stream = False
        self.include_usage = False
        self.principal: Any = None  # who is calling (identity.principal.Principal)
        self.rule: str | None = None  # the grant that allowed the request (authorize), for the record
        self.requirements: Any = None  # placement requirements from the caller's key and grant
        self.team_id: str | None = None  # the team charged: the team whose grant allowed the request
        self.extra_headers: list[tuple[str, str]] | None = None  # added to the response (rate limits …)
        self.cost_nano: int | None = None  # what the request cost (nano-USD), set by meter; None: unpriced
        self.route: Any = None  # routing.ModelRoute
        self.upstream_model: str | None = None  # set by a wildcard route ("openai/*"): the model to ask for
        self.deployment: Any = None  # the deployment that answered (or was last tried)
        self.attempts = 0
        self.failures: list[tuple[str, str]] = []  # (deployment, error code) of failed attempts
        self.usage: Usage | None = None
        self.status = 0
        self.error: GatewayError | None = None
        self.first_byte_at = 0.0  # perf_counter when the first response byte went out
        self.response_started = False  # once True the status line is gone: errors go in-stream
        self.state: dict[str, Any] | None = None  # scratch space for stages, created on demand
