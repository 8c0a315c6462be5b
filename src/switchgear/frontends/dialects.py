"""The client dialects Switchgear speaks, as uniform objects the pipeline uses.

A dialect bundles its frontend module (client side) with the wire format of the
same name (provider side), which is what makes pass-through possible: when the
upstream speaks the client's dialect, bodies pass with only the model rewritten.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from switchgear.core.context import RequestContext
from switchgear.core.errors import GatewayError
from switchgear.core.types import ChatRequest, ChatResponse
from switchgear.frontends import anthropic_messages as anthropic_frontend
from switchgear.frontends import openai_chat as openai_frontend


class Dialect:
    __slots__ = ("name", "endpoint", "native_format", "frontend", "parse_body", "to_canonical",
                 "render_response", "render_error", "wants_usage", "raw_names", "must_translate", "_renderer",
                 "_passthrough", "_error_renderer")

    def __init__(
        self,
        name: str,
        endpoint: str,
        native_format: str,
        frontend: ModuleType,
        wants_usage: Callable[[dict[str, Any]], bool],
        renderer: Callable[[RequestContext], Any],
        passthrough: Callable[[ModuleType, RequestContext], Any],
        raw_names: dict[str, tuple[str, ...]],
        must_translate: Callable[[dict[str, Any]], bool] = lambda raw: False,
    ) -> None:
        self.name = name
        self.endpoint = endpoint  # metrics label
        self.native_format = native_format  # the wire format that needs no translation
        self.frontend = frontend
        self.parse_body: Callable[[bytes], dict[str, Any]] = frontend.parse_body
        self.to_canonical: Callable[[dict[str, Any]], ChatRequest] = frontend.to_canonical
        self.render_response: Callable[[ChatResponse, str], bytes] = frontend.render_response
        self.render_error: Callable[[GatewayError], tuple[int, list[tuple[str, str]], bytes]] = frontend.render_error
        self.wants_usage = wants_usage
        self._renderer = renderer
        self._passthrough = passthrough
        # Canonical parameter -> the body keys that carry it in this dialect.
        self.raw_names = raw_names
        # A body the native upstream would reject as sent (e.g. another vendor's
        # reasoning signature): translate it, which applies the canonical rules.
        self.must_translate = must_translate
        self._error_renderer = frontend.StreamRenderer("error")

    def stream_renderer(self, ctx: RequestContext) -> Any:
        return self._renderer(ctx)

    def passthrough_stream(self, fmt: ModuleType, ctx: RequestContext) -> Any:
        return self._passthrough(fmt, ctx)

    def stream_error_frame(self, err: GatewayError) -> bytes:
        """The terminal error event for a pass-through stream that broke after it started."""
        return self._error_renderer.error(err)

    def uses_any(self, raw: dict[str, Any], canonical: frozenset[str]) -> bool:
        """Did the client send any of these canonical parameters (under its own names)?"""
        for name in canonical:
            for key in self.raw_names.get(name, (name,)):
                if key in raw:
                    return True
        return False


def _openai_wants_usage(raw: dict[str, Any]) -> bool:
    opts = raw.get("stream_options")
    return isinstance(opts, dict) and opts.get("include_usage") is True


OPENAI = Dialect(
    "openai",
    "chat",
    "openai_chat",
    openai_frontend,
    _openai_wants_usage,
    lambda ctx: openai_frontend.StreamRenderer(ctx.model, ctx.include_usage),
    lambda fmt, ctx: fmt.PassthroughStream(client_wants_usage=ctx.include_usage),
    {
        "max_tokens": ("max_tokens", "max_completion_tokens"),
        "reasoning": ("reasoning_effort",),
        "include_usage": (),  # always asked for upstream: never a reason to translate
        "tools": ("tools", "functions"),
        "tool_choice": ("tool_choice", "function_call"),
        "top_k": (),  # no OpenAI field
    },
)

ANTHROPIC = Dialect(
    "anthropic",
    "messages",
    "anthropic_messages",
    anthropic_frontend,
    lambda raw: True,  # Anthropic streams always carry usage
    lambda ctx: anthropic_frontend.StreamRenderer(ctx.model),
    lambda fmt, ctx: fmt.PassthroughStream(),
    {
        "stop": ("stop_sequences",),
        "reasoning": ("thinking",),
        "user": ("metadata",),
        "include_usage": (),
        "response_format": ("output_config",),
    },
    anthropic_frontend.has_tagged_signature,
)
