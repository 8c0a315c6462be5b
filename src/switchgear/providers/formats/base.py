"""What every wire-format module provides, and the values they exchange.

A wire-format module (``openai_chat``, ``anthropic_messages``, ``gemini``,
``bedrock_converse``) is four pure functions and one incremental parser class:

    build_request(req: ChatRequest, target: Target) -> UpstreamRequest
    parse_response(body: bytes, target: Target) -> ChatResponse
    class StreamParser:            # incremental: bytes in, canonical events out
        def __init__(self, target: Target) -> None
        def feed(self, data: bytes) -> list[StreamEvent]
        def close(self) -> list[StreamEvent]   # end of body; a stream that ended
                                               # without its terminator yields StreamError
    parse_error(status: int, headers: Mapping[str, str], body: bytes) -> GatewayError

plus, for pass-through (client dialect == wire format) and metering:

    build_passthrough(raw: dict, target: Target, stream: bool) -> UpstreamRequest
    usage_from_response(body: bytes) -> Usage | None   # decodes only the usage object
    class PassthroughStream:       # forwards SSE events unchanged, watching them
        def feed(self, data: bytes) -> bytes     # what to forward to the client
        usage: Usage | None; finished: bool; error: GatewayError | None

and, where the format has them, ``build_embeddings_request`` /
``parse_embeddings_response``. No I/O: the transport sends what they build, so
they are tested with golden files. Translation re-runs from the unchanged
canonical request on every attempt.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Protocol

import msgspec

from switchgear.core.errors import GatewayError, UnsupportedParameter
from switchgear.core.types import OPTIONAL_PARAMS, ChatRequest, ChatResponse, StreamEvent

Policy = Literal["reject", "drop"]
ExtraPolicy = Literal["reject", "drop", "pass"]


class Target(msgspec.Struct, frozen=True, omit_defaults=True):
    """One deployment as a wire format sees it; built once when config loads."""

    provider: str  # provider name from config
    vendor: str  # catalog vendor id ("openai", "azure", "groq", "simulator" …)
    format: str  # wire format module name
    base_url: str  # scheme://host[:port][/prefix], no trailing slash
    model: str  # the upstream's model id (Azure: the deployment name)
    # Static headers sent on every request: auth (unless signed) and configured extras.
    headers: tuple[tuple[str, str], ...] = ()
    # Canonical params the client set that this vendor cannot honour: reject (400) or drop.
    unsupported_params: Policy = "reject"
    # Client fields with no canonical home (ChatRequest.extra): reject, drop or pass through.
    extra_params: ExtraPolicy = "reject"
    # Vendor renames of OpenAI body fields, e.g. {"max_tokens": "max_completion_tokens"}.
    renames: tuple[tuple[str, str], ...] = ()
    # Canonical params the vendor lacks although its wire format has them.
    unsupported: frozenset[str] = frozenset()
    # Format specific options: azure {"api_version": ..}, bedrock {"region": ..}.
    options: Mapping[str, Any] = {}


class UpstreamRequest(msgspec.Struct, omit_defaults=True):
    method: str
    path: str  # path and query, appended to the target's base_url
    headers: list[tuple[str, str]]
    body: bytes
    stream: bool = False


class WireFormat(Protocol):
    """The module-level shape of a wire format (for type checkers and the registry)."""

    name: str
    SUPPORTED: frozenset[str]

    def build_request(self, req: ChatRequest, target: Target) -> UpstreamRequest: ...
    def parse_response(self, body: bytes, target: Target) -> ChatResponse: ...
    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError: ...


class StreamParser(Protocol):
    def feed(self, data: bytes) -> list[StreamEvent]: ...
    def close(self) -> list[StreamEvent]: ...


_UNSET_DEFAULTS = {f: (False if f == "include_usage" else None) for f in OPTIONAL_PARAMS}


def check_params(req: ChatRequest, supported: frozenset[str], target: Target) -> tuple[set[str], dict[str, Any]]:
    """Apply the vendor's policy for parameters it cannot honour.

    Returns ``(dropped, extra)``: canonical fields the builder must leave out, and the
    client's unknown fields to pass through verbatim (empty unless the policy is
    "pass"). Raises UnsupportedParameter naming the first offending field when the
    policy is "reject" (the default): never a silent drop.
    """
    dropped: set[str] = set()
    blocked = target.unsupported
    for field in OPTIONAL_PARAMS:
        value = getattr(req, field)
        if value is None or value is False and field == "include_usage":
            continue
        if field in supported and field not in blocked:
            continue
        if field == "include_usage":
            dropped.add(field)  # usage is always asked for where possible; nothing to refuse
            continue
        if target.unsupported_params == "reject":
            raise UnsupportedParameter(
                f"parameter '{field}' is not supported by provider '{target.provider}' "
                f"({target.vendor}, {target.format} format)",
                param=field,
            )
        dropped.add(field)
    extra: dict[str, Any] = {}
    if req.extra:
        if target.extra_params == "reject":
            name = next(iter(req.extra))
            raise UnsupportedParameter(
                f"unknown parameter '{name}' is not accepted for provider '{target.provider}' "
                f"({target.vendor}); configure extra_params: pass or drop to allow it",
                param=name,
            )
        if target.extra_params == "pass":
            extra = req.extra
    return dropped, extra
