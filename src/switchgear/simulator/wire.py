"""Values the wire modules hand to the server, and the state they share.

A wire module turns one parsed request into an ``Answer`` (a whole HTTP
response) or a ``Stream`` (headers plus frames the server paces and may cut),
or raises ``Reject``, which the same module renders in its vendor's error shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import msgspec

from switchgear.simulator.cache import PromptCache
from switchgear.simulator.config import SimulatorConfig
from switchgear.simulator.text import Ids

Headers = list[tuple[str, str]]


@dataclass(slots=True)
class Answer:
    status: int
    headers: Headers
    body: bytes
    tokens: int = 0  # generated tokens: a non-streamed answer waits as long as their stream would


@dataclass(slots=True)
class Frame:
    data: bytes
    tokens: int = 0  # content tokens this frame carries: drives first-token delay and pacing


@dataclass(slots=True)
class Stream:
    headers: Headers
    frames: list[Frame]
    status: int = 200


class Reject(Exception):
    """A request the vendor would refuse. ``type``/``code`` override the vendor's
    defaults for the status; ``extra`` carries vendor-specific fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.extra = extra or {}


@dataclass(slots=True)
class Route:
    format: str  # "openai" | "azure" | "anthropic" | "gemini" | "bedrock"
    endpoint: str  # e.g. "chat", "embeddings", "models", "messages", "generate", "converse"
    params: dict[str, str] = field(default_factory=dict)  # path parameters
    query: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Env:
    """Per-simulator state a wire module may use while answering."""

    config: Callable[[], SimulatorConfig]
    ids: Ids
    cache: PromptCache

    @staticmethod
    def now() -> int:
        return int(time.time())


def dumps(value: Any) -> bytes:
    return msgspec.json.encode(value)


def retry_after_header(seconds: float) -> str:
    return str(max(0, int(seconds + 0.999)))


def expect_object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
