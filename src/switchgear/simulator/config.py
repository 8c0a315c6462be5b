"""Simulator settings and faults.

``SimulatorConfig`` is changed at runtime by ``POST /_sim/config`` (a partial
object: fields not given keep their value). A ``Fault`` is one scripted
misbehaviour, queued by ``POST /_sim/faults`` and consumed by the next API
request, or chosen by the model name (``trigger``), or drawn at random from the
configured rates.

Model-name triggers (matched anywhere in the model id, so
``anthropic.sim-fail-529-v1:0`` works on Bedrock and ``models/sim-hang`` on
Gemini):

    sim-fail-NNN        every request gets HTTP status NNN in the vendor's error shape
                        (429 also carries retry-after = config.retry_after_s)
    sim-context-length  the vendor's context-window error
    sim-drop            streams break after 3 events; non-streams close unanswered
    sim-stream-error    streams carry the vendor's mid-stream error event after 3 events
    sim-hang            never answers
    sim-reset           closes the connection without any response
    sim-malformed       200 with a body that is not valid JSON
    sim-slow            first token 1 s late
    sim-not-found       the vendor's unknown-model error (404)

Content modes that are not faults:

    sim-echo            the reply is exactly the last user text (trimmed to max tokens)
    sim-content-filter  the vendor's content-filter outcome (OpenAI finish_reason
                        content_filter, Azure 400 content_filter, Anthropic stop_reason
                        refusal, Gemini finishReason SAFETY, Bedrock content_filtered)
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

FaultKind = Literal[
    "status",
    "context_length",
    "drop",
    "stream_error",
    "hang",
    "slow_first_token",
    "reset",
    "malformed",
    "not_found",
]


class SimulatorConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    latency_ms: float = 0.0  # before the first byte of any answer
    first_token_ms: float = 0.0  # streams: after the headers, before the first content token
    tokens_per_second: float = 0.0  # stream pacing (non-streams wait the same total); 0 = no wait
    reply_tokens: int = 24  # natural length of a reply, before max_tokens / stop sequences
    error_rate: float = 0.0  # fraction of requests answered with a 500
    rate_limit_rate: float = 0.0  # fraction of requests answered with a 429
    retry_after_s: float = 1.0  # retry-after of random and trigger 429s
    drop_stream_rate: float = 0.0  # fraction of streams whose connection is cut mid-stream
    seed: int = 0  # seeds the random faults and the ids
    api_key: str | None = None  # when set, requests must carry it the vendor's way
    context_window: int = 128_000  # prompts above this get the vendor's context error
    cache_min_tokens: int = 1024  # automatic prompt caching threshold (OpenAI, Gemini)
    max_recorded_requests: int = 1000  # GET /_sim/requests keeps the newest N

    def __post_init__(self) -> None:
        for name in ("error_rate", "rate_limit_rate", "drop_stream_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.error_rate + self.rate_limit_rate > 1.0:
            raise ValueError("error_rate + rate_limit_rate must not exceed 1")
        for name in ("latency_ms", "first_token_ms", "tokens_per_second", "retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.reply_tokens < 1:
            raise ValueError("reply_tokens must be at least 1")
        if self.context_window < 1 or self.max_recorded_requests < 0 or self.cache_min_tokens < 0:
            raise ValueError("context_window must be positive; cache_min_tokens and max_recorded_requests not negative")

    @classmethod
    def demo(cls, **changes: object) -> SimulatorConfig:
        """Human-scale pacing for ``switchgear serve`` without provider keys."""
        return msgspec.structs.replace(
            cls(latency_ms=120.0, first_token_ms=250.0, tokens_per_second=60.0, reply_tokens=40), **changes
        )


class Fault(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """One misbehaviour, for one request:

    status            HTTP ``status`` in the vendor's error shape for that path; ``retry_after``
                      goes out the vendor's way (Retry-After header, Azure also retry-after-ms,
                      Gemini a RetryInfo detail, Bedrock nothing)
    context_length    the vendor's context-window error
    not_found         the vendor's unknown-model error
    drop              streams: ``after_events`` events, then the connection is cut (no
                      terminating chunk); non-streams: closed before any response
    stream_error      streams: ``after_events`` events, then the vendor's mid-stream error event
                      and a clean end; non-streams: as drop
    hang              never answers (until the client leaves or the simulator stops)
    slow_first_token  the first content token (non-streams: the answer) ``ms`` late
    reset             the connection is closed without any response
    malformed         200 with a body (or a stream event) that is not valid JSON; Bedrock
                      streams get a frame with a bad CRC
    """

    kind: FaultKind
    status: int = 500  # kind "status"
    retry_after: float | None = None  # kind "status": sent the vendor's way (header or RetryInfo)
    after_events: int = 3  # kinds "drop" and "stream_error"
    ms: float = 500.0  # kind "slow_first_token"

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        if self.after_events < 0 or self.ms < 0:
            raise ValueError("after_events and ms must not be negative")


class FaultScript(msgspec.Struct, forbid_unknown_fields=True):
    script: list[Fault]


_TRIGGER = re.compile(
    r"sim-(?:fail-(?P<status>[45]\d\d)|(?P<kind>context-length|drop|stream-error|hang|reset|malformed|slow|not-found))"
)


def trigger(model: str, retry_after_s: float) -> Fault | None:
    """The fault a model name asks for, if any (see the module docstring)."""
    if "sim-" not in model:
        return None
    m = _TRIGGER.search(model)
    if m is None:
        return None
    if m["status"]:
        status = int(m["status"])
        return Fault(kind="status", status=status, retry_after=retry_after_s if status == 429 else None)
    kind = m["kind"]
    if kind == "slow":
        return Fault(kind="slow_first_token", ms=1000.0)
    return Fault(kind=kind.replace("-", "_"))  # type: ignore[arg-type]


def content_mode(model: str) -> str | None:
    """``echo`` or ``content_filter`` when the model name asks for it."""
    if "sim-echo" in model:
        return "echo"
    if "sim-content-filter" in model:
        return "content_filter"
    return None
