"""Anthropic Messages wire format: Switchgear -> ``POST {base_url}/v1/messages``.

Faithful to the published Messages API (messages, streaming, extended and adaptive
thinking, tool use, structured outputs, errors) and to the ``anthropic`` SDK's types.

Translation decisions, all deliberate:

- ``system``/``developer`` messages are hoisted, in order, into the top-level ``system``
  array (text blocks, ``cache_control`` kept). With ``options.mid_conversation_system``
  a system message that directly follows a user turn stays in place as a
  ``{"role": "system"}`` message instead (Claude Opus 4.8 and later accept that there).
- Consecutive ``tool`` messages become one user message of ``tool_result`` blocks; a
  user message right after them is merged into it, after the results (Anthropic wants
  results first and merges consecutive user turns anyway).
- ``max_tokens`` is required by Anthropic: when the client gave none we send
  ``options.default_max_tokens`` (4096).
- Reasoning: by default the budget form ``thinking {type: enabled, budget_tokens}``;
  effort maps to a budget (minimal 1024, low 2048, medium 8192, high 24576), a budget
  below Anthropic's minimum of 1024 is raised to it, and because the budget must be
  below ``max_tokens`` we raise ``max_tokens`` to ``budget + max_tokens`` when needed
  (the answer keeps the room the client asked for). With ``options.thinking: adaptive``
  (models that reject the budget form, Opus 4.7 and later) we send
  ``thinking {type: adaptive}`` and ``output_config.effort`` instead.
- Signatures are tagged ``anthropic_messages:`` on the way in and untagged on the way
  out (core.signatures). Thinking parts without an Anthropic signature (unsigned, or
  signed by another vendor) are left out of assistant turns: Anthropic rejects
  unsigned or foreign-signed thinking blocks, and the text means nothing to Claude.
  Images given as ``data:`` URLs are sent as base64 sources.
- ``temperature``/``top_p``/``top_k`` were removed in API version 2026-10-21: when
  the target's ``anthropic-version`` header is that or newer they count as unsupported
  (the vendor's reject/drop policy applies).
- ``response_format`` json_schema -> ``output_config.format`` (structured outputs);
  json_object has no Anthropic equivalent: rejected, or dropped under a drop policy.

``Target.options`` read here: ``default_max_tokens`` (int), ``thinking``
("budget" | "adaptive"), ``mid_conversation_system`` (bool).

Modules: ``request`` (canonical -> body), ``messages`` (canonical messages -> content
blocks), ``response``, ``stream`` (translated streaming), ``passthrough`` (same dialect
in and out), ``errors``.
"""

from switchgear.providers.formats.anthropic_messages.errors import parse_error
from switchgear.providers.formats.anthropic_messages.passthrough import PassthroughStream, build_passthrough
from switchgear.providers.formats.anthropic_messages.request import (
    DEFAULT_MAX_TOKENS,
    PATH,
    SUPPORTED,
    build_request,
    supported_for,
)
from switchgear.providers.formats.anthropic_messages.response import (
    STOP_REASONS,
    parse_response,
    usage_from_body,
    usage_from_response,
)
from switchgear.providers.formats.anthropic_messages.stream import StreamParser
from switchgear.providers.formats.reasoning import EFFORT_BUDGET
from switchgear.providers.formats.reasoning import MIN_CLAUDE_BUDGET as MIN_THINKING_BUDGET

name = "anthropic_messages"

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "EFFORT_BUDGET",
    "MIN_THINKING_BUDGET",
    "PATH",
    "STOP_REASONS",
    "SUPPORTED",
    "PassthroughStream",
    "StreamParser",
    "build_passthrough",
    "build_request",
    "name",
    "parse_error",
    "parse_response",
    "supported_for",
    "usage_from_body",
    "usage_from_response",
]
